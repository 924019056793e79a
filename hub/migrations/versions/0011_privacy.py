"""privacy: erasures, suppressed identifiers, opt-out and consent per contact point, and
the last run of housekeeping tasks

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:00:00

``crmhub person forget`` logs each erasure (without personal data) and keeps salted
hashes of the erased person's identifiers, so that the next sync drops them at ingest.
Opt-out and consent are kept per contact point and source; retention records its last run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    op.create_table(
        "suppressions",
        sa.Column("id", ID, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("erasure_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["erasure_id"], ["erasures.id"],
                                name=op.f("fk_suppressions_erasure_id_erasures")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("digest", name=op.f("uq_suppressions_digest")),
    )
    op.create_index(op.f("ix_suppressions_erasure_id"), "suppressions", ["erasure_id"])
    op.create_table(
        "point_preferences",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_point_preferences")),
        sa.UniqueConstraint("kind", "value", "source",
                            name="uq_point_preferences_point_source"),
    )
    op.create_table(
        "housekeeping",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_run", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_housekeeping")),
    )


def downgrade() -> None:
    op.drop_table("housekeeping")
    op.drop_table("point_preferences")
    op.drop_index(op.f("ix_suppressions_erasure_id"), table_name="suppressions")
    op.drop_table("suppressions")
    op.drop_table("erasures")
