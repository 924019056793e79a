"""match profile: the values matching compares, stored with each person record

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: records stored before this revision are read from `data` until they change.
    with op.batch_alter_table("source_records") as batch:
        batch.add_column(sa.Column("match_profile", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source_records") as batch:
        batch.drop_column("match_profile")
