"""Retention (hub.service.retention): old raw payloads and quarantine items go, data stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from hub.config import HubConfig
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.records import Observation
from hub.service.retention import purge_expired
from hub.store.model import QuarantineItem, SourceRecord
from tests.ingest_support import SRC, ada

ADA = ada()


@pytest.fixture
def pipeline(engine: Engine) -> Pipeline:
    return Pipeline(engine, HubConfig())


def test_retention_drops_old_raw_payloads_and_quarantine_but_keeps_data(
        pipeline: Pipeline) -> None:
    old = ADA.model_copy(update={"raw": {"Title": "Engineer"}})
    pipeline.ingest(SRC, Batch([old, Observation(
        kind="person", external_id="bad", observed_at=datetime(2026, 1, 5, tzinfo=UTC),
        person={"title": "nobody"})]))
    with pipeline.sessions.begin() as session:
        purged = purge_expired(session, 30, datetime(2026, 6, 1, tzinfo=UTC))
    assert (purged.raw_payloads, purged.quarantine_items) == (1, 0)
    with pipeline.sessions.begin() as session:
        record = session.scalars(select(SourceRecord)).one()
        assert record.raw is None and record.data["title"] == "Engineer"
        # Quarantined "now" (the pipeline's clock): expired once 30 days have passed.
        later = datetime.now(UTC) + timedelta(days=31)
        assert purge_expired(session, 30, later).quarantine_items == 1
        assert session.scalars(select(QuarantineItem)).all() == []


def test_old_events_go_with_their_deliveries_unless_one_is_pending_or_untaken(
        pipeline: Pipeline) -> None:
    from hub.routing.model import SinkDelivery
    from hub.store.model import OutboxEvent

    old, new = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 5, 30, tzinfo=UTC)
    with pipeline.sessions.begin() as session:
        events = [OutboxEvent(type="contact.created", created_at=at, dispatched_at=done)
                  for at, done in ((old, old), (old, None), (old, old), (old, old), (new, new))]
        session.add_all(events)
        session.flush()
        session.add_all([
            SinkDelivery(event_id=events[2].id, sink="crm", status="pending", created_at=old),
            SinkDelivery(event_id=events[3].id, sink="crm", status="delivered",
                         created_at=old, delivered_at=old)])
        ids = [e.id for e in events]
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with pipeline.sessions.begin() as session:
        # crmhub_on_event plugins installed: the event they have not taken stays too
        assert purge_expired(session, 30, now, event_plugins=True).events == 2
        assert set(session.scalars(select(OutboxEvent.id))) == {ids[1], ids[2], ids[4]}
        assert purge_expired(session, 30, now).events == 1  # no such plugin: it goes
        assert set(session.scalars(select(OutboxEvent.id))) == {ids[2], ids[4]}
        assert [d.event_id for d in session.scalars(select(SinkDelivery))] == [ids[2]]
