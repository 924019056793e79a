"""``raw_retention_days``: raw source payloads, quarantined input and old events are not
kept forever; ``interaction_retention_days`` (unset: kept) deletes old interactions.

The normalised data a golden record is built from stays; only the verbatim payload kept
for provenance (``source_records.raw``), quarantine items, and outbox events with their
sink deliveries older than the retention are dropped. An event is kept while a sink
delivery of it is still pending, and while ``crmhub_on_event`` plugins have not taken it.
Interactions (mail, calls, meetings) that occurred before ``interaction_retention_days``
go with their links to contacts and their source records; the contacts stay. The daemon
runs both hourly, ``crmhub retention run`` on demand; each run is recorded for ``crmhub
status``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from hub.routing.model import SinkDelivery
from hub.store.db import chunks
from hub.store.model import (
    Housekeeping,
    Interaction,
    InteractionContact,
    OutboxEvent,
    QuarantineItem,
    SourceRecord,
)

RETENTION = "retention"  # the housekeeping row of the last retention run


@dataclass(frozen=True)
class Purged:
    raw_payloads: int
    quarantine_items: int
    events: int = 0
    interactions: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def purge_interactions(session: Session, days: int, now: datetime) -> int:
    """Delete interactions that occurred more than ``days`` ago, with their contact links
    and their source records (a re-read of an old message stores it again, then the next
    run deletes it again: set the connector's own horizon to match)."""
    cutoff = now - timedelta(days=days)
    rows = session.execute(select(Interaction.id, Interaction.connector,
                                  Interaction.external_id)
                           .where(Interaction.occurred_at < cutoff)).all()
    for chunk in chunks(rows):
        ids = [row.id for row in chunk]
        session.execute(delete(InteractionContact)
                        .where(InteractionContact.interaction_id.in_(ids)))
        by_connector: dict[str, list[str]] = {}
        for row in chunk:
            by_connector.setdefault(row.connector, []).append(row.external_id)
        for connector, external_ids in by_connector.items():
            session.execute(delete(SourceRecord).where(
                SourceRecord.kind == "interaction", SourceRecord.connector == connector,
                SourceRecord.external_id.in_(external_ids)))
        session.execute(delete(Interaction).where(Interaction.id.in_(ids)))
    return len(rows)


def run_retention(session: Session, raw_days: int, interaction_days: int | None,
                  now: datetime, *, event_plugins: bool = False,
                  record: bool = True) -> Purged:
    """Both purges, recorded as the last retention run unless ``record`` is off (a dry run
    rolls the transaction back anyway)."""
    purged = purge_expired(session, raw_days, now, event_plugins=event_plugins)
    interactions = purge_interactions(session, interaction_days, now) \
        if interaction_days is not None else 0
    result = Purged(purged.raw_payloads, purged.quarantine_items, purged.events, interactions)
    if record:
        row = session.get(Housekeeping, RETENTION)
        if row is None:
            session.add(Housekeeping(name=RETENTION, last_run=now, result=result.as_dict()))
        else:
            row.last_run, row.result = now, result.as_dict()
    return result


def last_run(session: Session) -> dict[str, Any] | None:
    """When retention last ran and what it purged (``crmhub status``)."""
    row = session.get(Housekeeping, RETENTION)
    return None if row is None else {"at": row.last_run.isoformat(), **row.result}
