"""Manual corrections: the `manual` source wins over connectors and survives re-syncs."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from hub.config import HubConfig
from hub.connectors import Batch
from hub.ingest.manual import ManualError, set_fields
from hub.ingest.pipeline import Pipeline
from hub.store.model import Contact
from tests.ingest_support import SRC, ada


@pytest.fixture
def pipeline(engine: Engine) -> Pipeline:
    return Pipeline(engine, HubConfig())


def test_manual_value_wins_and_survives_a_newer_sync(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([ada("Engineer")]))
    with pipeline.sessions.begin() as session:
        set_fields(session, 1, {"title": "Countess", "stage": "customer"}, pipeline.policy)
    pipeline.ingest(SRC, Batch([ada("Chief Engineer", day=20)]))
    with pipeline.sessions() as session:
        contact = session.get(Contact, 1)
        assert contact is not None
        assert contact.title == "Countess" and contact.stage == "customer"
        assert contact.provenance["title"]["connector"] == "manual"
        assert contact.provenance["title"]["rule"] == "manual correction"
        assert contact.provenance["full_name"]["connector"] == "src"


def test_unknown_field_or_contact_is_refused(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([ada("Engineer")]))
    with pipeline.sessions.begin() as session, pytest.raises(ManualError, match="unknown field"):
        set_fields(session, 1, {"shoe_size": "42"}, pipeline.policy)
    with pipeline.sessions.begin() as session, pytest.raises(ManualError, match="no live"):
        set_fields(session, 99, {"title": "x"}, pipeline.policy)
