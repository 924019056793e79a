"""``raw_retention_days``: raw source payloads and quarantined input are not kept forever.

The normalised data a golden record is built from stays; only the verbatim payload kept
for provenance (``source_records.raw``) and quarantine items older than the retention are
dropped. The daemon runs this hourly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from hub.store.model import QuarantineItem, SourceRecord


@dataclass(frozen=True)
class Purged:
    raw_payloads: int
    quarantine_items: int


def purge_expired(session: Session, days: int, now: datetime) -> Purged:
    cutoff = now - timedelta(days=days)
    raw = session.execute(update(SourceRecord).where(
        SourceRecord.observed_at < cutoff, SourceRecord.raw.is_not(None))
        .values(raw=None))
    items = session.execute(delete(QuarantineItem).where(QuarantineItem.created_at < cutoff))
    return Purged(raw.rowcount or 0, items.rowcount or 0)  # type: ignore[attr-defined]
