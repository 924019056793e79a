"""family-name head keys: a typo late in the family name or in the postcode still blocks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 13:00:00

The phonetic family-name keys with the city and the birth date (``ph_city``, ``ph_dob``)
are replaced by the family name's first three letters with the city and the birth date
(``f3_city``, ``f3_dob``): NYSIIS changes with a typo anywhere in the name (morrison
MARASAN, morrisn MARASN), its head only with one in the first three letters. A new key,
birth date with city (``dob_city``), finds a record whose postcode has a typo. On FEBRL
without the identifier these keys find about half the true pairs that shared no key.

The keys of every stored person record are recomputed here from its normalised ``data``
(what the pipeline stored at ingest), so records stored before this revision are found by
new ones. The key functions are copied, not imported: a later change to
``hub.match.blocking`` must not change what this revision did. Capped keys of the two old
kinds (``shared_points``) go with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jellyfish
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KEY_MAX = 320
BATCH = 2000

_records = sa.table("source_records", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                    sa.column("contact_id", sa.Integer), sa.column("data", sa.JSON),
                    sa.column("deleted_at", sa.DateTime))
_keys = sa.table("match_keys", sa.column("contact_id", sa.Integer),
                 sa.column("source_record_id", sa.Integer), sa.column("kind", sa.String),
                 sa.column("key", sa.String), sa.column("given", sa.String))
_capped = sa.table("shared_points", sa.column("kind", sa.String))
Key = tuple[str, str, bool]  # kind, key, whether it holds the family name


def _address(data: dict[str, Any], field: str) -> str:
    return str((data.get("address") or {}).get(field) or "")


def _family(data: dict[str, Any]) -> str:
    return str(data.get("family_key") or "")


def _phonetic(family: str) -> str:
    word = "".join(ch for ch in family.split(" ")[0] if ch.isalpha())
    return str(jellyfish.nysiis(word)) if word else ""


def _new_keys(data: dict[str, Any]) -> list[Key]:
    """The keys this revision adds."""
    family, birthday = _family(data), str(data.get("birthday") or "")
    city = " ".join(_address(data, "city").lower().split())
    keys: list[Key] = []
    if family and city:
        keys.append(("f3_city", f"{family[:3]}|{city}", True))
    if family and birthday:
        keys.append(("f3_dob", f"{family[:3]}|{birthday}", True))
    if birthday and city:
        keys.append(("dob_city", f"{birthday}|{city}", False))
    return keys


def _old_keys(data: dict[str, Any]) -> list[Key]:
    """The keys this revision removes."""
    code, birthday = _phonetic(_family(data)), str(data.get("birthday") or "")
    city = " ".join(_address(data, "city").lower().split())
    return [(kind, f"{code}|{value}", True)
            for kind, value in (("ph_city", city), ("ph_dob", birthday)) if code and value]


def _person_records(connection: sa.Connection) -> Iterator[Sequence[sa.Row[Any, Any, Any]]]:
    """Live person records with a contact, a batch at a time (keyset, so memory stays flat)."""
    last = 0
    while True:
        rows = connection.execute(
            sa.select(_records.c.id, _records.c.contact_id, _records.c.data)
            .where(_records.c.id > last, _records.c.kind == "person",
                   _records.c.contact_id.is_not(None), _records.c.deleted_at.is_(None))
            .order_by(_records.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _replace(remove: tuple[str, ...], add: Callable[[dict[str, Any]], list[Key]]) -> None:
    connection = op.get_bind()
    connection.execute(sa.delete(_keys).where(_keys.c.kind.in_(remove)))
    connection.execute(sa.delete(_capped).where(_capped.c.kind.in_(remove)))
    for rows in _person_records(connection):
        values = []
        for row in rows:
            data = row.data or {}
            given = str(data.get("given_key") or "")
            seen: set[tuple[str, str]] = set()
            for kind, key, family in add(data):
                if (kind, key[:KEY_MAX]) in seen:
                    continue
                seen.add((kind, key[:KEY_MAX]))
                values.append({"contact_id": row.contact_id, "source_record_id": row.id,
                               "kind": kind, "key": key[:KEY_MAX],
                               "given": given if family and len(given) <= KEY_MAX else None})
        if values:
            connection.execute(sa.insert(_keys), values)


def upgrade() -> None:
    _replace(("ph_city", "ph_dob"), _new_keys)


def downgrade() -> None:
    _replace(("f3_city", "f3_dob", "dob_city"), _old_keys)
