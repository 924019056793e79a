"""matching: review queue, remembered rejections, trained models, split events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("merge_events") as batch:
        batch.add_column(sa.Column("action", sa.String(length=10), nullable=False,
                                   server_default="merge"))
    op.create_table(
        "match_candidates",
        sa.Column("id", ID, nullable=False),
        sa.Column("entity", sa.String(length=10), nullable=False),
        sa.Column("left_id", sa.Integer(), nullable=False),
        sa.Column("right_id", sa.Integer(), nullable=False),
        sa.Column("left_record_id", sa.Integer(), nullable=False),
        sa.Column("right_record_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("weight", sa.Double(), nullable=False),
        sa.Column("comparison", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_candidates")),
        sa.UniqueConstraint("entity", "left_record_id", "right_record_id",
                            name="uq_match_candidates_pair"),
    )
    op.create_index(op.f("ix_match_candidates_left_id"), "match_candidates", ["left_id"])
    op.create_index(op.f("ix_match_candidates_right_id"), "match_candidates", ["right_id"])
    op.create_index(op.f("ix_match_candidates_status"), "match_candidates", ["status"])
    op.create_table(
        "match_rejections",
        sa.Column("id", ID, nullable=False),
        sa.Column("entity", sa.String(length=10), nullable=False),
        sa.Column("record_a", sa.Integer(), nullable=False),
        sa.Column("record_b", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_rejections")),
        sa.UniqueConstraint("entity", "record_a", "record_b", name="uq_match_rejections_pair"),
    )
    op.create_index("ix_match_rejections_record_b", "match_rejections", ["record_b"])
    op.create_table(
        "match_models",
        sa.Column("id", ID, nullable=False),
        sa.Column("entity", sa.String(length=10), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_models")),
    )


def downgrade() -> None:
    op.drop_table("match_models")
    op.drop_index("ix_match_rejections_record_b", table_name="match_rejections")
    op.drop_table("match_rejections")
    op.drop_index(op.f("ix_match_candidates_status"), table_name="match_candidates")
    op.drop_index(op.f("ix_match_candidates_right_id"), table_name="match_candidates")
    op.drop_index(op.f("ix_match_candidates_left_id"), table_name="match_candidates")
    op.drop_table("match_candidates")
    with op.batch_alter_table("merge_events") as batch:
        batch.drop_column("action")
