"""match key given name: namesakes are dropped before their records are loaded

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: keys stored before this revision are pruned after loading, as before.
    with op.batch_alter_table("match_keys") as batch:
        batch.add_column(sa.Column("given", sa.String(320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("match_keys") as batch:
        batch.drop_column("given")
