"""match keys clustered on (kind, key, record): lookups read one place, one index less

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:00:00

``match_keys`` loses its surrogate ``id``: the primary key becomes (kind, key,
source_record_id), which is what every lookup asks for. SQLite stores the table WITHOUT
ROWID, clustered on that key, so a lookup finds each match's contact and given name beside
the key instead of fetching a row by id, and each stored key costs three B-tree inserts
instead of four. PostgreSQL keeps its heap; the primary key replaces both the id index
and ``ix_match_keys_kind_key``. A key stored twice for one record (two long keys equal
once cut to 320 characters) is kept once.

``ix_match_keys_contact_id`` goes too: a key's contact is always its record's, and merges
move keys by source record, so nothing looks keys up by contact (one B-tree insert less
per stored key).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _columns(with_id: bool) -> list[sa.schema.SchemaItem]:
    return [
        *([sa.Column("id", _ID, nullable=False)] if with_id else []),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("source_record_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("given", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                                name="fk_match_keys_contact_id_contacts", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_record_id"], ["source_records.id"],
                                name="fk_match_keys_source_record_id_source_records",
                                ondelete="CASCADE"),
    ]


def _rebuild_sqlite(with_id: bool) -> None:
    """SQLite cannot change a primary key in place: a new table, the rows, a rename."""
    op.create_table(
        "match_keys_new", *_columns(with_id),
        sa.PrimaryKeyConstraint(*(("id",) if with_id else ("kind", "key", "source_record_id")),
                                name="pk_match_keys"),
        sqlite_with_rowid=with_id)
    names = "contact_id, source_record_id, kind, key, given"
    if with_id:
        op.execute(f"INSERT INTO match_keys_new (id, {names}) SELECT row_number() OVER "
                   f"(ORDER BY source_record_id, kind, key), {names} FROM match_keys")
    else:
        op.execute(f"INSERT OR IGNORE INTO match_keys_new ({names}) SELECT {names} "
                   "FROM match_keys ORDER BY kind, key, source_record_id")
    op.drop_table("match_keys")
    op.rename_table("match_keys_new", "match_keys")
    op.create_index("ix_match_keys_source_record_id", "match_keys", ["source_record_id"])
    if with_id:
        op.create_index("ix_match_keys_contact_id", "match_keys", ["contact_id"])
        op.create_index("ix_match_keys_kind_key", "match_keys", ["kind", "key"])


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(with_id=False)
        return
    op.execute("DELETE FROM match_keys a USING match_keys b WHERE a.kind = b.kind "
               "AND a.key = b.key AND a.source_record_id = b.source_record_id AND a.id > b.id")
    op.drop_constraint("pk_match_keys", "match_keys", type_="primary")
    op.drop_column("match_keys", "id")
    op.create_primary_key("pk_match_keys", "match_keys", ["kind", "key", "source_record_id"])
    op.drop_index("ix_match_keys_kind_key", table_name="match_keys")
    op.drop_index("ix_match_keys_contact_id", table_name="match_keys")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(with_id=True)
        return
    op.create_index("ix_match_keys_kind_key", "match_keys", ["kind", "key"])
    op.create_index("ix_match_keys_contact_id", "match_keys", ["contact_id"])
    op.drop_constraint("pk_match_keys", "match_keys", type_="primary")
    op.add_column("match_keys", sa.Column("id", _ID, sa.Identity(), nullable=False))
    op.create_primary_key("pk_match_keys", "match_keys", ["id"])
