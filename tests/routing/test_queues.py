"""Queues declare their teams: the managers of those teams see the leads waiting there and
are told of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hub.config import ConfigError
from hub.routing.visibility import contact_filter
from hub.store.db import session_factory
from hub.store.model import Contact, OutboxEvent
from tests.routing.support import OWNERS, new_leads, routing_from

EVERYONE_AWAY = OWNERS.replace('extensions = ["201"]', 'extensions = ["201"]\n'
                               'out_of_office = [{ from = 2026-01-01, to = 2026-01-31 }]') \
    .replace('extensions = ["202"]', 'extensions = ["202"]\n'
             'out_of_office = [{ from = 2026-01-01, to = 2026-01-31 }]') \
    .replace('emails = ["chloe@acme.fr"]', 'emails = ["chloe@acme.fr"]\n'
             'out_of_office = [{ from = 2026-01-01, to = 2026-01-31 }]') + """
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"

[[queues]]
id = "to-qualify"
name = "To qualify"
teams = ["sales"]

[fallback]
queue = "to-qualify"
"""


def visible_to(engine: Engine, rules: str, tmp_path: Path, who: str) -> list[int]:
    routing = routing_from(tmp_path, rules)
    with session_factory(engine)() as session:
        return list(session.scalars(select(Contact.id).where(
            contact_filter(routing.ruleset, who)).order_by(Contact.id)))


def test_a_manager_sees_the_leads_waiting_in_a_queue_of_their_team(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, EVERYONE_AWAY)
    new_leads(engine, routing, [{"email": "a@x.org"}, {"email": "b@x.org"}])
    with session_factory(engine)() as session:
        assert set(session.scalars(select(Contact.team))) == {"to-qualify"}
        payloads = list(session.scalars(select(OutboxEvent.payload)))
    assert visible_to(engine, EVERYONE_AWAY, tmp_path, "marie") == [1, 2]
    assert visible_to(engine, EVERYONE_AWAY, tmp_path, "alice") == []  # a rep: her own
    # the queue's manager is told of each lead left there
    assert [p["queue_manager"]["id"] for p in payloads] == ["marie", "marie"]


def test_a_queue_of_another_team_stays_hidden_from_a_manager(
        tmp_path: Path, engine: Engine) -> None:
    rules = EVERYONE_AWAY.replace('teams = ["sales"]', 'teams = ["support"]').replace(
        '[[owners]]\nid = "marie"', '[[teams]]\nid = "support"\nmanager = "sven"\n\n'
        '[[owners]]\nid = "sven"\nrole = "manager"\n\n[[owners]]\nid = "marie"', 1)
    routing = routing_from(tmp_path, rules)
    new_leads(engine, routing, [{"email": "a@x.org"}])
    assert visible_to(engine, rules, tmp_path, "marie") == []
    assert visible_to(engine, rules, tmp_path, "sven") == [1]


def test_a_queue_naming_an_unknown_team_is_an_error_with_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        routing_from(tmp_path, EVERYONE_AWAY.replace('teams = ["sales"]', 'teams = ["sale"]'))
    [issue] = caught.value.issues
    assert issue.key == "queues[0 id=to-qualify].teams[0]"
    assert "unknown team 'sale'" in issue.message and "sales" in (issue.hint or "")


def test_a_fallback_queue_no_team_can_see_is_a_warning(tmp_path: Path) -> None:
    undeclared = EVERYONE_AWAY.replace('[[queues]]\nid = "to-qualify"\nname = "To qualify"\n'
                                       'teams = ["sales"]\n', '')
    ruleset = routing_from(tmp_path, undeclared).ruleset
    assert ruleset is not None
    [warning] = ruleset.warnings
    assert warning.key == "fallback.queue" and "only admins see" in warning.message
    declared = routing_from(tmp_path, EVERYONE_AWAY).ruleset
    assert declared is not None and declared.warnings == []
