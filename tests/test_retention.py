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
