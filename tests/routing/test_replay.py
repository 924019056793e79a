"""Replay: an unchanged rule set reproduces live routing exactly; a draft shows what moves."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from hub.routing.model import Assignment, RoundRobinState
from hub.routing.replay import parse_since, replay
from hub.store.db import session_factory
from hub.store.model import Contact
from tests.routing.support import OWNERS, T0, add_contact, new_leads, routing_from

RULES = OWNERS + """
[[owners]]
id = "dan"
team = "sales"
capacity = 6
daily_cap = 4
out_of_office = [{ from = 2026-01-07, to = 2026-01-07 }]

[[rules]]
name = "big"
when = { "company.employees" = { gte = 500 } }
strategy = "load_balanced"
team = "sales"
[[rules]]
name = "accounts"
strategy = "account"
[[rules]]
name = "french"
when = { "contact.country" = "FR" }
strategy = "weighted_round_robin"
team = "sales"
weights = { alice = 3 }
[[rules]]
name = "rest"
strategy = "round_robin"
team = "sales"
working_hours_only = true
[fallback]
owner = "marie"
"""


def live_history(tmp_path: Path, engine: Engine, rules: str, days: int = 5) -> None:
    """Several days of leads in batches, at all hours, with SLA re-routes mixed in."""
    rng = random.Random(7)
    routing = routing_from(tmp_path, rules)
    domains = [f"co{i}.com" for i in range(6)]
    for hour in range(0, days * 24, 3):
        now = T0 + timedelta(hours=hour)
        batch = []
        for _ in range(rng.randint(1, 4)):
            domain = rng.choice(domains)
            batch.append({"email": f"{rng.random()}@{domain}", "country": rng.choice(
                ["FR", "DE", "FR", "BE"]), "company": domain, "domain": domain
                if rng.random() < 0.5 else None, "employees": rng.choice([10, 50, 900])})
        new_leads(engine, routing, batch, now=now)
        with session_factory(engine).begin() as session:
            routing.reroute_sla(session, now)
            # some leads close, so loads go down as well as up
            for contact in session.scalars(select(Contact).where(Contact.stage == "lead")
                                           .order_by(Contact.id).limit(2)):
                if rng.random() < 0.3:
                    contact.stage = "customer"


def test_replay_with_the_live_rules_reproduces_every_decision(tmp_path: Path,
                                                              engine: Engine) -> None:
    rules = RULES.replace('name = "rest"', 'name = "rest"\nsla = "2h"')
    live_history(tmp_path, engine, rules)
    routing = routing_from(tmp_path, rules)
    assert routing.ruleset is not None
    with session_factory(engine)() as session:
        total = session.scalar(select(func.count()).select_from(Assignment)) or 0
        reasons = set(session.scalars(select(Assignment.reason).distinct()))
        before = {r.key: r.position for r in session.scalars(select(RoundRobinState))}
        report = replay(session, routing.ruleset, since=T0 - timedelta(days=1))
        session.rollback()
        after = {r.key: r.position for r in session.scalars(select(RoundRobinState))}
    assert total > 80 and {"new", "sla"} <= reasons
    assert report.decisions == total
    assert report.same_ruleset
    assert report.changed == 0, report.moves[:5]
    assert report.before == report.after
    assert before == after  # nothing written


def test_replay_with_a_draft_reports_counts_before_after_and_the_leads_that_move(
        tmp_path: Path, engine: Engine) -> None:
    live_history(tmp_path, engine, RULES, days=2)
    draft = routing_from(tmp_path, RULES.replace('[[rules]]\nname = "big"', '''[[rules]]
name = "germany"
when = { "contact.country" = "DE" }
strategy = "fixed"
owner = "marie"
[[rules]]
name = "big"'''))
    assert draft.ruleset is not None
    with session_factory(engine)() as session:
        german = session.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.inputs["facts"]["contact.country"].as_string() == "DE")) or 0
        report = replay(session, draft.ruleset, since=T0)
    data = report.as_dict()
    assert not report.same_ruleset
    marie = next(o for o in data["owners"] if o["owner"] == "marie")
    assert marie["after"] - marie["before"] >= german > 0
    assert report.changed >= german
    assert all(m["after"] == "marie" for m in data["moves"] if m["rule_after"] == "germany")
    assert sum(o["before"] for o in data["owners"]) == sum(o["after"] for o in data["owners"])


def test_since_takes_a_duration_or_a_date() -> None:
    assert parse_since("30d", T0) == T0 - timedelta(days=30)
    assert parse_since("2026-01-01", T0).isoformat() == "2026-01-01T00:00:00+00:00"


def test_manual_assignments_are_not_replayed(tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, RULES)
    with session_factory(engine).begin() as session:
        add_contact(session, email="x@y.org")
        routing.assign_manual(session, 1, "bob", actor="marie", now=T0)
    assert routing.ruleset is not None
    with session_factory(engine)() as session:
        assert replay(session, routing.ruleset, since=T0).decisions == 0
