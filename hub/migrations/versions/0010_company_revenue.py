"""company revenue: the annual revenue a company record, a contact's export or
``crmhub companies set`` gives, beside its headcount and industry, for routing rules

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("companies", sa.Column("revenue", sa.Double()))


def downgrade() -> None:
    with op.batch_alter_table("companies") as batch:
        batch.drop_column("revenue")
