"""Replay: an unchanged rule set reproduces live routing exactly; a draft shows what moves."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, func, select

from hub.routing.model import Assignment, RoundRobinState
from hub.routing.replay import parse_since, replay
from hub.store.db import session_factory
from hub.store.model import Base, Contact, ContactPoint
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
    assert (report.sla_not_rerouted, report.sla_rerouted) == (0, 0)
    with session_factory(engine)() as session:
        leads = session.scalar(select(func.count(func.distinct(Assignment.contact_id))))
    assert report.leads == leads < total  # leads, each once, not decisions
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


# -- the replay predicts what a live run of the draft does ---------------------------------

PLAIN = OWNERS + """
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"
"""
ACCOUNTS_FIRST = OWNERS + """
[[rules]]
name = "accounts"
strategy = "account"
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"
"""


def leads_in_batches(tmp_path: Path, engine: Engine, rules: str) -> dict[str, str | None]:
    """The same seeded leads, colleagues at a handful of companies, routed live by
    ``rules``: each lead's owner, by e-mail."""
    rng = random.Random(11)
    routing = routing_from(tmp_path, rules)
    for hour in range(0, 48, 2):
        batch = []
        for _ in range(rng.randint(1, 3)):
            domain = rng.choice([f"co{i}.com" for i in range(5)])
            batch.append({"email": f"{rng.randrange(10**9)}@{domain}", "company": domain,
                          "domain": domain})
        new_leads(engine, routing, batch, now=T0 + timedelta(hours=hour))
    with session_factory(engine)() as session:
        return {email: owner for email, owner in session.execute(
            select(ContactPoint.value, Contact.owner)
            .join(Contact, Contact.id == ContactPoint.contact_id))}


def wipe(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))


def test_a_replayed_draft_gives_the_owners_a_live_run_of_that_draft_gives(
        tmp_path: Path, engine: Engine) -> None:
    """Colleagues follow the first lead at their company through the account rule: the
    replay must use the owners the draft itself gave the colleagues, not the recorded
    ones, and the round-robin turns the draft did not take."""
    leads_in_batches(tmp_path, engine, PLAIN)
    draft = routing_from(tmp_path, ACCOUNTS_FIRST).ruleset
    assert draft is not None
    with session_factory(engine)() as session:
        report = replay(session, draft, since=T0 - timedelta(days=1))
        email_of = {c: e for c, e in session.execute(
            select(ContactPoint.contact_id, ContactPoint.value))}
    predicted = {email_of[c]: after for c, (_, after) in report.leads_by_contact.items()}
    assert report.changed > 0
    wipe(engine)
    live = leads_in_batches(tmp_path, engine, ACCOUNTS_FIRST)
    assert predicted == live


SLA_RULES = OWNERS + """
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"
sla = "{sla}"
[fallback]
queue = "to-qualify"
"""


def test_a_draft_that_only_lengthens_an_sla_shows_the_reroutes_that_would_not_happen(
        tmp_path: Path, engine: Engine) -> None:
    live = routing_from(tmp_path, SLA_RULES.format(sla="1m"))
    new_leads(engine, live, [{"email": f"l{n}@x.org"} for n in range(3)])
    for minute in range(1, 5):  # nobody answers: every lead goes round, then to the queue
        with session_factory(engine).begin() as session:
            live.reroute_sla(session, T0 + timedelta(minutes=minute))
    draft = routing_from(tmp_path, SLA_RULES.format(sla="8h")).ruleset
    assert draft is not None
    with session_factory(engine)() as session:
        decisions = session.scalar(select(func.count()).select_from(Assignment)) or 0
        report = replay(session, draft, since=T0, now=T0 + timedelta(minutes=10))
    assert report.decisions == decisions > 3
    assert report.sla_not_rerouted == decisions - 3 and report.sla_rerouted == 0
    data = report.as_dict()
    owners = {o["owner"]: (o["before"], o["after"]) for o in data["owners"]}
    # before: the three leads wait in the queue; after: each stays with its first owner
    assert owners == {"queue:to-qualify": (3, 0), "alice": (0, 1), "bob": (0, 1),
                      "chloe": (0, 1)}
    assert report.leads == 3 and report.changed == 3


def test_a_draft_that_shortens_an_sla_shows_the_reroutes_only_it_would_make(
        tmp_path: Path, engine: Engine) -> None:
    live = routing_from(tmp_path, SLA_RULES.format(sla="8h"))
    new_leads(engine, live, [{"email": "a@x.org"}])
    draft = routing_from(tmp_path, SLA_RULES.format(sla="1h")).ruleset
    assert draft is not None
    with session_factory(engine)() as session:
        report = replay(session, draft, since=T0, now=T0 + timedelta(hours=1, minutes=30))
    assert (report.sla_not_rerouted, report.sla_rerouted) == (0, 1)
    assert report.leads_by_contact == {1: ("alice", "bob")}
