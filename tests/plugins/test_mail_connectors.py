"""The two mail connectors side by side through the real core, on both engines: one person
seen in a Google address book and in Outlook mail is one contact, and a thread between
colleagues makes nobody a contact."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from hub.config import ConnectorConfig, HubConfig
from hub.connectors import Connector
from hub.ingest.pipeline import Pipeline
from hub.ingest.state import IngestStats
from hub.store.db import session_factory
from hub.store.model import Contact, ContactPoint, Interaction, InteractionContact
from hub.testing import FIXED_NOW
from tests.plugins.hub_gmail.conftest import connector as gmail_connector
from tests.plugins.hub_gmail.fake_google import FakeGoogle
from tests.plugins.hub_outlook.fake_graph import mocked
from tests.plugins.hub_outlook.test_outlook import connector as outlook_connector

WHEN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ingest(pipeline: Pipeline, source: Connector) -> IngestStats:
    total = IngestStats()
    for batch in source.sync(None):
        total.add(pipeline.ingest(ConnectorConfig(name=source.name, kind=source.kind), batch))
    return total


def live_contacts(engine: Engine) -> dict[int, set[str]]:
    with session_factory(engine)() as session:
        rows = session.execute(select(Contact.id, ContactPoint.value)
                               .join(ContactPoint, ContactPoint.contact_id == Contact.id)
                               .where(Contact.merged_into_id.is_(None),
                                      Contact.deleted_at.is_(None),
                                      ContactPoint.kind == "email")).all()
    found: dict[int, set[str]] = {}
    for contact_id, email in rows:
        found.setdefault(contact_id, set()).add(email)
    return found


def pipeline_on(engine: Engine) -> Pipeline:
    return Pipeline(engine, HubConfig.model_validate(
        {"hub": {"own_domains": ["acme.com", "acme.fr"]}}), clock=lambda: FIXED_NOW)


def test_the_same_person_in_gmail_contacts_and_outlook_mail_is_one_contact(
        engine: Engine) -> None:
    google = FakeGoogle()
    google.person("ann@acme.com", 1, "Lea Lead", "lea@lead.org")
    pipeline = pipeline_on(engine)
    assert ingest(pipeline, gmail_connector(google, messages=False)).contacts_created == 1
    for graph, _ in mocked():
        graph.message("ada@acme.fr", "Lea@Lead.org", ["ada@acme.fr"], subject="Quote?")
        graph.message("ada@acme.fr", "ada@acme.fr", ["lea@lead.org"], folder="sentitems",
                      subject="Re: Quote?")
        stats = ingest(pipeline, outlook_connector(contacts=False))
        assert stats.contacts_created == 0 and stats.interactions == 2
    assert list(live_contacts(engine).values()) == [{"lea@lead.org"}]
    with session_factory(engine)() as session:
        links = session.execute(select(Interaction.direction, InteractionContact.role)
                                .join(InteractionContact)).all()
    assert sorted(links) == [("inbound", "from"), ("outbound", "to")]


def test_a_thread_with_a_colleague_makes_no_contact_in_either_connector(
        engine: Engine) -> None:
    google = FakeGoogle()
    headers: dict[str, Any] = {"From": "Ben <ben@acme.com>", "To": "ann@acme.com",
                               "Subject": "Lunch?"}
    google.message("ann@acme.com", WHEN, **headers)
    google.message("ann@acme.com", WHEN, **{**headers, "From": "ann@acme.com",
                                            "To": "ben@acme.com", "Subject": "Re: Lunch?"})
    pipeline = pipeline_on(engine)
    gmail = ingest(pipeline, gmail_connector(google, contacts=False))
    for graph, _ in mocked():
        graph.message("ada@acme.fr", "bob@acme.fr", ["ada@acme.fr"], subject="Lunch?")
        outlook = ingest(pipeline, outlook_connector(contacts=False))
    assert gmail.skipped["message between colleagues only"] == 2
    assert outlook.skipped["message between colleagues only"] == 1
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 0
        assert session.scalar(select(func.count()).select_from(Interaction)) == 0
