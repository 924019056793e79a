"""Manual corrections: the `manual` source wins over connectors and survives re-syncs."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from hub.config import ConnectorConfig, HubConfig
from hub.connectors import Batch
from hub.export import export_contacts, write_csv
from hub.ingest.manual import ManualError, set_fields
from hub.ingest.pipeline import Pipeline
from hub.records import Observation
from hub.store.model import Contact

SRC = ConnectorConfig(name="src", kind="csv")


def observation(title: str, day: int = 5) -> Observation:
    return Observation(kind="person", external_id="1",
                       observed_at=datetime(2026, 1, day, tzinfo=UTC),
                       person={"full_name": "Ada Lovelace", "title": title,
                               "emails": [{"value": "ada@example.com", "label": "work"}],
                               "company": {"name": "Analytical Engines Ltd"}})


@pytest.fixture
def pipeline(engine: Engine) -> Pipeline:
    return Pipeline(engine, HubConfig())


def test_manual_value_wins_and_survives_a_newer_sync(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([observation("Engineer")]))
    with pipeline.sessions.begin() as session:
        set_fields(session, 1, {"title": "Countess", "stage": "customer"}, pipeline.policy)
    pipeline.ingest(SRC, Batch([observation("Chief Engineer", day=20)]))
    with pipeline.sessions() as session:
        contact = session.get(Contact, 1)
        assert contact is not None
        assert contact.title == "Countess" and contact.stage == "customer"
        assert contact.provenance["title"]["connector"] == "manual"
        assert contact.provenance["title"]["rule"] == "manual correction"
        assert contact.provenance["full_name"]["connector"] == "src"


def test_unknown_field_or_contact_is_refused(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([observation("Engineer")]))
    with pipeline.sessions.begin() as session, pytest.raises(ManualError, match="unknown field"):
        set_fields(session, 1, {"shoe_size": "42"}, pipeline.policy)
    with pipeline.sessions.begin() as session, pytest.raises(ManualError, match="no live"):
        set_fields(session, 99, {"title": "x"}, pipeline.policy)


def test_csv_export_flattens_the_export_keys(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([observation("Engineer")]))
    out = io.StringIO()
    with pipeline.sessions() as session:
        assert write_csv(export_contacts(session), out) == 1
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["full_name"] == "Ada Lovelace"
    assert row["emails"] == "ada@example.com"
    assert row["company.name"] == "Analytical Engines Ltd"
    assert row["sources"] == "src:1"
    assert row["interactions.count"] == "0"


def test_retention_drops_old_raw_payloads_and_quarantine_but_keeps_data(
        pipeline: Pipeline) -> None:
    from sqlalchemy import select

    from hub.service.retention import purge_expired
    from hub.store.model import QuarantineItem, SourceRecord

    old = observation("Engineer").model_copy(update={"raw": {"Title": "Engineer"}})
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
