"""Outbox deliveries to sinks: at least once, retried as the answer deserves, secrets masked.

(The webhook cases would sit in tests/plugins/hub_notify; they are here with the delivery
core they exercise.)
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
import responses
from sqlalchemy import Engine, create_engine, select, text, update
from sqlalchemy.pool import NullPool

from hub.config import ConfigError
from hub.http import HttpClient
from hub.logs import mask_text
from hub.routing.delivery import (
    CLAIM,
    SETTLE,
    Sink,
    _claim,
    deliver,
    delivery_status,
    enqueue,
)
from hub.routing.model import SinkCursor, SinkDelivery
from hub.routing.rules import RuleSet, load_rules
from hub.routing.strategies import BUILTIN
from hub.store.db import session_factory
from hub.store.model import ContactPoint, OutboxEvent
from hub_notify import EmailSink, WebhookSink
from tests.routing.support import LEADS, OWNERS, T0, add_contact, routing_from

URL = "https://hooks.example.com/crmhub"
SINKS = {"webhook": WebhookSink, "email": EmailSink}
HOOK = OWNERS + """
[[notify]]
name = "hook"
sink = "webhook"
events = ["contact.updated"]
[notify.settings]
url = "https://hooks.example.com/crmhub"
secret = { env = "HOOK_SECRET" }
"""


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "hook-signing-key")


def ruleset_of(tmp_path: Path, text: str = HOOK,
               sinks: dict[str, type] | None = None) -> RuleSet:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path, {k.name: k for k in BUILTIN}, sinks or SINKS)


def client() -> HttpClient:
    return HttpClient(max_attempts=1, sleep=lambda _s: None)


def add_event(engine: Engine, event_id: int, at: datetime = T0) -> None:
    with session_factory(engine).begin() as session:
        session.add(OutboxEvent(id=event_id, type="contact.updated", payload={"n": event_id},
                                created_at=at))


@responses.activate
def test_an_event_committed_after_a_higher_id_was_delivered_is_still_delivered(
        tmp_path: Path, engine: Engine) -> None:
    ruleset = ruleset_of(tmp_path)
    responses.post(URL, status=204)
    sessions = session_factory(engine)
    add_event(engine, 1)
    add_event(engine, 3)  # id 2 is held by a transaction that has not committed
    assert deliver(sessions, ruleset, SINKS, client(), T0 + timedelta(minutes=1)).delivered == 2
    add_event(engine, 2)  # ... and now it has
    assert deliver(sessions, ruleset, SINKS, client(), T0 + timedelta(minutes=2)).delivered == 1
    sent = [json.loads(call.request.body)["id"] for call in responses.calls]
    assert sent == [1, 3, 2]
    with sessions() as session:
        cursor = session.get(SinkCursor, "hook")
        assert cursor is not None and cursor.last_event_id == 3


@responses.activate
def test_a_gap_no_transaction_fills_holds_the_sink_cursor_only_for_a_while(
        tmp_path: Path, engine: Engine) -> None:
    ruleset = ruleset_of(tmp_path)
    responses.post(URL, status=204)
    sessions = session_factory(engine)
    add_event(engine, 1)
    add_event(engine, 3)  # id 2 was rolled back: it never comes

    def cursor() -> int:
        with sessions() as session:
            row = session.get(SinkCursor, "hook")
            assert row is not None
            return row.last_event_id

    deliver(sessions, ruleset, SINKS, client(), T0 + timedelta(minutes=1))
    assert cursor() == 1
    deliver(sessions, ruleset, SINKS, client(), T0 + SETTLE + timedelta(seconds=1))
    assert cursor() == 3
    assert len(responses.calls) == 2  # and nothing was sent twice meanwhile


@pytest.mark.parametrize(("status", "outcome"), [
    (401, "pending"), (403, "pending"), (404, "pending"), (408, "pending"), (429, "pending"),
    (500, "pending"), (400, "dead"), (409, "dead"), (410, "dead"), (422, "dead")])
@responses.activate
def test_webhook_retries_auth_not_found_timeout_and_throttling_answers_gives_up_on_other_4xx(
        tmp_path: Path, engine: Engine, status: int, outcome: str) -> None:
    ruleset = ruleset_of(tmp_path)
    responses.post(URL, status=status)
    add_event(engine, 1)
    deliver(session_factory(engine), ruleset, SINKS, client(), T0)
    with session_factory(engine)() as session:
        row = session.scalars(select(SinkDelivery)).one()
    assert (row.status, row.attempts) == (outcome, 1)
    assert row.last_error is not None and str(status) in row.last_error


@responses.activate
def test_webhook_url_and_headers_may_be_secrets_masked_in_logs_and_status(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    url = "https://hooks.example.com/services/T0K3N-5f3a9c1e"
    token = "Bearer b7e1c0de-webhook-token"
    monkeypatch.setenv("HOOK_URL", url)
    monkeypatch.setenv("HOOK_AUTH", token)
    ruleset = ruleset_of(tmp_path, HOOK.replace(
        f'url = "{URL}"', 'url = { env = "HOOK_URL" }\n'
        'headers = { Authorization = { env = "HOOK_AUTH" }, X-Team = "sales" }'))
    responses.post(url, status=204)
    responses.post(url, body=requests.ConnectionError(f"cannot reach {url} with {token}"))
    add_event(engine, 1)
    add_event(engine, 2)
    sessions = session_factory(engine)
    with caplog.at_level(logging.DEBUG):
        stats = deliver(sessions, ruleset, SINKS, client(), T0)
    assert (stats.delivered, stats.failed) == (1, 1)
    sent = responses.calls[0].request
    assert (sent.headers["Authorization"], sent.headers["X-Team"]) == (token, "sales")
    with sessions() as session:
        status = delivery_status(session)
    assert status[0]["last_error"] is not None and "***" in status[0]["last_error"]
    for shown in (json.dumps(status), caplog.text):
        assert "T0K3N" not in shown and "b7e1c0de" not in shown
    assert mask_text(f"POST {url} with {token}") == "POST *** with ***"


def test_a_bad_webhook_url_or_header_is_one_error_at_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        ruleset_of(tmp_path, HOOK.replace(f'url = "{URL}"', 'url = "ftp://x"\n'
                                          'headers = { A = 3, B = { env = "B", file = "/b" } }'))
    assert [(i.key.split(".settings.")[1], i.message) for i in caught.value.issues] == [
        ("url", "String should match pattern '^https?://'"),
        ("headers.A", "Input should be a valid dictionary or instance of SecretRef"),
        ("headers.B", "a secret reference names exactly one of env, file, credential")]


class _Probe(Sink):
    """A sink that, while it 'answers', checks that another connection can write to the
    delivery it is sending: no transaction of the delivery pass holds a lock meanwhile."""

    name = "probe"
    engine: ClassVar[Engine]
    seen: ClassVar[list[str]] = []

    def send(self, event: dict[str, Any]) -> None:
        other = create_engine(self.engine.url, poolclass=NullPool,
                              connect_args=_no_wait(self.engine))
        try:
            with other.begin() as connection:
                if other.dialect.name == "postgresql":
                    connection.execute(text("SET LOCAL lock_timeout = '200ms'"))
                connection.execute(update(SinkDelivery).values(created_at=T0))
            type(self).seen.append("written")
        except Exception as exc:  # the lock held by the pass: what the test looks for
            type(self).seen.append(f"blocked: {exc}")
        finally:
            other.dispose()
        raise RuntimeError("HTTP 500 from the webhook")


PROBE = HOOK.replace('sink = "webhook"', 'sink = "probe"').split("[notify.settings]")[0]


def _no_wait(engine: Engine) -> dict[str, Any]:
    return {"timeout": 0.2} if engine.dialect.name == "sqlite" else {}


def test_no_database_lock_is_held_while_a_sink_answers(tmp_path: Path, engine: Engine) -> None:
    """A slow or failing receiver held SQLite's write lock (and PostgreSQL's row locks)
    for as long as it took to answer: syncs, `assign set` and shutdown waited on it."""
    ruleset = ruleset_of(tmp_path, PROBE, {"probe": _Probe})
    _Probe.engine, _Probe.seen = engine, []
    add_event(engine, 1)
    add_event(engine, 2)
    with session_factory(engine).begin() as session:  # an earlier pass queued them
        enqueue(session, ruleset.notify, T0)

    stats = deliver(session_factory(engine), ruleset, {"probe": _Probe}, client(), T0)

    assert _Probe.seen == ["written", "written"]
    assert stats.failed == 2  # and the outcomes were stored after the answers
    with session_factory(engine)() as session:
        rows = session.scalars(select(SinkDelivery)).all()
    assert [(r.status, r.attempts, r.next_attempt_at > T0) for r in rows] == \
        [("pending", 1, True)] * 2


@responses.activate
def test_one_delivery_attempt_is_one_request_even_with_a_retrying_client(
        tmp_path: Path, engine: Engine) -> None:
    """The outbox's backoff is the one retry layer: the daemon's client (5 attempts) is
    not used as is for sinks, or each attempt would be up to five POSTs."""
    ruleset = ruleset_of(tmp_path)
    responses.post(URL, status=503)  # an answer the client itself would retry
    add_event(engine, 1)
    retrying = HttpClient(max_attempts=5, sleep=lambda _s: None)

    stats = deliver(session_factory(engine), ruleset, SINKS, retrying, T0)

    assert stats.failed == 1
    assert len(responses.calls) == 1


def test_a_delivery_whose_pass_died_after_claiming_it_is_sent_again_once_its_claim_expires(
        tmp_path: Path, engine: Engine) -> None:
    ruleset = ruleset_of(tmp_path, PROBE, {"probe": _Probe})
    add_event(engine, 1)
    sessions = session_factory(engine)
    claimed = _claim(sessions, ruleset, ["hook"], T0, 10)  # the pass dies here
    assert [c.attempt for c in claimed] == [1]
    _Probe.engine, _Probe.seen = engine, []

    assert deliver(sessions, ruleset, {"probe": _Probe}, client(), T0 + CLAIM / 2).failed == 0
    assert deliver(sessions, ruleset, {"probe": _Probe}, client(), T0 + CLAIM).failed == 1
    with sessions() as session:
        assert session.scalars(select(SinkDelivery.attempts)).one() == 2


def test_an_event_names_the_leads_address_as_written_not_its_matching_key(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + '[[rules]]\nname = "all"\n'
                           'strategy = "round_robin"\nowners = ["alice"]\n')
    with session_factory(engine).begin() as session:
        lead = add_contact(session, full_name="Hugo Bernard")
        session.add(ContactPoint(contact_id=lead, kind="email", value="hugobernard@gmail.com",
                                 original="hugo.bernard@gmail.com", is_primary=True))
        session.add(ContactPoint(contact_id=lead, kind="phone", value="+33612345678",
                                 original="+33 6 12 34 56 78"))
        routing.after_batch(session, connector=LEADS, new_contact_ids=[lead],
                            changed_contact_ids=[], now=T0)
    with session_factory(engine)() as session:
        event = session.scalars(select(OutboxEvent).where(
            OutboxEvent.type == "contact.assigned")).one()
    assert event.payload["contact"] == {"name": "Hugo Bernard",
                                        "email": "hugo.bernard@gmail.com",
                                        "phone": "+33 6 12 34 56 78", "company": None}


@responses.activate
def test_a_sink_set_to_ids_gets_no_personal_data(tmp_path: Path, engine: Engine) -> None:
    ruleset = ruleset_of(tmp_path, HOOK.replace('sink = "webhook"',
                                                'sink = "webhook"\npayload = "ids"'))
    responses.post(URL, status=204)
    with session_factory(engine).begin() as session:
        session.add(OutboxEvent(id=1, type="contact.updated", created_at=T0, payload={
            "contact_id": 7, "owner_id": "alice", "rule": "all",
            "owner": {"id": "alice", "name": "Alice", "emails": ["alice@corp.example"]},
            "contact": {"name": "Hugo Bernard", "email": "hugo.bernard@gmail.com"}}))

    assert deliver(session_factory(engine), ruleset, SINKS, client(), T0).delivered == 1

    body = json.loads(responses.calls[0].request.body)
    assert body["payload"] == {"contact_id": 7, "owner_id": "alice", "rule": "all"}


def test_an_email_sink_set_to_ids_is_refused_at_its_key(tmp_path: Path) -> None:
    text = OWNERS + ('[[notify]]\nname = "mail"\nsink = "email"\npayload = "ids"\n'
                     '[notify.settings]\nhost = "smtp.example.com"\n'
                     'sender = "crmhub@example.com"\n')
    with pytest.raises(ConfigError) as info:
        ruleset_of(tmp_path, text)
    (issue,) = info.value.issues
    assert issue.key == "notify[0 name=mail].payload"
    assert "cannot work with payload 'ids'" in issue.message and issue.hint == "use 'full'"


MAIL = OWNERS + '''
[[owners]]
id = "dan"
team = "sales"

[[notify]]
name = "owner-mail"
sink = "email"
[notify.settings]
host = "smtp.example.com"
sender = "crmhub@example.com"
'''


def test_an_owner_without_an_address_is_a_warning_at_their_key(tmp_path: Path) -> None:
    ruleset = ruleset_of(tmp_path, MAIL)
    (warning,) = [w for w in ruleset.warnings if w.key.startswith("owners")]
    assert warning.key == "owners[4 id=dan].emails"
    assert "owner 'dan' has no e-mail address" in warning.message


def test_an_email_to_an_owner_without_an_address_is_counted_as_reaching_nobody(
        tmp_path: Path, engine: Engine) -> None:
    """It was logged at INFO and counted as delivered."""
    ruleset = ruleset_of(tmp_path, MAIL)
    with session_factory(engine).begin() as session:
        session.add(OutboxEvent(id=1, type="contact.assigned", created_at=T0, payload={
            "contact_id": 7, "owner_id": "dan", "rule": "all", "strategy": "round_robin",
            "owner": {"id": "dan", "name": "dan", "emails": [], "team": "sales"},
            "contact": {"name": "Hugo Bernard", "email": "hugo.bernard@gmail.com"}}))

    stats = deliver(session_factory(engine), ruleset, SINKS, client(), T0)

    assert (stats.delivered, stats.no_recipient, stats.failed) == (0, 1, 0)
    with session_factory(engine)() as session:
        (status,) = delivery_status(session)
    assert (status["delivered"], status["no_recipient"], status["pending"]) == (0, 1, 0)
    assert status["last_error"] == "owner dan has no e-mail address"
    # Never retried: a later pass sends nothing.
    assert deliver(session_factory(engine), ruleset, SINKS, client(),
                   T0 + timedelta(hours=2)).no_recipient == 0
