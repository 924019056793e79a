"""Manual corrections: the `manual` source wins over connectors and survives re-syncs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from hub.config import ConnectorConfig, HubConfig
from hub.connectors import Batch
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
