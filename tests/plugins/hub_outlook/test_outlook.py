"""outlook: Microsoft Graph and MSAL mocked with `responses` in their real shapes (see
fake_graph.py): delta rounds, resets, throttling, refusals, mail policy, and the core on
SQLite for what a run leaves in the store."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from hub.config import ConnectorConfig, HubConfig, HubSection
from hub.connectors import Batch, FatalError, RetriableError
from hub.http import HttpClient
from hub.ingest.pipeline import Pipeline
from hub.records import Observation
from hub.sources.mail import NOT_INBOUND, OUR_MAILBOX, SKIP_INTERNAL
from hub.store.db import make_engine, session_factory, upgrade
from hub.store.model import Interaction, QuarantineItem, SourceRecord
from hub.testing import FIXED_NOW, ConnectorContract, ConnectorFactory, make_context
from hub_outlook import OutlookConnector, OutlookSettings, crmhub_register_connectors
from hub_outlook.connector import SKIP_REMOVED
from tests.plugins.hub_outlook.fake_graph import (
    ACCESS_TOKEN,
    CLIENT,
    TENANT,
    FakeGraph,
    error,
    mocked,
)

ADA = "ada@acme.fr"
BOB = "bob@acme.fr"
SECRET = "s3cret-value"


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    for fake, _ in mocked():
        yield fake


def connector(*, http: HttpClient | None = None, own_domains: tuple[str, ...] = ("acme.fr",),
              **settings: Any) -> OutlookConnector:
    values = {"tenant_id": TENANT, "client_id": CLIENT,
              "client_secret": {"env": "GRAPH_SECRET"}, "mailboxes": [ADA], "page_size": 2,
              "contact_folders": ["default"], **settings}
    context = dataclasses.replace(make_context(secrets={"GRAPH_SECRET": SECRET}, http=http),
                                  own_domains=frozenset(own_domains))
    return OutlookConnector("outlook", OutlookSettings.model_validate(values), context)


def run(source: OutlookConnector, cursor: dict[str, Any] | None = None, *,
        full: bool = False) -> list[Batch]:
    return list(source.sync(cursor, full=full))


def observations(batches: list[Batch]) -> list[Observation]:
    return [o for b in batches for o in b.observations]


def queries(fake: FakeGraph, fragment: str) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(str(r.url)).query) for r in fake.requests
            if fragment in str(r.url)]


class Store:
    """The real core on a throwaway SQLite database."""

    def __init__(self, tmp_path: Path, name: str = "crmhub.db") -> None:
        self.engine: Engine = make_engine(f"sqlite:///{tmp_path / name}")
        upgrade(self.engine)
        self.pipeline = Pipeline(self.engine, HubConfig(hub=HubSection(own_domains=["acme.fr"])),
                                 clock=lambda: FIXED_NOW)
        self.config = ConnectorConfig(name="outlook", kind="outlook")

    def ingest(self, batches: list[Batch]) -> None:
        for batch in batches:
            self.pipeline.ingest(self.config, batch, allow_deletes=True)

    def records(self) -> dict[str, bool]:
        """external id -> deleted, of this connector's records."""
        with session_factory(self.engine)() as session:
            rows = session.execute(select(SourceRecord.external_id, SourceRecord.deleted_at)
                                   .where(SourceRecord.connector == "outlook"))
            return {external_id: deleted is not None for external_id, deleted in rows}


def test_the_plugin_registers_the_outlook_kind() -> None:
    assert crmhub_register_connectors() == [OutlookConnector]
    assert OutlookConnector.kind == "outlook"


def test_settings_take_a_client_secret_or_a_certificate_never_both_nor_neither() -> None:
    base = {"tenant_id": TENANT, "client_id": CLIENT, "mailboxes": [ADA]}
    cert = {"certificate_key": {"env": "KEY"}, "certificate_thumbprint": "AB12"}
    OutlookSettings.model_validate({**base, **cert})
    for wrong in ({}, {"client_secret": {"env": "S"}, **cert},
                  {"certificate_key": {"env": "KEY"}}):
        with pytest.raises(ValidationError, match=r"client_secret|certificate"):
            OutlookSettings.model_validate({**base, **wrong})


def test_a_first_sync_pages_contacts_and_messages_to_their_delta_links(
        graph: FakeGraph) -> None:
    ada = graph.contact(ADA, "Zoé", "Martin", "zoe@client.com", companyName="Client SA",
                        jobTitle="Buyer", businessPhones=["+33 1 23 45 67 89"],
                        mobilePhone="+33 6 12 34 56 78", birthday="1990-05-01T11:59:00Z",
                        businessAddress={"street": "1 rue de la Paix", "city": "Paris",
                                         "state": "IDF", "countryOrRegion": "France",
                                         "postalCode": "75002"})
    graph.contact(ADA, "Yann", "Le Goff", "yann@client.com")
    graph.contact(ADA, "Léa", "Roux", "lea@other.org")
    graph.folders[ADA] = {"FOLDER1=": "Clients"}
    graph.contact(ADA, "Sam", "Folder", "sam@client.com", folder="FOLDER1=")
    for n in range(3):
        graph.message(ADA, f"p{n}@client.com", [ADA], when=f"2025-12-0{n + 1}T09:00:00Z")
    graph.message(ADA, "old@client.com", [ADA], when="2024-06-01T09:00:00Z")  # out of window
    graph.message(ADA, ADA, ["zoe@client.com"], folder="sentitems")

    batches = run(connector(contact_folders="all"))

    found = observations(batches)
    people = {o.external_id: o.person for o in found if o.kind == "person"}
    assert len(people) == 4 and f"{ADA}/{ada}" in people
    zoe = people[f"{ADA}/{ada}"]
    assert zoe is not None
    assert (zoe.given_name, zoe.family_name, zoe.full_name, zoe.title) == (
        "Zoé", "Martin", "Zoé Martin", "Buyer")
    assert [e.value for e in zoe.emails] == ["zoe@client.com"]
    assert [(p.value, p.label) for p in zoe.phones] == [("+33 1 23 45 67 89", "work"),
                                                        ("+33 6 12 34 56 78", "mobile")]
    assert zoe.company is not None and zoe.company.name == "Client SA"
    assert zoe.address is not None and (zoe.address.city, zoe.address.country,
                                        zoe.address.postcode) == ("Paris", "France", "75002")
    assert zoe.birthday == "1990-05-01"
    mails = [o for o in found if o.kind == "interaction"]
    assert len(mails) == 4  # the message older than window_days is not read
    # each contact folder is a snapshot: one token, ended on its last page
    default = [b for b in batches if b.scope == f"contacts:{ADA}/default"]
    assert len(default) == 2 and len({b.token for b in default}) == 1
    assert default[-1].snapshot_end is not None and default[0].snapshot_end is None
    assert default[-1].snapshot_end.token == default[0].token
    assert any(b.scope == f"contacts:{ADA}/FOLDER1=" and b.snapshot_end for b in batches)
    # the cursor keeps every folder's whole delta link
    state = batches[-1].cursor["mailboxes"][ADA]  # type: ignore[index]
    assert set(state["contacts"]) == {"default", "FOLDER1="}
    assert all("$deltatoken=" in f["delta"] for f in state["contacts"].values())
    assert set(state["messages"]) == {"inbox", "sentitems"}
    assert batches[-1].parts == {ADA: None}
    first = queries(graph, "/mailFolders/inbox/messages/delta")[0]
    assert first["$filter"] == ["receivedDateTime ge 2025-01-01T00:00:00Z"]
    assert "internetMessageId" in first["$select"][0]
    assert len(queries(graph, "/mailFolders/inbox/messages/delta")) == 2  # 3 messages, 2 a page
    request = graph.requests[0]
    assert request.headers["Prefer"] == "odata.maxpagesize=2"
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert graph.token_calls == 1  # MSAL's cache serves every later request


def test_the_next_sync_reads_only_the_changes_from_the_stored_delta_links(
        graph: FakeGraph) -> None:
    ada = graph.contact(ADA, "Ada", "Lovelace", "ada@client.com")
    graph.contact(ADA, "Alan", "Turing", "alan@client.com")
    graph.message(ADA, "p@client.com", [ADA])
    first = run(connector())
    snapshot = next(b.token for b in first if b.scope)
    cursor = first[-1].cursor

    item = dict(graph.items[(ADA, "contacts:default")][ada][1] or {}, jobTitle="Countess")
    graph.put(ADA, "contacts:default", item)
    new = graph.contact(ADA, "Grace", "Hopper", "grace@client.com")
    graph.message(ADA, "q@client.com", [ADA], subject="Again")

    batches = run(connector(), cursor)
    found = observations(batches)
    assert sorted(o.external_id for o in found if o.kind == "person") == sorted(
        [f"{ADA}/{ada}", f"{ADA}/{new}"])
    assert [o.interaction.subject for o in found if o.interaction] == ["Again"]
    contacts = [b for b in batches if b.scope]
    assert all(b.token == snapshot and b.snapshot_end is None for b in contacts)
    assert all("$deltatoken" in q for q in queries(graph, "/delta")[-3:])
    assert observations(run(connector(), batches[-1].cursor)) == []


def test_a_removed_contact_is_a_tombstone_and_a_removed_message_is_only_counted(
        graph: FakeGraph) -> None:
    gone = graph.contact(ADA, "Ada", "Lovelace", "ada@client.com")
    graph.contact(ADA, "Alan", "Turing", "alan@client.com")
    moved = graph.message(ADA, "p@client.com", [ADA])
    cursor = run(connector())[-1].cursor
    graph.remove(ADA, "contacts:default", gone)
    graph.remove(ADA, "messages:inbox", moved)

    batches = run(connector(), cursor)
    found = observations(batches)
    assert [(o.kind, o.external_id, o.deleted) for o in found] == [
        ("person", f"{ADA}/{gone}", True)]
    assert sum(b.skipped.get(SKIP_REMOVED, 0) for b in batches) == 1


@pytest.mark.parametrize("status,code", [(410, "SyncStateNotFound"),
                                         (400, "syncStateNotFound"),
                                         (410, "resyncRequired")])
def test_an_expired_delta_link_re_reads_the_folder_without_false_deletes(
        graph: FakeGraph, tmp_path: Path, status: int, code: str) -> None:
    store = Store(tmp_path)
    ids = [graph.contact(ADA, f"P{n}", "X", f"p{n}@client.com") for n in range(5)]
    graph.message(ADA, "p@client.com", [ADA])
    first = run(connector())
    store.ingest(first)
    graph.remove(ADA, "contacts:default", ids[4])  # gone while the link was expiring
    graph.fail_next("/contacts/delta?$deltatoken", *error(status, code, "Sync state gone"))
    graph.fail_next("/inbox/messages/delta?$deltatoken", *error(status, code, "gone"))

    batches = run(connector(), first[-1].cursor)
    store.ingest(batches)

    contacts = [b for b in batches if b.scope]
    assert len({b.token for b in contacts}) == 1 and contacts[0].token != first[0].token
    assert contacts[-1].snapshot_end is not None
    assert contacts[-1].snapshot_end.max_delete_ratio == 0.2
    records = store.records()
    assert records[f"{ADA}/{ids[4]}"] is True  # the one really gone
    assert [k for k, deleted in records.items() if deleted] == [f"{ADA}/{ids[4]}"]
    # the messages start a new windowed round
    assert queries(graph, "/inbox/messages/delta")[-1]["$filter"] == [
        "receivedDateTime ge 2025-01-01T00:00:00Z"]


def test_throttling_429_with_retry_after_and_a_503_are_waited_out(graph: FakeGraph) -> None:
    graph.contact(ADA, "Ada", "Lovelace", "ada@client.com")
    waits: list[float] = []
    http = HttpClient(sleep=waits.append, rng=random.Random(1))
    throttled = error(429, "TooManyRequests", "Please retry again later.")
    graph.fail_next("/contacts/delta", *throttled, headers={"Retry-After": "7"})
    graph.fail_next("/contacts/delta", *error(503, "ServiceUnavailable", "busy"))

    batches = run(connector(http=http, messages=False))

    assert waits[0] == 7.0 and len(waits) == 2 and 0.5 <= waits[1] <= 2.0
    assert len(observations(batches)) == 1 and batches[-1].parts == {ADA: None}


@pytest.mark.parametrize("status,code,message", [
    (403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."),
    (401, "InvalidAuthenticationToken", "Access token validation failure.")])
def test_a_refused_mailbox_is_fatal_and_names_the_permissions_to_grant(
        graph: FakeGraph, status: int, code: str, message: str) -> None:
    graph.denied[ADA] = (status, code, message)
    with pytest.raises(FatalError) as caught:
        run(connector())
    said = str(caught.value)
    assert code in said and message in said and "Mail.ReadBasic.All" in said
    assert "Contacts.Read" in said and "application access policy" in said


def test_msal_invalid_client_is_fatal_and_names_the_client_secret(graph: FakeGraph) -> None:
    graph.token_error = {
        "error": "invalid_client", "error_codes": [7000215],
        "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the "
        "secret being sent in the request is the client secret value.\r\nTrace ID: abc"}
    source = connector(mailboxes=[ADA, BOB])
    with pytest.raises(FatalError) as caught:
        run(source)
    said = str(caught.value)
    assert "invalid_client" in said and "client secret" in said and "client_secret" in said
    assert SECRET not in said and graph.token_calls == 1  # a refusal is not asked again
    assert not graph.requests  # nothing reached Graph without a token


def test_a_sign_in_answering_503_is_retried_by_the_shared_retry_layer(
        graph: FakeGraph) -> None:
    waits: list[float] = []
    graph.token_outages = [503]
    graph.message(ADA, "p@client.com", [ADA])
    batches = run(connector(http=HttpClient(sleep=waits.append), contacts=False))
    assert len(observations(batches)) == 1
    assert graph.token_calls == 2 and waits == [3.0]  # the token endpoint's Retry-After


def test_a_sign_in_still_down_after_the_retries_is_retriable(graph: FakeGraph) -> None:
    graph.token_outages = [503] * 5
    with pytest.raises(RetriableError):
        run(connector(mailboxes=[ADA], contacts=False))
    assert not graph.requests


def test_a_malformed_contact_or_message_is_quarantined_and_the_rest_stored(
        graph: FakeGraph, tmp_path: Path) -> None:
    graph.contact(ADA, "Ada", "Lovelace", "ada@client.com")
    bad = graph.contact(ADA, "Bad", "Types", "bad@client.com", emailAddresses="not a list")
    graph.message(ADA, "p@client.com", [ADA])
    undated = graph.message(ADA, "q@client.com", [ADA], sentDateTime=None,
                            receivedDateTime=None)
    store = Store(tmp_path)
    batches = run(connector())
    store.ingest(batches)
    rejected = {r.external_id: r.reason for b in batches for r in b.rejected}
    assert rejected == {f"{ADA}/{bad}": "contact: emailAddresses is a str, not a list",
                        f"{ADA}/{undated}": "message: the message has neither sentDateTime "
                        "nor receivedDateTime"}
    with session_factory(store.engine)() as session:
        assert session.scalar(select(func.count()).select_from(QuarantineItem)) == 2
        assert session.scalar(select(func.count()).select_from(Interaction)) == 1
    assert len([k for k in store.records() if k.startswith(ADA)]) == 1


def test_a_run_cut_between_pages_resumes_at_the_next_page_losing_and_doubling_nothing(
        graph: FakeGraph, tmp_path: Path) -> None:
    for n in range(5):
        graph.contact(ADA, f"P{n}", "X", f"p{n}@client.com")
    for n in range(3):
        graph.message(ADA, f"m{n}@client.com", [ADA], when=f"2025-12-0{n + 1}T09:00:00Z")
    whole = Store(tmp_path, "whole.db")
    whole.ingest(run(connector()))

    cut = Store(tmp_path, "cut.db")
    iterator = connector().sync(None)
    done = [next(iterator), next(iterator)]  # two contact pages committed, then a crash
    del iterator
    cut.ingest(done)
    asked = len(queries(graph, "/contacts/delta"))
    resumed = run(connector(), done[-1].cursor)
    cut.ingest(resumed)

    first_ids = {o.external_id for o in observations(done)}
    assert not first_ids & {o.external_id for o in observations(resumed)}  # nothing again
    assert len(queries(graph, "/contacts/delta")) == asked + 1  # only the last page
    assert resumed[0].token == done[0].token  # the snapshot goes on under its token
    assert cut.records() == whole.records()  # nothing lost
    assert not any(cut.records().values())  # the snapshot's end deleted nothing
    with session_factory(cut.engine)() as session:
        assert session.scalar(select(func.count()).select_from(Interaction)) == 3


def test_one_refused_mailbox_is_reported_as_its_part_while_the_other_syncs(
        graph: FakeGraph, tmp_path: Path) -> None:
    graph.contact(ADA, "Ada", "Lovelace", "ada@client.com")
    graph.message(ADA, "p@client.com", [ADA])
    graph.denied[BOB] = (403, "ErrorAccessDenied", "Access is denied. Check credentials "
                         "and try again.")
    store = Store(tmp_path)
    batches = run(connector(mailboxes=[ADA, BOB]))
    store.ingest(batches)
    parts = {k: v for b in batches for k, v in b.parts.items()}
    assert parts[ADA] is None
    refused = parts[BOB]
    assert refused is not None and "ErrorAccessDenied" in refused
    assert "Mail.ReadBasic.All" in refused
    assert not any(store.records().values()) and len(store.records()) >= 2


def test_colleagues_make_no_contact_and_only_inbound_senders_become_contacts(
        graph: FakeGraph, tmp_path: Path) -> None:
    graph.message(ADA, BOB, [ADA], subject="Lunch?")  # a thread between colleagues
    graph.message(ADA, "zoe@client.com", [ADA], cc=["cc@client.com"], subject="Question")
    graph.message(ADA, ADA, ["yann@client.com"], folder="sentitems", subject="Offer")
    store = Store(tmp_path)
    batches = run(connector())
    store.ingest(batches)
    mails = {o.interaction.subject: o.interaction for o in observations(batches)
             if o.interaction}
    assert set(mails) == {"Question", "Offer"}
    assert sum(b.skipped.get(SKIP_INTERNAL, 0) for b in batches) == 1
    question, offer = mails["Question"], mails["Offer"]
    assert (question.direction, offer.direction) == ("inbound", "outbound")
    assert {p.email: p.no_contact for p in question.participants
            if "acme" not in str(p.email)} \
        == {"zoe@client.com": None, "cc@client.com": NOT_INBOUND}
    assert {p.email: p.no_contact for p in offer.participants} == {
        ADA: OUR_MAILBOX, "yann@client.com": NOT_INBOUND}
    people = {k for k in store.records() if k.startswith("participant:")}
    assert people == {"participant:email:zoe@client.com"}


def test_mailboxes_all_reads_every_enabled_user_with_a_mailbox(graph: FakeGraph) -> None:
    graph.users = [{"mail": "Ada@acme.fr", "userPrincipalName": "ada@acme.fr",
                    "accountEnabled": True},
                   {"mail": None, "userPrincipalName": "svc@acme.fr", "accountEnabled": True},
                   {"mail": BOB, "userPrincipalName": BOB, "accountEnabled": True}]
    graph.contact(BOB, "Zoé", "Martin", "zoe@client.com")
    batches = run(connector(mailboxes="all"))
    assert {k for b in batches for k in b.parts} == {ADA, BOB}
    assert [o.external_id.split("/")[0] for o in observations(batches)] == [BOB]
    users = queries(graph, "/users?")[0]
    assert users["$filter"] == ["accountEnabled eq true"]


def test_check_says_what_is_readable_and_what_is_refused(graph: FakeGraph) -> None:
    graph.message(ADA, "p@client.com", [ADA])
    graph.denied[BOB] = (403, "ErrorAccessDenied", "Access is denied.")
    result = connector(mailboxes=[ADA, BOB]).check()
    assert not result.ok
    assert f"{ADA}: inbox readable (1 messages), contacts readable" in result.message
    assert f"{BOB}: FAILED" in result.message and "Mail.ReadBasic.All" in result.message


class OutlookChanges:
    """Contacts added, renamed and deleted in the fake mailbox between two syncs."""

    def __init__(self, fake: FakeGraph) -> None:
        self.fake = fake
        for n in range(5):
            fake.contact(ADA, f"P{n}", "X", f"p{n}@client.com")
        for n in range(3):
            fake.message(ADA, f"m{n}@client.com", [ADA], when=f"2025-12-0{n + 1}T09:00:00Z")
        fake.message(ADA, ADA, ["m0@client.com"], folder="sentitems")

    def add(self) -> str:
        return f"{ADA}/{self.fake.contact(ADA, 'New', 'Person', 'new@client.com')}"

    def update(self, external_id: str) -> None:
        item_id = external_id.split("/", 1)[1]
        item = self.fake.items[(ADA, "contacts:default")][item_id][1]
        self.fake.put(ADA, "contacts:default", dict(item or {}, surname="Renamed"))

    def delete(self, external_id: str) -> None:
        self.fake.remove(ADA, "contacts:default", external_id.split("/", 1)[1])


class TestOutlookContract(ConnectorContract):
    @pytest.fixture
    def changes(self, graph: FakeGraph) -> OutlookChanges:
        return OutlookChanges(graph)

    @pytest.fixture
    def connector_factory(self, changes: OutlookChanges) -> ConnectorFactory:
        return lambda: connector(contact_folders="all")

    @pytest.fixture
    def source_changes(self, changes: OutlookChanges) -> OutlookChanges:
        return changes


def test_a_mailbox_still_throttled_after_the_retries_is_its_part_error_and_the_run_goes_on(
        graph: FakeGraph) -> None:
    graph.contact(ADA, "Ada", "Lovelace", "ada@client.com")
    graph.contact(BOB, "Alan", "Turing", "alan@client.com")
    for _ in range(5):  # HttpClient's attempts
        graph.fail_next(f"/users/{ADA}/contacts/delta", *error(503, "ServiceUnavailable", "x"))
    batches = run(connector(mailboxes=[ADA, BOB], messages=False))
    parts = {k: v for b in batches for k, v in b.parts.items()}
    assert parts[BOB] is None and "HTTP 503" in str(parts[ADA])
    assert [o.external_id.split("/")[0] for o in observations(batches)] == [BOB]


def test_a_certificate_signs_the_token_request_instead_of_a_secret(graph: FakeGraph) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    graph.contact(ADA, "Ada", "Lovelace", "ada@client.com")
    settings = OutlookSettings.model_validate({
        "tenant_id": TENANT, "client_id": CLIENT, "mailboxes": [ADA], "messages": False,
        "contact_folders": ["default"], "certificate_key": {"env": "GRAPH_KEY"},
        "certificate_thumbprint": "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"})
    source = OutlookConnector("outlook", settings, make_context(secrets={"GRAPH_KEY": pem}))
    assert len(observations(run(source))) == 1
    form = parse_qs(str(graph.token_requests[0].body))
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assert "client_secret" not in form
