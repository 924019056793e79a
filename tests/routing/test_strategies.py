"""Every strategy, every skip reason, first-match order, fallback and determinism."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from hub.routing.model import Assignment, Owner, RoundRobinState
from hub.store.db import make_engine, session_factory, upgrade
from hub.store.model import Company, Contact, OutboxEvent
from tests.postgres import sibling_database
from tests.routing.support import (
    ACCOUNT_OWNER_ONLY,
    MIGRATION,
    OWNERS,
    T0,
    add_contact,
    current,
    new_leads,
    owners_of,
    routing_from,
)


def test_round_robin_takes_turns_in_team_order_and_keeps_the_pointer(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "everyone"
strategy = "round_robin"
team = "sales"
""")
    new_leads(engine, routing, [{"email": f"l{i}@x.org"} for i in range(4)])
    new_leads(engine, routing, [{"email": "l5@x.org"}, {"email": "l6@x.org"}])
    assert list(owners_of(engine).values()) == ["alice", "bob", "chloe", "alice", "bob",
                                                "chloe"]
    with session_factory(engine)() as session:
        state = session.get(RoundRobinState, "rule:everyone")
        assert state is not None and state.last_owner == "chloe" and state.assigned == 6


def test_round_robin_turn_passes_to_the_next_in_line_when_the_last_owner_left_the_pool(
        tmp_path: Path, engine: Engine) -> None:
    rules = OWNERS + """
[[rules]]
name = "everyone"
strategy = "round_robin"
team = "sales"
"""
    new_leads(engine, routing_from(tmp_path, rules), [{"email": "l1@x.org"}])
    with session_factory(engine)() as session:
        state = session.get(RoundRobinState, "rule:everyone")
        assert state is not None and (state.last_owner, state.position) == ("alice", 1)
    # Anna takes Alice's place in the team: the turn is Bob's, where the pointer stands.
    anna = rules.replace('id = "alice"', 'id = "anna"').replace("alice@", "anna@")
    new_leads(engine, routing_from(tmp_path, anna), [{"email": "l2@x.org"}])
    assert current(engine, 2).owner == "bob"


def test_first_matching_rule_wins_and_later_rules_are_not_tried(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "big"
when = { "company.employees" = { gte = 500 } }
strategy = "fixed"
owner = "alice"

[[rules]]
name = "french"
when = { field = "contact.country", op = "eq", value = "fr" }
strategy = "fixed"
owner = "bob"

[[rules]]
name = "rest"
strategy = "fixed"
owner = "chloe"
""")
    new_leads(engine, routing, [
        {"email": "a@big.com", "company": "Big", "domain": "big.com", "employees": 900,
         "country": "FR"},
        {"email": "b@small.fr", "country": "FR"},
        {"email": "c@else.de", "country": "DE"}])
    assert list(owners_of(engine).values()) == ["alice", "bob", "chloe"]
    first = current(engine, 1)
    assert first.rule == "big" and first.strategy == "fixed" and first.by == "auto"
    assert first.explanation["first_match"] == 0
    assert [t["rule"] for t in first.explanation["tried"]] == ["big"]


def test_every_skip_reason_is_recorded_and_the_next_candidate_gets_the_lead(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, """
[settings]
timezone = "Europe/Paris"
[[owners]]
id = "gone"
active = false
[[owners]]
id = "away"
out_of_office = [{ from = 2026-01-01, to = 2026-01-09 }]
[[owners]]
id = "night"
timezone = "America/Los_Angeles"
[[owners]]
id = "full"
capacity = 1
[[owners]]
id = "daily"
daily_cap = 1
[[owners]]
id = "monthly"
monthly_cap = 1
[[owners]]
id = "ok"

[[rules]]
name = "list"
strategy = "fixed"
owner = "gone"
backups = ["away", "night", "full", "daily", "monthly", "ok"]
working_hours_only = true
""")
    with session_factory(engine).begin() as session:
        add_contact(session, owner="full", email="held@x.org")
        session.add(Assignment(contact_id=1, owner="daily", strategy="fixed", reason="new",
                               by="auto", at=T0 - timedelta(hours=1), current=False))
        session.add(Assignment(contact_id=1, owner="monthly", strategy="fixed", reason="new",
                               by="auto", at=T0 - timedelta(days=3), current=False))
    new_leads(engine, routing, [{"email": "new@x.org"}])
    decision = current(engine, 2)
    assert decision.owner == "ok"
    reasons = {c["owner"]: c["skipped"] for c in decision.explanation["tried"][0]["candidates"]}
    assert reasons == {"gone": "inactive", "away": "out_of_office",
                       "night": "outside_working_hours", "full": "over_capacity",
                       "daily": "over_daily_cap", "monthly": "over_monthly_cap", "ok": None}
    assert decision.inputs["open"]["full"] == 1
    assert decision.inputs["day"]["daily"] == 1 and decision.inputs["month"]["monthly"] == 1


def test_nobody_available_falls_back_to_the_queue_never_silently_unassigned(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, """
[[owners]]
id = "gone"
active = false
[[rules]]
name = "only"
strategy = "fixed"
owner = "gone"
[fallback]
queue = "triage"
""")
    new_leads(engine, routing, [{"email": "x@y.org"}])
    decision = current(engine, 1)
    assert (decision.owner, decision.queue, decision.strategy) == (None, "triage", "fallback")
    assert decision.explanation["queue"]["why"] == "no rule found an available owner"
    with session_factory(engine)() as session:
        contact = session.get(Contact, 1)
        assert contact is not None and contact.team == "triage"
        event = session.scalars(select(OutboxEvent)).one()
        assert event.type == "contact.assigned" and event.payload["queue"] == "triage"


def test_fallback_owner_takes_leads_no_rule_matches(tmp_path: Path,
                                                    engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "german"
when = { "contact.country" = "DE" }
strategy = "fixed"
owner = "alice"
[fallback]
owner = "marie"
""")
    new_leads(engine, routing, [{"email": "x@y.org", "country": "IT"}])
    decision = current(engine, 1)
    assert decision.owner == "marie" and decision.explanation["fallback"]["why"] == \
        "no rule matched"


def test_weighted_round_robin_gives_leads_in_proportion_smoothly(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "weighted"
strategy = "weighted_round_robin"
owners = ["alice", "bob"]
weights = { alice = 3, bob = 1 }
""")
    new_leads(engine, routing, [{"email": f"l{i}@x.org"} for i in range(8)])
    assert list(owners_of(engine).values()) == ["alice", "alice", "bob", "alice"] * 2


def test_load_balanced_picks_the_lowest_open_leads_relative_to_capacity(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, """
[[owners]]
id = "big"
capacity = 10
[[owners]]
id = "small"
capacity = 2
[[rules]]
name = "balanced"
strategy = "load_balanced"
owners = ["big", "small"]
""")
    with session_factory(engine).begin() as session:
        for _ in range(3):
            add_contact(session, owner="big", stage="prospect")
        add_contact(session, owner="small")
        add_contact(session, owner="small", stage="customer")  # not open: not counted
    new_leads(engine, routing, [{"email": f"l{i}@x.org"} for i in range(3)])
    owners = list(owners_of(engine).values())[5:]
    # small 1/2=0.5 > big 3/10=0.3 -> big; 4/10 -> big; 5/10 = 0.5 ties small 0.5 -> big
    # (pool order breaks ties)
    assert owners == ["big", "big", "big"]
    decision = current(engine, 6)
    assert decision.explanation["tried"][0]["note"]["load"] == {"big": 0.3, "small": 0.5}


def test_load_balanced_rule_caps_apply_per_day(tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, """
[[owners]]
id = "a"
[[owners]]
id = "b"
[[rules]]
name = "balanced"
strategy = "load_balanced"
owners = ["a", "b"]
daily_cap = 1
[fallback]
queue = "overflow"
""")
    new_leads(engine, routing, [{"email": f"l{i}@x.org"} for i in range(3)])
    assert list(owners_of(engine).values()) == ["a", "b", None]
    assert current(engine, 3).queue == "overflow"
    new_leads(engine, routing, [{"email": "next-day@x.org"}], now=T0 + timedelta(days=1))
    assert owners_of(engine)[4] == "a"


ACCOUNT_THEN_CHLOE = OWNERS + """
[[rules]]
name = "account"
strategy = "account"
[[rules]]
name = "rest"
strategy = "fixed"
owner = "chloe"
"""


def test_account_strategy_follows_the_company_owner_then_colleagues(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, ACCOUNT_THEN_CHLOE)
    with session_factory(engine).begin() as session:
        add_contact(session, email="boss@globex.com", company="Globex", domain="globex.com",
                    owner="bob")
        add_contact(session, email="cto@globex.com", company="Globex", domain="globex.com",
                    owner="bob")
        add_contact(session, email="x@initech.com", company="Initech", domain="initech.com",
                    owner="alice")
    new_leads(engine, routing, [
        {"email": "new@globex.com", "company": "Globex", "domain": "globex.com"},
        {"email": "other@initech.com"},  # no company link: found by e-mail domain
        {"email": "solo@nowhere.org"}])
    owners = owners_of(engine)
    assert (owners[4], owners[5], owners[6]) == ("bob", "alice", "chloe")
    assert current(engine, 6).explanation["tried"][0]["outcome"] == "no candidate"


def test_reassigning_under_an_account_rule_a_contact_never_votes_for_its_own_owner(
        tmp_path: Path, engine: Engine) -> None:
    """`assign run --reassign` under new rules: a lead alone at its company has no
    colleague, so the account rule finds nobody (its own owner is no colleague's); two
    leads at one company follow each other."""
    first = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "rr"
strategy = "round_robin"
owners = ["alice", "bob"]
""")
    new_leads(engine, first, [{"email": "a@solo.com", "company": "Solo", "domain": "solo.com"},
                              {"email": "b@duo.com", "company": "Duo", "domain": "duo.com"},
                              {"email": "c@duo.com", "company": "Duo", "domain": "duo.com"}])
    assert owners_of(engine) == {1: "alice", 2: "bob", 3: "alice"}
    accounts = routing_from(tmp_path, ACCOUNT_THEN_CHLOE)
    with session_factory(engine).begin() as session:
        accounts.on_demand(session, T0 + timedelta(hours=1), reassign=True)
    solo = current(engine, 1)
    assert (solo.owner, solo.rule) == ("chloe", "rest")
    assert solo.explanation["tried"][0]["outcome"] == "no candidate"
    # b follows c's owner (alice), then c follows b, now alice's too
    assert owners_of(engine) == {1: "chloe", 2: "alice", 3: "alice"}


def test_account_strategy_prefers_the_company_owner_over_the_colleagues_owner(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "account"
strategy = "account"
""")
    with session_factory(engine).begin() as session:
        for n in range(2):
            add_contact(session, email=f"c{n}@globex.com", company="Globex", domain="globex.com",
                        owner="bob")
        company = session.get(Company, 1)
        assert company is not None
        company.owner = "chloe"  # the account manager of Globex
    new_leads(engine, routing, [
        {"email": "new@globex.com", "company": "Globex", "domain": "globex.com"}])
    decision = current(engine, 3)
    assert decision.owner == "chloe"
    assert decision.explanation["tried"][0]["note"]["account_owners"] == ["chloe", "bob"]


def test_account_strategy_without_same_domain_follows_the_company_owner_only(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, ACCOUNT_OWNER_ONLY)
    with session_factory(engine).begin() as session:
        add_contact(session, email="boss@globex.com", company="Globex", domain="globex.com",
                    owner="bob")
        add_contact(session, email="x@initech.com", company="Initech", domain="initech.com",
                    owner="bob")
        initech = session.get(Company, 2)
        assert initech is not None
        initech.owner = "alice"
    new_leads(engine, routing, [
        {"email": "new@globex.com", "company": "Globex", "domain": "globex.com"},
        {"email": "new@initech.com", "company": "Initech", "domain": "initech.com"}])
    assert (current(engine, 3).queue, current(engine, 4).owner) == (
        "triage", "alice")


def test_round_robin_owner_skipped_while_away_loses_that_turn(
        tmp_path: Path, engine: Engine) -> None:
    away = 'id = "alice"\nout_of_office = [{ from = 2026-01-05, to = 2026-01-05 }]\n'
    routing = routing_from(tmp_path, OWNERS.replace('id = "alice"\n', away) + """
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"
""")
    new_leads(engine, routing, [{"email": "l1@x.org"}])  # alice's turn: she is away
    new_leads(engine, routing, [{"email": "l2@x.org"}, {"email": "l3@x.org"}],
              now=T0 + timedelta(days=1))
    assert list(owners_of(engine).values()) == ["bob", "chloe", "alice"]


def test_territory_uses_the_most_specific_match(tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "geo"
strategy = "territory"
territories = [
  { countries = ["FR"], owners = ["alice"] },
  { countries = ["FR"], postcodes = ["75", "92"], owners = ["bob"] },
  { countries = ["FR"], postcodes = ["750"], owners = ["chloe"] },
  { countries = ["BE", "LU"], team = "sales" },
]
[fallback]
owner = "marie"
""")
    new_leads(engine, routing, [
        {"country": "FR", "address": {"postcode": "69001"}},
        {"country": "FR", "address": {"postcode": "92100"}},
        {"country": "FR", "address": {"postcode": "75008"}},
        {"country": "BE"}, {"country": "BE"},
        {"country": "US"}])
    assert list(owners_of(engine).values()) == ["alice", "bob", "chloe", "alice", "bob",
                                                "marie"]


def test_territory_prefers_the_longest_postcode_prefix_within_an_entry_and_across_entries(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "geo"
strategy = "territory"
territories = [
  { postcodes = ["75", "7500"], owners = ["alice"] },
  { postcodes = ["750"], owners = ["bob"] },
]
""")
    new_leads(engine, routing, [{"address": {"postcode": "75008"}},   # 7500 beats 750
                                {"address": {"postcode": "75116"}}])  # only 75
    assert list(owners_of(engine).values()) == ["alice", "alice"]


def test_territory_ties_go_to_the_first_entry_in_the_file(tmp_path: Path,
                                                           engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "geo"
strategy = "territory"
territories = [
  { countries = ["FR"], postcodes = ["69"], owners = ["alice"] },
  { countries = ["FR"], postcodes = ["69"], owners = ["bob"] },
  { countries = ["FR"], owners = ["chloe"] },
  { countries = ["FR"], owners = ["marie"] },
]
""")
    new_leads(engine, routing, [{"country": "FR", "address": {"postcode": "69001"}},
                                {"country": "FR", "address": {"postcode": "13001"}}])
    assert list(owners_of(engine).values()) == ["alice", "chloe"]


def test_routing_is_deterministic_for_the_same_input(tmp_path: Path, db_url: str,
                                                     engine: Engine) -> None:
    rules = OWNERS + """
[[rules]]
name = "weighted"
when = { "contact.country" = "FR" }
strategy = "weighted_round_robin"
team = "sales"
weights = { alice = 2 }
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"
"""
    leads = [{"email": f"l{i}@x.org", "country": "FR" if i % 3 else "DE"} for i in range(12)]
    results = []
    with sibling_database(db_url, tmp_path) as other_url:
        other = make_engine(other_url)
        upgrade(other)
        for run in (engine, other):
            routing = routing_from(tmp_path, rules)
            for start in range(0, 12, 5):
                new_leads(run, routing, leads[start:start + 5])
            results.append(list(owners_of(run).values()))
        other.dispose()
    assert results[0] == results[1]
    # DE leads (0, 3, 6, 9) take turns: alice, bob, chloe, alice. FR leads get the smooth
    # weighted turn of alice:bob:chloe = 2:1:1: a b c a, a b c a.
    assert results[0] == ["alice", "alice", "bob", "bob", "chloe", "alice", "chloe", "alice",
                          "bob", "alice", "chloe", "alice"]


def test_migration_connector_routes_and_notifies_nobody(tmp_path: Path,
                                                        engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"
""")
    assert new_leads(engine, routing, [{"email": "a@b.org"}], connector=MIGRATION) == []
    with session_factory(engine)() as session:
        assert session.scalars(select(Assignment)).all() == []
        assert session.scalars(select(OutboxEvent)).all() == []


def test_owners_removed_from_the_file_become_inactive_and_their_leads_move(
        tmp_path: Path, engine: Engine) -> None:
    rules = OWNERS + """
[[rules]]
name = "rr"
strategy = "round_robin"
owners = ["alice", "bob"]
"""
    routing = routing_from(tmp_path, rules)
    new_leads(engine, routing, [{"email": "a@x.org"}, {"email": "b@x.org"}])
    without_bob = rules.replace('id = "bob"\nteam = "sales"', 'id = "bob"\nactive = false\n'
                                'team = "sales"').replace('owners = ["alice", "bob"]',
                                                          'team = "sales"')
    routing = routing_from(tmp_path, without_bob.replace(
        '[[owners]]\nid = "chloe"\nteam = "sales"\nemails = ["chloe@acme.fr"]\n', ""))
    with session_factory(engine).begin() as session:
        moved = routing.after_batch(session, connector=MIGRATION, new_contact_ids=[],
                                    changed_contact_ids=[1, 2], now=T0 + timedelta(hours=1))
        assert [(m["contact_id"], m["previous_owner"], m["owner"], m["reason"])
                for m in moved] == [(2, "bob", "alice", "owner_inactive")]
    with session_factory(engine)() as session:
        assert {o.id: o.active for o in session.scalars(select(Owner))} == {
            "marie": True, "alice": True, "bob": False, "chloe": False}
        event = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id.desc())).first()
        assert event is not None and event.type == "contact.reassigned"
        assert event.payload["previous_owner"] == "bob"
        assert event.payload["owner"]["emails"] == ["alice@acme.fr"]


def test_a_lead_still_waiting_in_its_queue_is_not_announced_again_by_assign_run(
        tmp_path: Path, engine: Engine) -> None:
    """One lead got three contact.assigned events from three `crmhub assign run`."""
    routing = routing_from(tmp_path, OWNERS + '[fallback]\nqueue = "triage"\n')
    new_leads(engine, routing, [{"email": "waiting@x.org"}])
    for hour in (1, 2):
        with session_factory(engine).begin() as session:
            assert routing.on_demand(session, T0 + timedelta(hours=hour)) == []
    with session_factory(engine)() as session:
        assignments = session.scalars(select(Assignment)).all()
        events = session.scalars(select(OutboxEvent.type)).all()
    assert [(a.queue, a.current) for a in assignments] == [("triage", True)]
    assert events.count("contact.assigned") == 1


def test_a_manual_assignment_event_says_who_made_it_and_why(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + '[fallback]\nqueue = "triage"\n')
    new_leads(engine, routing, [{"email": "lead@x.org"}])
    with session_factory(engine).begin() as session:
        contact = session.scalars(select(Contact.id)).one()
        routing.assign_manual(session, contact, "bob", actor="marie", now=T0,
                              note="Bob knows this account")
    with session_factory(engine)() as session:
        (payload,) = [p for p in session.scalars(select(OutboxEvent.payload))
                      if p.get("strategy") == "manual"]
    assert {k: payload[k] for k in ("owner_id", "strategy", "by", "note")} == {
        "owner_id": "bob", "strategy": "manual", "by": "marie",
        "note": "Bob knows this account"}


def test_events_name_the_queues_team_manager_and_the_owner_a_lead_leaves(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + '[fallback]\nqueue = "sales"\n')
    new_leads(engine, routing, [{"email": "lead@x.org"}])  # no rule: the sales queue
    with session_factory(engine).begin() as session:
        contact = session.scalars(select(Contact.id)).one()
        routing.assign_manual(session, contact, "bob", actor="marie", now=T0)
        routing.assign_manual(session, contact, "alice", actor="marie", now=T0)
    with session_factory(engine)() as session:
        queued, to_bob, to_alice = session.scalars(
            select(OutboxEvent.payload).order_by(OutboxEvent.id)).all()
    assert queued["queue"] == "sales" and queued["queue_manager"]["id"] == "marie"
    assert queued["queue_manager"]["emails"] == ["marie@acme.fr"]
    assert "previous" not in to_bob  # it left a queue, not an owner
    assert to_alice["previous"] == {"id": "bob", "name": "bob", "emails": ["bob@acme.fr"],
                                    "team": "sales"}


def test_the_owner_of_a_merged_contact_is_told_the_lead_went_to_the_survivors_owner(
        tmp_path: Path, engine: Engine) -> None:
    from hub.match.resolve import merge_contacts

    routing = routing_from(tmp_path, OWNERS)
    with session_factory(engine).begin() as session:
        kept = add_contact(session, email="a@x.org", owner="bob")
        gone = add_contact(session, email="b@x.org", owner="alice")
        unowned = add_contact(session, email="c@x.org")
        merge_contacts(session, kept, gone, reason="review", decided_by="user", score=1.0,
                       now=T0)
        merge_contacts(session, kept, unowned, reason="review", decided_by="user",
                       score=1.0, now=T0)
        routing.after_merges(session, [kept], T0)
    with session_factory(engine)() as session:
        (payload,) = session.scalars(select(OutboxEvent.payload).where(
            OutboxEvent.type == "contact.reassigned")).all()
    assert (payload["contact_id"], payload["owner_id"], payload["previous_owner"],
            payload["strategy"]) == (kept, "bob", "alice", "merge")
    assert payload["previous"]["emails"] == ["alice@acme.fr"]
