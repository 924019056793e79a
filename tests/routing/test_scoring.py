"""Lead scoring (conditions, activity windows, caps, decay) and lifecycle transitions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hub.config import ConfigError
from hub.routing.model import ContactScore, StageChange
from hub.store.db import session_factory
from hub.store.model import Contact, Interaction, InteractionContact, OutboxEvent
from tests.routing.support import LEADS, MIGRATION, OWNERS, T0, add_contact, routing_from

SCORING = """
[[points]]
name = "decision maker"
when = { "contact.title" = { matches = "\\\\b(ceo|cto|director)\\\\b" } }
points = 20

[[points]]
name = "big company"
when = { "company.employees" = { gte = 500 } }
points = 15

[[activity]]
name = "inbound e-mails"
channel = "email"
direction = "inbound"
window = "14d"
points = 5
max = 12
"""


def mails(engine: Engine, contact_id: int, *ages_days: float) -> None:
    with session_factory(engine).begin() as session:
        for n, age in enumerate(ages_days):
            row = Interaction(connector="mail", external_id=f"{contact_id}-{n}-{age}",
                              channel="email", direction="inbound",
                              occurred_at=T0 - timedelta(days=age), participants=[])
            session.add(row)
            session.flush()
            session.add(InteractionContact(interaction_id=row.id, contact_id=contact_id,
                                           role="from"))


def score_of(engine: Engine, contact_id: int) -> tuple[float, list[dict[str, object]]]:
    with session_factory(engine)() as session:
        row = session.get(ContactScore, contact_id)
        contact = session.get(Contact, contact_id)
        assert row is not None and contact is not None and contact.score == row.score
        return row.score, row.breakdown


def test_points_per_condition_and_capped_activity_within_the_window(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, None, SCORING)
    with session_factory(engine).begin() as session:
        add_contact(session, title="CTO", company="Big", domain="big.com", employees=900)
        add_contact(session, title="intern")
    mails(engine, 1, 1, 2, 20)   # two in the window: 10
    mails(engine, 2, 1, 2, 3, 4)  # four: 20, capped at 12
    with session_factory(engine).begin() as session:
        routing.after_batch(session, connector=MIGRATION, new_contact_ids=[1, 2],
                            changed_contact_ids=[], now=T0)
    score, breakdown = score_of(engine, 1)
    assert score == 45
    assert [(b["name"], b["points"]) for b in breakdown] == [
        ("decision maker", 20), ("big company", 15), ("inbound e-mails", 10)]
    assert score_of(engine, 2)[0] == 12


def test_decay_halves_activity_points_per_half_life(tmp_path: Path,
                                                     engine: Engine) -> None:
    routing = routing_from(tmp_path, None, SCORING.replace("max = 12", "") +
                           '[decay]\nhalf_life = "7d"\n')
    with session_factory(engine).begin() as session:
        add_contact(session)
    mails(engine, 1, 0, 7)
    with session_factory(engine).begin() as session:
        routing.after_batch(session, connector=MIGRATION, new_contact_ids=[1],
                            changed_contact_ids=[], now=T0)
    assert score_of(engine, 1)[0] == 7.5
    with session_factory(engine).begin() as session:
        assert routing.scoring is not None
        assert routing.scoring.rescore_decayed(session, T0 + timedelta(days=7)) == 1
    assert score_of(engine, 1)[0] == pytest.approx(3.75)


def test_score_is_usable_in_routing_rules(tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "hot"
when = { score = { gte = 30 } }
strategy = "fixed"
owner = "alice"
[[rules]]
name = "rest"
strategy = "fixed"
owner = "bob"
""", SCORING)
    with session_factory(engine).begin() as session:
        ids = [add_contact(session, title="CEO", employees=900, company="X", domain="x.com"),
               add_contact(session, title="CEO")]
        routing.after_batch(session, connector=LEADS, new_contact_ids=ids,
                            changed_contact_ids=[], now=T0)
    with session_factory(engine)() as session:
        owners = {c.id: c.owner for c in session.scalars(select(Contact))}
    assert owners == {1: "alice", 2: "bob"}


LIFECYCLE = """
[lifecycle]
stages = ["lead", "prospect", "customer", "loyal", "lost"]
[[lifecycle.transitions]]
to = "prospect"
when = { score = { gte = 20 } }
[[lifecycle.transitions]]
to = "customer"
when = { "contact.identifiers.customer_number" = { exists = true } }
[[lifecycle.transitions]]
to = "lost"
from = ["customer", "loyal"]
when = { tags = { contains = "churned" } }
[[lifecycle.transitions]]
to = "lead"
when = { tags = { contains = "churned" } }
"""


def test_lifecycle_moves_forward_several_steps_and_to_lost_but_never_back(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, None, SCORING + LIFECYCLE)
    with session_factory(engine).begin() as session:
        add_contact(session, title="CEO")                                      # -> prospect
        add_contact(session, identifiers={"customer_number": "C1"})             # -> customer
        add_contact(session, stage="customer", tags=["churned"])                # -> lost
        add_contact(session, stage="prospect", tags=["new"])                    # stays
        routing.after_batch(session, connector=MIGRATION, new_contact_ids=[1, 2, 3, 4],
                            changed_contact_ids=[], now=T0)
    with session_factory(engine)() as session:
        stages = {c.id: c.stage for c in session.scalars(select(Contact))}
        changes = [(s.contact_id, s.from_stage, s.to_stage) for s in
                   session.scalars(select(StageChange).order_by(StageChange.id))]
        events = [e.payload for e in session.scalars(select(OutboxEvent))]
    assert stages == {1: "prospect", 2: "customer", 3: "lost", 4: "prospect"}
    assert changes == [(1, "lead", "prospect"), (2, "lead", "customer"),
                       (3, "customer", "lost")]
    assert {"contact_id": 3, "from": "customer", "to": "lost"} in events
    # lost stays lost; a "back to lead" rule never applies
    with session_factory(engine).begin() as session:
        routing.after_batch(session, connector=MIGRATION, new_contact_ids=[],
                            changed_contact_ids=[3], now=T0 + timedelta(days=1))
        assert session.get(Contact, 3).stage == "lost"  # type: ignore[union-attr]


def test_invalid_scoring_file_names_entry_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        routing_from(tmp_path, None, """
[[points]]
name = "x"
when = { scor = { gte = 3 } }
points = 2
[[activity]]
name = "y"
points = 1
window = "often"
[lifecycle]
stages = ["lead", "won"]
[[lifecycle.transitions]]
to = "customer"
when = { score = { gt = 1 } }
""")
    keys = {issue.key: issue for issue in caught.value.issues}
    assert "a duration" in keys["activity[0 name=y].window"].message
    with pytest.raises(ConfigError) as caught:
        routing_from(tmp_path, None, """
[[points]]
name = "x"
when = { scor = { gte = 3 } }
points = 2
[lifecycle]
stages = ["lead", "won"]
lost = "won"
[[lifecycle.transitions]]
to = "customer"
when = { score = { gt = 1 } }
""")
    keys = {issue.key: issue for issue in caught.value.issues}
    assert keys["points[0 name=x].when.scor"].hint == "did you mean 'score'?"
    assert keys["lifecycle.transitions[0].to"].message == "unknown stage 'customer'"


def test_open_leads_are_rescored_when_the_scoring_file_changed(
        tmp_path: Path, engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        lead = add_contact(session, title="CEO")
        customer = add_contact(session, title="CEO", stage="customer")
        routing_from(tmp_path, None, SCORING).after_batch(
            session, connector=MIGRATION, new_contact_ids=[lead, customer],
            changed_contact_ids=[], now=T0)
    assert score_of(engine, lead)[0] == 20
    # the file changes while no batch touches the contact: the daemon's first pass after
    # a start or a reload rescores open leads (and the transitions run), later ones don't
    changed = SCORING.replace("points = 20", "points = 30") + LIFECYCLE
    routing = routing_from(tmp_path, None, changed)
    with session_factory(engine).begin() as session:
        assert routing.periodic(session, T0 + timedelta(minutes=1))["rescored"] == 1
        assert routing.periodic(session, T0 + timedelta(minutes=2))["rescored"] == 0
    assert score_of(engine, lead)[0] == 30
    assert score_of(engine, customer)[0] == 20  # no open lead: left alone
    with session_factory(engine)() as session:
        assert session.get(Contact, lead).stage == "prospect"  # type: ignore[union-attr]
    # `crmhub assign run` rescores too, before it routes
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "hot"
when = { score = { gte = 40 } }
strategy = "fixed"
owner = "alice"
""", changed.replace("points = 30", "points = 40"))
    with session_factory(engine).begin() as session:
        routed = routing.on_demand(session, T0 + timedelta(minutes=3))
    assert [(r.contact_id, r.owner) for r in routed] == [(lead, "alice")]
    assert score_of(engine, lead)[0] == 40


def test_contacts_are_rescored_when_their_company_changes(
        tmp_path: Path, engine: Engine) -> None:
    from hub.config import ConnectorConfig, HubConfig, HubSection
    from hub.connectors import Batch
    from hub.ingest.pipeline import Pipeline
    from hub.records import Observation

    pipeline = Pipeline(engine, HubConfig(hub=HubSection()), clock=lambda: T0)
    pipeline.routing = routing_from(tmp_path, None, SCORING)
    with session_factory(engine).begin() as session:
        contact = add_contact(session, company="Big", domain="big.com", employees=10)
        pipeline.routing.after_batch(session, connector=MIGRATION, new_contact_ids=[contact],
                                     changed_contact_ids=[], now=T0)
    assert score_of(engine, contact)[0] == 0
    pipeline.clock = lambda: T0 + timedelta(hours=1)
    pipeline.ingest(ConnectorConfig(name="erp", kind="csv"), Batch([Observation(
        kind="company", external_id="big", observed_at=T0 + timedelta(hours=1),
        company={"name": "Big", "domains": ["big.com"], "employees": 900})]))
    assert score_of(engine, contact) == (15, [
        {"name": "big company", "points": 15, "kind": "condition"}])
