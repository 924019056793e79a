"""``raw_retention_days``: raw source payloads, quarantined input and old events are not
kept forever.

The normalised data a golden record is built from stays; only the verbatim payload kept
for provenance (``source_records.raw``), quarantine items, and outbox events with their
sink deliveries older than the retention are dropped. An event is kept while a sink
delivery of it is still pending, and while ``crmhub_on_event`` plugins have not taken it.
The daemon runs this hourly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from hub.routing.model import SinkDelivery
from hub.store.db import chunks
from hub.store.model import OutboxEvent, QuarantineItem, SourceRecord


@dataclass(frozen=True)
class Purged:
    raw_payloads: int
    quarantine_items: int
    events: int = 0


def purge_expired(session: Session, days: int, now: datetime, *,
                  event_plugins: bool = False) -> Purged:
    """Drop what is older than ``days``. ``event_plugins``: ``crmhub_on_event`` plugins are
    installed, so an event they have not taken yet (``dispatched_at`` unset) stays."""
    cutoff = now - timedelta(days=days)
    raw = session.execute(update(SourceRecord).where(
        SourceRecord.observed_at < cutoff, SourceRecord.raw.is_not(None))
        .values(raw=None))
    items = session.execute(delete(QuarantineItem).where(QuarantineItem.created_at < cutoff))
    pending = exists(select(SinkDelivery.id).where(SinkDelivery.event_id == OutboxEvent.id,
                                                   SinkDelivery.status == "pending"))
    old_events = select(OutboxEvent.id).where(OutboxEvent.created_at < cutoff, ~pending)
    if event_plugins:
        old_events = old_events.where(OutboxEvent.dispatched_at.is_not(None))
    ids = list(session.scalars(old_events))
    for chunk in chunks(ids):  # their deliveries first: no cascade needed on either engine
        session.execute(delete(SinkDelivery).where(SinkDelivery.event_id.in_(chunk)))
        session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(chunk)))
    return Purged(raw.rowcount or 0, items.rowcount or 0,  # type: ignore[attr-defined]
                  len(ids))
