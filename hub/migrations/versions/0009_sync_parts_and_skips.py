"""sync parts, skips and warnings: per-mailbox errors, what a connector chose not to
store, and what a run that did not fail asks an admin to look at

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 17:30:00

``sync_state.parts`` holds, per part of a source that syncs on its own (a mail
connector's mailboxes), its last error and since when it fails, or when it last synced.
``sync_state.skipped_total`` counts, by reason, what runs read and did not store or did
not make a contact of (a mailing list's message, a colleague, a no-reply address).
``sync_state.warning`` holds the last successful run's warnings (a file with a header
and no rows, a run that quarantined every row): ok, with a warning.
``source_records.joined`` keeps the score that placed a person record with others (its
probability, weight and per-field levels), which ``crmhub contacts explain`` shows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_state") as batch:
        batch.add_column(sa.Column("parts", sa.JSON()))
        batch.add_column(sa.Column("skipped_total", sa.JSON()))
        batch.add_column(sa.Column("warning", sa.Text()))
    # A plain ALTER TABLE on both engines: under a batch operation on SQLite, the migration
    # tests saw the match keys of existing records disappear.
    op.add_column("source_records", sa.Column("joined", sa.JSON()))


def downgrade() -> None:
    op.drop_column("source_records", "joined")
    with op.batch_alter_table("sync_state") as batch:
        batch.drop_column("warning")
        batch.drop_column("skipped_total")
        batch.drop_column("parts")
