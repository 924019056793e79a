"""sync run counters: what /metrics reports per connector, kept across restarts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 15:00:00

Each finished run adds to its connector's counters in ``sync_state``: runs and failed
runs, seconds spent, records received, stored (new, changed or deleted) and quarantined.
Prometheus reads them as counters (``crmhub_sync_runs_total``...), so they survive a
daemon restart instead of falling back to zero.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COUNTERS = ("runs_total", "failures_total", "received_total", "stored_total",
            "quarantined_total")


def upgrade() -> None:
    with op.batch_alter_table("sync_state") as batch:
        for name in COUNTERS:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=False,
                                       server_default="0"))
        batch.add_column(sa.Column("run_seconds_total", sa.Float(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("last_run_seconds", sa.Float()))


def downgrade() -> None:
    with op.batch_alter_table("sync_state") as batch:
        for name in (*COUNTERS, "run_seconds_total", "last_run_seconds"):
            batch.drop_column(name)
