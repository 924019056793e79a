"""hub_notify: signed webhook and owner e-mail, delivered at least once with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import socketserver
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from sqlalchemy import Engine, select

from hub.http import HttpClient
from hub.plugins import HubPlugins
from hub.routing.delivery import backoff, deliver, delivery_status
from hub.routing.model import SinkDelivery
from hub.routing.rules import load_rules
from hub.routing.strategies import BUILTIN
from hub.store.db import session_factory
from hub_notify import EmailSink, WebhookSink, sign
from tests.routing.support import OWNERS, T0, new_leads, routing_from

URL = "https://hooks.example.com/crmhub"
SINKS = {"webhook": WebhookSink, "email": EmailSink}
RULES = OWNERS + """
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"

[[notify]]
name = "hook"
sink = "webhook"
max_attempts = 3
[notify.settings]
url = "https://hooks.example.com/crmhub"
secret = { env = "HOOK_SECRET" }
"""


def client() -> HttpClient:
    return HttpClient(max_attempts=1, sleep=lambda _s: None)


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")


def setup(tmp_path: Path, engine: Engine, rules: str = RULES) -> Any:
    routing = routing_from(tmp_path, rules)
    ruleset = load_rules(tmp_path / "rules.toml", {k.name: k for k in BUILTIN}, SINKS)
    new_leads(engine, routing, [{"email": "lea@lead.org", "full_name": "Lea Lead"}])
    return ruleset


def test_sinks_are_registered_through_the_notify_entry_point() -> None:
    assert {"webhook", "email"} <= set(HubPlugins.load().sink_classes())


@responses.activate
def test_webhook_posts_the_event_signed_with_timestamp_and_hmac(
        tmp_path: Path, engine: Engine) -> None:
    ruleset = setup(tmp_path, engine)
    responses.post(URL, status=204)
    stats = deliver(session_factory(engine), ruleset, SINKS, client(), T0)
    assert stats.delivered == 1
    request = responses.calls[0].request
    body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
    timestamp = request.headers["X-Crmhub-Timestamp"]
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert request.headers["X-Crmhub-Signature-256"] == f"sha256={expected}"
    assert sign("s3cret", timestamp, body) == f"sha256={expected}"
    event = json.loads(body)
    assert event["type"] == "contact.assigned" and request.headers["X-Crmhub-Delivery"] == \
        str(event["id"])
    assert event["payload"]["owner"]["id"] == "alice"
    assert event["payload"]["contact"]["email"] == "lea@lead.org"
    # delivered once: the next pass sends nothing
    assert deliver(session_factory(engine), ruleset, SINKS, client(),
                   T0 + timedelta(minutes=1)).delivered == 0
    assert len(responses.calls) == 1


@responses.activate
def test_failures_are_retried_with_backoff_then_given_up_and_shown_in_status(
        tmp_path: Path, engine: Engine) -> None:
    ruleset = setup(tmp_path, engine)
    responses.post(URL, status=503)
    sessions = session_factory(engine)
    assert deliver(sessions, ruleset, SINKS, client(), T0).failed == 1
    with sessions() as session:
        row = session.scalars(select(SinkDelivery)).one()
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.next_attempt_at == T0 + timedelta(seconds=backoff(1))
        status = delivery_status(session)
    assert status[0]["sink"] == "hook" and status[0]["failing"] == 1
    assert "503" in status[0]["last_error"]
    # not due yet: nothing sent
    assert deliver(sessions, ruleset, SINKS, client(), T0 + timedelta(seconds=10)).failed == 0
    assert deliver(sessions, ruleset, SINKS, client(), T0 + timedelta(seconds=30)).failed == 1
    assert deliver(sessions, ruleset, SINKS, client(), T0 + timedelta(seconds=90)).dead == 1
    with sessions() as session:
        assert delivery_status(session)[0]["dead"] == 1
    assert backoff(1) == 30 and backoff(2) == 60 and backoff(20) == 3600


@responses.activate
def test_a_4xx_answer_is_not_retried(tmp_path: Path, engine: Engine) -> None:
    ruleset = setup(tmp_path, engine)
    responses.post(URL, status=410)
    assert deliver(session_factory(engine), ruleset, SINKS, client(), T0).dead == 1


class _SMTPHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: Any = self.server
        self.wfile.write(b"220 fake ESMTP\r\n")
        data: list[bytes] = []
        while line := self.rfile.readline():
            verb = line.strip().upper()
            if data:
                if line in (b".\r\n", b".\n"):
                    server.messages.append(b"".join(data[1:]).decode())
                    data.clear()
                    self.wfile.write(b"250 queued\r\n")
                else:
                    data.append(line)
            elif verb.startswith((b"EHLO", b"HELO")):
                self.wfile.write(b"250 fake\r\n")
            elif verb == b"DATA":
                data.append(b"")
                self.wfile.write(b"354 go\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                server.commands.append(verb.decode())
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server() -> Iterator[Any]:
    server: Any = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages, server.commands = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_email_goes_to_the_owner_over_smtp(tmp_path: Path, engine: Engine,
                                           smtp_server: Any) -> None:
    port = smtp_server.server_address[1]
    ruleset = setup(tmp_path, engine, RULES.split("[[notify]]")[0] + f"""
[[notify]]
name = "mail"
sink = "email"
[notify.settings]
host = "127.0.0.1"
port = {port}
security = "none"
sender = "crmhub@acme.fr"
""")
    stats = deliver(session_factory(engine), ruleset, SINKS, client(), T0)
    assert stats.delivered == 1
    assert "RCPT TO:<ALICE@ACME.FR>" in smtp_server.commands
    [message] = smtp_server.messages
    assert "Subject: [crmhub] New lead: Lea Lead" in message
    assert "E-mail: lea@lead.org" in message
    assert "crmhub assign explain 1" in message


def test_sink_settings_are_validated_with_the_rules_file(tmp_path: Path) -> None:
    from hub.config import ConfigError

    path = tmp_path / "rules.toml"
    path.write_text(RULES.replace('url = "https://hooks.example.com/crmhub"',
                                  'ulr = "x"').replace("webhook", "webhok", 1) + """
[[notify]]
name = "mail"
sink = "email"
[notify.settings]
host = "smtp"
password = "inline"
sender = "a@b"
""")
    with pytest.raises(ConfigError) as caught:
        load_rules(path, {k.name: k for k in BUILTIN}, SINKS)
    found = {(i.key, i.message, i.hint) for i in caught.value.issues}
    assert ("notify[0 name=hook].sink", "unknown sink 'webhok'", "did you mean 'webhook'?") \
        in found
    assert any(k == "notify[1 name=mail].settings.password" and "never inline" in m
               for k, m, _ in found)


def test_a_manual_reassignment_email_names_who_made_it_and_their_note() -> None:
    """It said "Rule: fallback (manual)" and gave the previous owner a rule."""
    sink = EmailSink(EmailSink.Settings(host="smtp.example.com", sender="crmhub@acme.fr"),
                     None)  # type: ignore[arg-type]
    message = sink.message({"id": 9, "type": "contact.reassigned", "payload": {
        "contact_id": 4, "owner": {"id": "bob", "emails": ["bob@acme.fr"]},
        "owner_id": "bob", "queue": None, "previous_owner": "alice", "rule": None,
        "strategy": "manual", "reason": "manual", "by": "marie",
        "note": "Bob knows this account", "contact": {"name": "Lea Lead"}}})
    assert message is not None
    body = message.get_content()
    assert "Assigned by marie by hand: Bob knows this account" in body
    assert "Previously: alice\n" in body
    assert "Rule:" not in body and "fallback" not in body


def _sink(**settings: Any) -> EmailSink:
    return EmailSink(EmailSink.Settings(host="smtp.example.com", sender="crmhub@acme.fr",
                                        **settings), None)  # type: ignore[arg-type]


def test_the_owner_a_lead_leaves_is_copied_on_its_reassignment() -> None:
    message = _sink().message({"id": 3, "type": "contact.reassigned", "payload": {
        "contact_id": 4, "owner": {"id": "bob", "emails": ["bob@acme.fr"]},
        "previous": {"id": "alice", "emails": ["alice@acme.fr"]}, "previous_owner": "alice",
        "rule": "fr", "strategy": "round_robin", "reason": "sla", "contact": {}}})
    assert message is not None
    assert (message["To"], message["Cc"]) == ("bob@acme.fr", "alice@acme.fr")


def test_a_lead_left_in_a_teams_queue_goes_to_its_manager_unless_queue_to_is_set() -> None:
    event = {"id": 5, "type": "contact.assigned", "payload": {
        "contact_id": 4, "owner": None, "queue": "sales", "rule": None,
        "strategy": "fallback", "reason": "new",
        "queue_manager": {"id": "marie", "emails": ["marie@acme.fr"]}, "contact": {}}}
    to_manager = _sink().message(event)
    assert to_manager is not None and to_manager["To"] == "marie@acme.fr"
    shared = _sink(queue_to="sales@acme.fr").message(event)
    assert shared is not None and shared["To"] == "sales@acme.fr"


def test_an_opted_out_point_is_marked_in_the_message_and_never_written_to() -> None:
    event = {"id": 6, "type": "contact.assigned", "payload": {
        "contact_id": 4, "owner": {"id": "bob", "emails": ["bob@acme.fr"]},
        "rule": "fr", "strategy": "round_robin", "reason": "new",
        "contact": {"name": "Ada King", "email": "ada@king.io", "phone": "+33611223344",
                    "opt_out": ["ada@king.io"]}}}
    message = _sink().message(event)
    assert message is not None and message["To"] == "bob@acme.fr"
    body = message.get_content()
    assert "E-mail: ada@king.io (opted out: do not use)" in body
    assert "Phone: +33611223344\n" in body
    event["payload"]["contact"]["opt_out"] = ["BOB@acme.fr"]  # the owner's address too
    assert _sink().message(event) is None
