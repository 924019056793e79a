"""The listener: health, readiness, metrics, and webhooks accepted only once durable, then
drained through the pipeline (both engines where the store is involved)."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text
from starlette.testclient import TestClient

from hub.cli.main import main
from hub.inbox import Inbox
from hub.service.runtime import Hub
from hub.service.sync import run_sync
from hub.store.db import head_revision
from hub.store.model import (
    Contact,
    Interaction,
    InteractionContact,
    QuarantineItem,
    SourceRecord,
    SyncState,
)
from hub.testing import ConnectorContract, ConnectorFactory, make_context
from hub.web import create_app
from hub.webhooks import crmhub_signature
from hub_telephony import CallWebhookConnector

SECRET = "s3cret-for-tests"
CALL = {"call_id": "c-1", "from": "+33 6 12 34 56 78", "to": "+33 1 45 00 00 00",
        "direction": "inbound", "started_at": "2026-03-02T09:15:00+01:00",
        "duration_s": 125, "status": "answered", "agent": "201"}


def write_config(root: Path, url: str, *, unknown_callers: str = "lead") -> Path:
    path = root / "crmhub.toml"
    path.write_text(f"""
[hub]
database_url = "{url}"
default_region = "FR"
own_numbers = ["+33 1 45 00 00 00"]
inbox = "{root / 'inbox.db'}"
parallel_prepare = false

[[connectors]]
name = "pbx"
kind = "call_webhook"
[connectors.settings]
secret = {{ env = "PBX_SECRET" }}
unknown_callers = "{unknown_callers}"

[[connectors]]
name = "leads"
kind = "form_webhook"
[connectors.settings]
secret = {{ env = "PBX_SECRET" }}
id_path = "lead.id"
required = ["lead.email"]
[connectors.settings.fields]
"person.given_name" = "lead.first_name"
"person.family_name" = "lead.last_name"
"person.emails" = "lead.email"
"person.phones.mobile" = "lead.phones[0]"
"person.custom.budget" = "answers.budget"
""", encoding="utf-8")
    return path


@pytest.fixture
def hub(tmp_path: Path, db_url: str, engine: Engine,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    monkeypatch.setenv("PBX_SECRET", SECRET)
    opened = Hub.open(write_config(tmp_path, db_url))
    yield opened
    opened.close()


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub), raise_server_exceptions=False) as test_client:
        yield test_client


def signed(body: Any, *, secret: str = SECRET, at: float | None = None,
           content_type: str = "application/json") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(time.time() if at is None else at))
    return {"content": raw, "headers": {
        "Content-Type": content_type, "X-Crmhub-Timestamp": stamp,
        "X-Crmhub-Signature": crmhub_signature(secret, stamp, raw)}}


def test_health_and_readiness_answer_and_readiness_names_what_is_missing(
        hub: Hub, client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "alive"}
    assert client.get("/readyz").json() == {"status": "ready"}
    with hub.engine.begin() as connection:  # as if a newer crmhub's schema were expected
        connection.execute(text("UPDATE alembic_version SET version_num = '0007'"))
    behind = client.get("/readyz")
    assert behind.status_code == 503
    assert behind.json() == {"status": "not ready", "reason": "database schema at 0007, this "
                             f"crmhub needs {head_revision()}: run `crmhub db upgrade`"}
    assert client.get("/healthz").status_code == 200  # alive all the same


def test_a_redelivered_call_is_stored_once_and_its_later_state_updates_it(
        hub: Hub, client: TestClient) -> None:
    first = client.post("/webhooks/pbx", **signed(CALL))
    again = client.post("/webhooks/pbx", **signed(CALL))
    assert first.status_code == 200 and first.json()["duplicate"] is False
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len(hub.inbox.pending("pbx", 0, 10)) == 1
    ended = client.post("/webhooks/pbx", **signed({**CALL, "duration_s": 300}))
    assert ended.json()["duplicate"] is False  # a later state of the call: an update
    run_sync(hub, "pbx")
    with hub.pipeline.sessions() as session:
        assert [(i.external_id, i.duration_s) for i in session.scalars(select(Interaction))] \
            == [("c-1", 300)]


@pytest.mark.parametrize(("make_request", "status", "error"), [
    (lambda: {"content": json.dumps(CALL).encode(),
              "headers": {"Content-Type": "application/json"}}, 401, "unsigned"),
    (lambda: signed(CALL, secret="not-the-secret"), 401,
     "the signature does not match the body"),
    (lambda: signed(CALL, at=time.time() - 3600), 401, "more than 300 s away"),
    (lambda: signed(b"x" * (2 * 1024 * 1024)), 413, "the body is over 1048576 bytes"),
    (lambda: signed(CALL, content_type="text/plain"), 415, "content type 'text/plain'"),
    (lambda: signed(b"{not json"), 400, "the body is not JSON"),
], ids=["unsigned", "forged", "replayed", "too-big", "content-type", "not-json"])
def test_bad_requests_get_a_4xx_with_a_json_reason_and_store_nothing(
        hub: Hub, client: TestClient, make_request: Callable[[], dict[str, Any]], status: int,
        error: str) -> None:
    # Signed when the test runs, not when it is collected: the window is 300 s.
    response = client.post("/webhooks/pbx", **make_request())
    assert response.status_code == status
    assert error in response.json()["error"]
    assert hub.inbox.last_id("pbx") == 0


def test_an_unknown_connector_is_404_and_get_is_the_handshake(client: TestClient) -> None:
    assert client.post("/webhooks/nope", **signed(CALL)).status_code == 404
    handshake = client.get("/webhooks/pbx")
    assert handshake.status_code == 405 and "POST" in handshake.text


def test_metrics_report_runs_records_and_the_webhook_requests_answered(
        hub: Hub, client: TestClient) -> None:
    client.post("/webhooks/pbx", **signed(CALL))
    client.post("/webhooks/pbx", content=b"{}", headers={"Content-Type": "application/json"})
    run_sync(hub, "pbx")
    text = client.get("/metrics").text
    assert 'crmhub_webhook_requests_total{connector="pbx",status="200"} 1.0' in text
    assert 'crmhub_webhook_requests_total{connector="pbx",status="401"} 1.0' in text
    assert 'crmhub_sync_runs_total{connector="pbx"} 1.0' in text
    assert 'crmhub_records_received_total{connector="pbx"} 1.0' in text
    assert 'crmhub_webhook_inbox_backlog' in text and "crmhub_review_queue_size 0.0" in text


def test_metrics_report_skips_by_reason_and_each_failing_mailbox(
        hub: Hub, client: TestClient) -> None:
    with hub.pipeline.sessions.begin() as session:
        session.add(SyncState(connector="mail", kind="gmail", skipped_total={
            "message from a mailing list": 4}, parts={
            "ann@acme.fr": {"synced_at": "2026-12-06T10:00:00+00:00"},
            "bob@acme.fr": {"error": "delegation refused", "since": "2026-12-06T10:00:00"}}))
    text = client.get("/metrics").text
    assert ('crmhub_records_skipped_total{connector="mail",reason="message from a mailing '
            'list"} 4.0') in text
    assert 'crmhub_sync_part_failing{connector="mail",part="bob@acme.fr"} 1.0' in text
    assert 'crmhub_sync_part_failing{connector="mail",part="ann@acme.fr"} 0.0' in text


def calls_of(hub: Hub) -> dict[str, list[str | None]]:
    """Each stored call's linked contacts' names."""
    with hub.pipeline.sessions() as session:
        rows = session.execute(
            select(Interaction.external_id, Contact.full_name)
            .join(InteractionContact, InteractionContact.interaction_id == Interaction.id,
                  isouter=True)
            .join(Contact, Contact.id == InteractionContact.contact_id, isouter=True))
        found: dict[str, list[str | None]] = {}
        for call, name in rows:
            found.setdefault(call, []).append(name)
        return found


def test_calls_link_to_one_contact_whatever_the_number_format_and_our_lines_never_do(
        hub: Hub, client: TestClient) -> None:
    lead = {"lead": {"id": "L-7", "first_name": "Ada", "last_name": "Lovelace",
                     "email": "ada@example.org", "phones": ["+33 6 12 34 56 78"]},
            "answers": {"budget": "10k"}}
    assert client.post("/webhooks/leads", **signed(lead)).status_code == 200
    for n, number in enumerate(["+33 6 12 34 56 78", "06 12 34 56 78", "0033 6 12 34 56 78"]):
        call = {**CALL, "call_id": f"c-{n}", "from": number}
        assert client.post("/webhooks/pbx", **signed(call)).status_code == 200
    outbound = {**CALL, "call_id": "c-out", "direction": "outbound", "from": "+33 1 45 00 00 00",
                "to": "06 98 76 54 32", "agent": "202"}
    client.post("/webhooks/pbx", **signed(outbound))
    assert run_sync(hub, "leads").ok and run_sync(hub, "pbx").ok
    calls = calls_of(hub)
    assert calls["c-0"] == calls["c-1"] == calls["c-2"] == ["Ada Lovelace"]
    assert calls["c-out"] == [None]  # an unknown number: a new contact, with no name yet
    with hub.pipeline.sessions() as session:
        records = set(session.scalars(select(SourceRecord.external_id)))
        ada = session.scalars(select(Contact).where(Contact.full_name == "Ada Lovelace")).one()
        assert ada.custom == {"budget": "10k"}
    # our switchboard and the extensions are participants, never contacts
    assert records == {"L-7", "form:L-7:" + next(k.split(":", 2)[2] for k in records
                                                 if k.startswith("form:")),
                       "c-0", "c-1", "c-2", "c-out", "participant:phone:+33698765432"}


def test_unknown_callers_ignored_stay_unlinked_and_are_counted(
        tmp_path: Path, db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PBX_SECRET", SECRET)
    hub = Hub.open(write_config(tmp_path, db_url, unknown_callers="ignore"))
    try:
        with TestClient(create_app(hub)) as client:
            client.post("/webhooks/pbx", **signed(CALL))
        report = run_sync(hub, "pbx")
        assert report.ok and report.stats.unlinked == 1 and report.stats.contacts_created == 0
        assert calls_of(hub) == {"c-1": [None]}
    finally:
        hub.close()


def test_a_lead_missing_a_required_path_or_naming_nobody_is_quarantined_with_why(
        hub: Hub, client: TestClient) -> None:
    client.post("/webhooks/leads", **signed({"lead": {"id": "L-1", "first_name": "Ada"}}))
    client.post("/webhooks/leads", **signed({"other": {"email": "x@y.org"}, "lead": {
        "email": ""}}))
    client.post("/webhooks/pbx", **signed({**CALL, "call_id": "c-9", "status": "ringing"}))
    leads, calls = run_sync(hub, "leads"), run_sync(hub, "pbx")
    assert leads.stats.quarantined == 2 and calls.stats.quarantined == 1
    with hub.pipeline.sessions() as session:
        reasons = sorted(q.reason for q in session.scalars(select(QuarantineItem)))
    assert any("required path(s) missing: lead.email" in r for r in reasons)
    assert any("status: Input should be 'answered', 'missed', 'busy' or 'failed'" in r
               for r in reasons)


_HEADER_NAMES = st.sampled_from(["Content-Type", "X-Crmhub-Timestamp", "X-Crmhub-Signature",
                                 "Content-Length", "X-Other"])
_HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126),
                         max_size=60)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["pbx", "leads", "nope", "%00", "pbx/extra"]),
       body=st.binary(max_size=2048),
       headers=st.dictionaries(_HEADER_NAMES, _HEADER_VALUES, max_size=4),
       sign=st.booleans())
def test_any_body_and_headers_get_a_2xx_or_a_4xx_and_health_stays_up(
        client: TestClient, path: str, body: bytes, headers: dict[str, str],
        sign: bool) -> None:
    headers = {k: v for k, v in headers.items() if k != "Content-Length"}
    if sign:
        headers.update(signed(body)["headers"])
    response = client.post(f"/webhooks/{path}", content=body, headers=headers)
    assert 200 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(("application/json", "text/plain"))
    assert client.get("/healthz").status_code == 200


class CallInbox:
    """Calls waiting in an inbox, as the listener leaves them: the contract kit's source.
    A call is never deleted at its source, only updated (its later state)."""

    deletes = False

    def __init__(self, root: Path, count: int) -> None:
        self.inbox = Inbox(root / "inbox.db")
        self.calls: dict[str, dict[str, Any]] = {}
        for _ in range(count):
            self.add()

    def _put(self, call: dict[str, Any]) -> None:
        self.calls[call["call_id"]] = call
        self.inbox.put("pbx", None, {"content-type": "application/json"},
                       json.dumps(call).encode())

    def add(self) -> str:
        call_id = f"c-{len(self.calls) + 1}"
        self._put({**CALL, "call_id": call_id, "from": f"+33 6 12 34 56 {len(self.calls):02d}"})
        return call_id

    def update(self, external_id: str) -> None:
        self._put({**self.calls[external_id], "duration_s": 999, "status": "missed"})

    def delete(self, external_id: str) -> None:
        raise AssertionError("the kit does not delete from a source with deletes = False")


class TestCallWebhookContract(ConnectorContract):
    @pytest.fixture
    def source(self, tmp_path: Path) -> CallInbox:
        return CallInbox(tmp_path, 5)

    @pytest.fixture
    def connector_factory(self, source: CallInbox) -> ConnectorFactory:
        settings = CallWebhookConnector.Settings.model_validate(
            {"secret": {"env": "PBX_SECRET"}, "batch_size": 2})
        return lambda: CallWebhookConnector("pbx", settings, make_context(
            secrets={"PBX_SECRET": SECRET}, inbox=source.inbox))

    @pytest.fixture
    def source_changes(self, source: CallInbox) -> CallInbox:
        return source


def test_two_processes_opening_a_new_inbox_at_once_both_get_it(tmp_path: Path) -> None:
    """The daemon and its listener open the inbox at the same moment on a first start.
    Switching a new file to WAL is what collides, rarely: eight processes, ten new files
    (a few in a thousand processes failed before the switch was retried)."""
    context = multiprocessing.get_context("fork")
    for round_ in range(10):
        path = tmp_path / f"inbox-{round_}.db"
        barrier = context.Barrier(8)

        def open_it(path: Path = path, barrier: Any = barrier) -> None:
            barrier.wait()
            Inbox(path).put("pbx", None, {}, b"{}")

        processes = [context.Process(target=open_it) for _ in range(8)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
        assert [p.exitcode for p in processes] == [0] * 8
        assert len(Inbox(path).pending("pbx", 0, 10)) == 8


def test_status_shows_the_requests_waiting_in_the_inbox_of_each_push_connector(
        tmp_path: Path, hub: Hub, client: TestClient) -> None:
    client.post("/webhooks/pbx", **signed(CALL))
    client.post("/webhooks/pbx", **signed({**CALL, "call_id": "c-2"}))

    def inbox() -> dict[str, Any]:
        result = CliRunner().invoke(main, ["status", "--json", "--config",
                                           str(tmp_path / "crmhub.toml")])
        assert result.exit_code == 0, result.output
        return {c["name"]: c["inbox"] for c in json.loads(result.stdout)["connectors"]}

    assert inbox() == {"pbx": 2, "leads": 0}
    run_sync(hub, "pbx")
    assert inbox() == {"pbx": 0, "leads": 0}
