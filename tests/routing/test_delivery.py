"""Outbox deliveries to sinks: at least once, retried as the answer deserves, secrets masked.

(The webhook cases would sit in tests/plugins/hub_notify; they are here with the delivery
core they exercise.)
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
import responses
from sqlalchemy import Engine, select

from hub.config import ConfigError
from hub.http import HttpClient
from hub.logs import mask_text
from hub.routing.delivery import SETTLE, deliver, delivery_status
from hub.routing.model import SinkCursor, SinkDelivery
from hub.routing.rules import RuleSet, load_rules
from hub.routing.strategies import BUILTIN
from hub.store.db import session_factory
from hub.store.model import OutboxEvent
from hub_notify import EmailSink, WebhookSink
from tests.routing.support import OWNERS, T0

URL = "https://hooks.example.com/crmhub"
SINKS = {"webhook": WebhookSink, "email": EmailSink}
HOOK = OWNERS + """
[[notify]]
name = "hook"
sink = "webhook"
events = ["test.event"]
[notify.settings]
url = "https://hooks.example.com/crmhub"
secret = { env = "HOOK_SECRET" }
"""


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "hook-signing-key")


def ruleset_of(tmp_path: Path, text: str = HOOK) -> RuleSet:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path, {k.name: k for k in BUILTIN}, SINKS)


def client() -> HttpClient:
    return HttpClient(max_attempts=1, sleep=lambda _s: None)


def add_event(engine: Engine, event_id: int, at: datetime = T0) -> None:
    with session_factory(engine).begin() as session:
        session.add(OutboxEvent(id=event_id, type="test.event", payload={"n": event_id},
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
