"""The engine's own choices: which contacts a batch or a pass routes, and what it leaves."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, select

from hub.routing.engine import OWNER_INACTIVE, Routing
from hub.routing.facts import load_facts
from hub.routing.model import Assignment, StageChange
from hub.routing.rules import load_rules
from hub.routing.scoring import load_scoring
from hub.routing.strategies import BUILTIN
from hub.store.db import session_factory
from hub.store.model import Contact, Interaction, InteractionContact, OutboxEvent, table_of
from tests.routing.support import (
    LEADS,
    OWNERS,
    T0,
    add_contact,
    current,
    new_leads,
    owners_of,
    routing_from,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "config"
RR = OWNERS + """
[[rules]]
name = "rr"
strategy = "round_robin"
owners = ["alice", "bob"]
"""


def shipped_routing() -> Routing:
    """The commented example files in config/, as an install starts with them."""
    return Routing(load_rules(EXAMPLES / "rules.toml", {k.name: k for k in BUILTIN}),
                   load_scoring(EXAMPLES / "scoring.toml"))


def test_a_new_lead_the_lifecycle_promotes_in_its_own_batch_is_still_routed(
        engine: Engine) -> None:
    routing = shipped_routing()
    with session_factory(engine).begin() as session:
        hot = add_contact(session, email="ceo@initech.com", company="Initech",
                          domain="initech.com", employees=300, title="CEO",
                          full_name="Hot Lead")
        for n in range(2):  # two inbound e-mails just now: +5 each (no decay yet)
            mail = Interaction(connector="web-forms", external_id=f"in-{n}", channel="email",
                               direction="inbound", occurred_at=T0, participants=[])
            session.add(mail)
            session.flush()
            session.add(InteractionContact(interaction_id=mail.id, contact_id=hot, role="from"))
        cold = add_contact(session, email="someone@gmail.com", country="DE")
        customer = add_contact(session, email="buyer@gmail.com",
                               identifiers={"customer_number": "C-1"})
        routed = routing.after_batch(session, connector=LEADS,
                                     new_contact_ids=[hot, cold, customer],
                                     changed_contact_ids=[], now=T0)
    assert {r["contact_id"] for r in routed} == {hot, cold}
    lead = current(engine, hot)
    # 25 (CEO) + 15 (200+ employees) + 10 (work address) + 2 x 5 (inbound e-mails) = 60:
    # the lifecycle made it a prospect and the score >= 60 rule could still fire.
    assert (lead.owner, lead.rule, lead.reason, lead.sla_state) == (
        "chloe", "enterprise", "new", "pending")
    assert lead.inputs["facts"]["score"] == 60 and lead.inputs["facts"]["stage"] == "prospect"
    assert current(engine, cold).rule == "everyone-else"
    with session_factory(engine)() as session:
        assert [(s.contact_id, s.to_stage) for s in session.scalars(
            select(StageChange).order_by(StageChange.id))] == [
            (hot, "prospect"), (customer, "customer")]
        events = [(e.type, e.payload.get("contact_id")) for e in session.scalars(
            select(OutboxEvent).order_by(OutboxEvent.id))]
        # a contact that became a customer in its first batch is not an open lead to route
        assert session.scalars(select(Assignment).where(
            Assignment.contact_id == customer)).all() == []
    assert ("contact.assigned", hot) in events and ("contact.assigned", customer) not in events


def test_the_periodic_pass_moves_leads_of_an_owner_removed_from_the_rules_file(
        tmp_path: Path, engine: Engine) -> None:
    new_leads(engine, routing_from(tmp_path, RR),
              [{"email": "a@x.org"}, {"email": "b@x.org"}])
    assert owners_of(engine) == {1: "alice", 2: "bob"}
    without_bob = RR.replace('[[owners]]\nid = "bob"\nteam = "sales"\nemails = ["bob@acme.fr"]\n'
                             'extensions = ["202"]\n', "").replace('"alice", "bob"', '"alice"')
    assert 'id = "bob"' not in without_bob
    with session_factory(engine).begin() as session:
        done = routing_from(tmp_path, without_bob).periodic(session, T0 + timedelta(hours=1))
    assert done["inactive"] == 1
    moved = current(engine, 2)
    assert (moved.owner, moved.previous_owner, moved.reason) == ("alice", "bob", OWNER_INACTIVE)


def test_manually_owned_contacts_of_an_inactive_owner_cannot_starve_the_automatic_ones(
        tmp_path: Path, engine: Engine) -> None:
    """500 contacts given to bob by hand come first by id; his one automatic lead still
    moves when he becomes inactive (the pass reads at most 500 contacts at a time)."""
    with session_factory(engine).begin() as session:
        session.execute(insert(table_of(Contact)), [
            {"owner": "bob", "stage": "lead", "created_at": T0, "updated_at": T0}
            for _ in range(500)])
        session.execute(insert(table_of(Assignment)), [
            {"contact_id": n, "owner": "bob", "strategy": "manual", "reason": "manual",
             "by": "user", "current": True, "at": T0, "explanation": {}, "inputs": {}}
            for n in range(1, 501)])
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "bob"
strategy = "fixed"
owner = "bob"
""")
    new_leads(engine, routing, [{"email": "auto@x.org"}])
    assert owners_of(engine)[501] == "bob"
    inactive = routing_from(tmp_path, RR.replace('id = "bob"\n', 'id = "bob"\nactive = false\n'))
    with session_factory(engine).begin() as session:
        done = inactive.periodic(session, T0 + timedelta(hours=1))
    assert done["inactive"] == 1
    owners = owners_of(engine)
    assert owners[501] == "alice"
    assert {owners[n] for n in range(1, 501)} == {"bob"}  # chosen by a person: they stay


def test_route_skips_a_contact_assigned_by_hand_after_it_was_selected(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, RR)
    new_leads(engine, routing, [{"email": "a@x.org"}, {"email": "b@x.org"}])
    sessions = session_factory(engine)
    with sessions() as session:
        seen = load_facts(session, [1, 2])  # what a pass chose its contacts from
    with sessions.begin() as session:
        routing.assign_manual(session, 1, "chloe", actor="marie", now=T0)
    with sessions.begin() as session:
        moved = routing.route(session, [(1, OWNER_INACTIVE), (2, OWNER_INACTIVE)],
                              T0 + timedelta(minutes=1), facts=seen)
    assert [m.contact_id for m in moved] == [2]
    kept = current(engine, 1)
    assert (kept.owner, kept.by) == ("chloe", "user")
    assert owners_of(engine)[1] == "chloe"


def test_route_skips_a_contact_whose_owner_was_set_by_hand_without_an_assignment(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, RR)
    new_leads(engine, routing, [{"email": "a@x.org"}])
    with session_factory(engine).begin() as session:
        contact = session.get(Contact, 1)
        assert contact is not None
        contact.owner = "marie"  # crmhub contacts set 1 owner=marie
    with session_factory(engine).begin() as session:
        assert routing.route(session, [(1, OWNER_INACTIVE)], T0) == []
    assert owners_of(engine)[1] == "marie"
