"""The daemon's routing pass: SLA re-routes and notification deliveries, through a Hub."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import responses
from sqlalchemy import Engine

from hub.config import ConfigError
from hub.routing.engine import Routing
from hub.service import routing as chores
from hub.service.runtime import Hub
from hub.store.db import session_factory
from tests.routing.support import LEADS, OWNERS, T0, add_contact, current


def write_config(tmp_path: Path, rules: str, url: str | None = None) -> Path:
    (tmp_path / "rules.toml").write_text(rules, encoding="utf-8")
    config = tmp_path / "crmhub.toml"
    url = url or f"sqlite:///{tmp_path / 'hub.db'}"
    config.write_text(f'[hub]\ndatabase_url = "{url}"\nrules = "rules.toml"\n',
                      encoding="utf-8")
    return config


@responses.activate
def test_a_pass_reroutes_overdue_leads_and_delivers_their_notifications(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "k")
    url = engine.url.render_as_string(hide_password=False)  # migrated: PostgreSQL needs it
    hub = Hub.open(write_config(tmp_path, url=url, rules=OWNERS + """
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"
sla = "2h"
[[notify]]
name = "hook"
sink = "webhook"
[notify.settings]
url = "https://hooks.example.com/x"
secret = { env = "HOOK_SECRET" }
"""))
    hub.http.max_attempts = 1
    responses.post("https://hooks.example.com/x", status=200)
    routing = hub.pipeline.routing  # the pass routes with the pipeline's rules
    with session_factory(hub.engine).begin() as session:
        contact = add_contact(session, email="lead@x.org")
        routing.after_batch(session, connector=LEADS, new_contact_ids=[contact],
                            changed_contact_ids=[], now=T0)
    first = chores.housekeeping(hub, T0 + timedelta(minutes=1))
    assert first["delivered"] == 1 and first["sla"] == 0
    second = chores.housekeeping(hub, T0 + timedelta(hours=3))
    assert second["sla"] == 1 and second["delivered"] == 1
    assert current(hub.engine, contact).owner == "bob"
    sent = [json.loads(call.request.body) for call in responses.calls]
    assert [(e["type"], e["payload"]["owner_id"]) for e in sent] == [
        ("contact.assigned", "alice"), ("contact.reassigned", "bob")]
    assert sent[1]["payload"]["reason"] == "sla"
    hub.close()


def test_routing_without_files_is_a_no_op(tmp_path: Path) -> None:
    routing = Routing(None, None)
    assert not routing.enabled
    assert routing.after_batch(None, connector=LEADS, new_contact_ids=[1],  # type: ignore[arg-type]
                               changed_contact_ids=[2], now=T0) == []


def test_a_broken_rules_file_is_a_config_error_at_load(tmp_path: Path) -> None:
    from hub.config import load_config

    path = write_config(tmp_path, "[[rules]]\nname = 'x'\nstrategy = 'nope'\n")
    with pytest.raises(ConfigError, match="unknown strategy 'nope'"):
        Routing.load(load_config(path).config)
