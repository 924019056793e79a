"""Lifecycle stages across merges, and transitions driven by events rather than conditions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub.config import ConfigError, ConnectorConfig, HubConfig, HubSection
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.match.resolve import merge_contacts
from hub.records import Observation
from hub.routing.model import StageChange
from hub.store.db import session_factory
from hub.store.model import Contact, MergeEvent, OutboxEvent
from tests.routing.support import MIGRATION, OWNERS, T0, add_contact, routing_from

STAGES = """
[lifecycle]
stages = ["lead", "prospect", "customer", "loyal", "lost"]
"""


def stages(engine: Engine) -> dict[int, str]:
    with session_factory(engine)() as session:
        return {c.id: c.stage for c in session.scalars(select(Contact).where(
            Contact.merged_into_id.is_(None)))}


def merge_pairs(engine: Engine, routing: Any, pairs: list[tuple[str, str]]) -> list[int]:
    """For each (survivor stage, merged stage) two contacts merged in one batch; returns
    the survivors."""
    with session_factory(engine).begin() as session:
        survivors = []
        for mine, theirs in pairs:
            survivor = add_contact(session, stage=mine)
            merged = add_contact(session, stage=theirs)
            merge_contacts(session, survivor, merged, reason="test", decided_by="auto",
                           score=1.0, now=T0)
            survivors.append(survivor)
        routing.after_batch(session, connector=MIGRATION, new_contact_ids=[],
                            changed_contact_ids=survivors, now=T0)
    return survivors


def test_a_merge_keeps_the_further_stage_and_an_active_stage_over_lost(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, None, STAGES)
    survivors = merge_pairs(engine, routing, [
        ("lead", "customer"), ("customer", "lead"), ("lost", "prospect"),
        ("prospect", "lost"), ("lost", "lost"), ("partner", "customer")])
    assert [stages(engine)[s] for s in survivors] == [
        "customer", "customer", "prospect", "prospect", "lost", "partner"]
    with session_factory(engine)() as session:
        moves = [(m.contact_id, m.from_stage, m.to_stage, m.by) for m in
                 session.scalars(select(StageChange).order_by(StageChange.id))]
        events = [e.payload for e in session.scalars(select(OutboxEvent).where(
            OutboxEvent.type == "contact.stage_changed"))]
    assert moves == [(1, "lead", "customer", "merge"), (5, "lost", "prospect", "merge")]
    assert events == [{"contact_id": 1, "from": "lead", "to": "customer", "reason": "merge"},
                      {"contact_id": 5, "from": "lost", "to": "prospect", "reason": "merge"}]


def test_a_merge_follows_the_default_stage_order_with_a_rules_file_only(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS, None)
    [survivor] = merge_pairs(engine, routing, [("lead", "loyal")])
    assert stages(engine)[survivor] == "loyal"


def test_a_chain_of_merges_in_one_batch_carries_the_stage_along(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, None, STAGES)
    with session_factory(engine).begin() as session:
        first, middle, last = (add_contact(session, stage=s)
                               for s in ("lead", "lead", "customer"))
        merge_contacts(session, middle, last, reason="t", decided_by="auto", score=1, now=T0)
        merge_contacts(session, first, middle, reason="t", decided_by="auto", score=1, now=T0)
        routing.after_batch(session, connector=MIGRATION, new_contact_ids=[],
                            changed_contact_ids=[first, middle], now=T0)
    assert stages(engine) == {first: "customer"}


def test_a_rule_on_contact_merged_moves_the_survivor_after_user_merges(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, None, STAGES + """
[[lifecycle.transitions]]
to = "lost"
on = "contact.merged"
when = { tags = { contains = "churned" } }
""")
    with session_factory(engine).begin() as session:
        churned = add_contact(session, stage="customer", tags=["churned"])
        merged = add_contact(session, stage="lost")
        active = add_contact(session, stage="prospect")
        other = add_contact(session, stage="lead")
        for survivor, gone in ((churned, merged), (active, other)):
            merge_contacts(session, survivor, gone, reason="review", decided_by="user",
                           score=0.9, now=T0)
        # what `crmhub review merge` and `crmhub match run` call after merging
        assert routing.after_merges(session, [churned, active], T0) == 1
    assert stages(engine) == {churned: "lost", active: "prospect"}


EVENTS = STAGES + """
[[lifecycle.transitions]]
name = "wrote to us"
to = "prospect"
from = ["lead"]
on = "interaction"
channel = "email"
direction = "inbound"

[[lifecycle.transitions]]
name = "answered call"
to = "prospect"
on = "interaction"
channel = "call"
status = ["answered", "completed"]
"""


def ingest_interactions(tmp_path: Path, engine: Engine, scoring: str,
                        interactions: list[dict[str, Any]]) -> None:
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(own_domains=["acme.fr"])),
                        clock=lambda: T0)
    pipeline.routing = routing_from(tmp_path, None, scoring)
    forms = ConnectorConfig(name="forms", kind="csv", route_new_contacts=False)
    pipeline.ingest(forms, Batch([Observation(
        kind="person", external_id=str(n), observed_at=T0,
        person={"full_name": f"Lead {n}", "emails": [{"value": f"lead{n}@x.org"}],
                "phones": [{"value": f"+33 6 12 34 56 7{n}"}],
                "tags": ["vip"] if n == 2 else []}) for n in range(1, 6)]))
    pipeline.clock = lambda: T0 + timedelta(hours=1)
    pipeline.ingest(ConnectorConfig(name="gmail", kind="csv"), Batch([Observation(
        kind="interaction", external_id=f"i{n}", observed_at=T0 + timedelta(hours=1),
        interaction={"occurred_at": T0 + timedelta(hours=1), **data})
        for n, data in enumerate(interactions)]))


def test_an_inbound_email_or_answered_call_synced_through_the_pipeline_makes_a_prospect(
        tmp_path: Path, engine: Engine) -> None:
    ingest_interactions(tmp_path, engine, EVENTS, [
        {"channel": "email", "direction": "inbound",
         "participants": [{"email": "lead1@x.org", "role": "from"},
                          {"email": "alice@acme.fr", "role": "to"}]},
        {"channel": "email", "direction": "outbound",  # our move, not theirs
         "participants": [{"email": "alice@acme.fr", "role": "from"},
                          {"email": "lead2@x.org", "role": "to"}]},
        {"channel": "call", "direction": "inbound", "status": "Answered",
         "participants": [{"phone": "+33 6 12 34 56 73", "role": "from"}]},
        {"channel": "call", "direction": "inbound", "status": "missed",
         "participants": [{"phone": "+33 6 12 34 56 74", "role": "from"}]},
    ])
    assert stages(engine) == {1: "prospect", 2: "lead", 3: "prospect", 4: "lead",
                              5: "lead"}
    with session_factory(engine)() as session:
        rules = {m.contact_id: m.rule for m in session.scalars(select(StageChange))}
    assert rules == {1: "wrote to us", 3: "answered call"}


def test_an_event_transition_with_a_condition_needs_both(
        tmp_path: Path, engine: Engine) -> None:
    ingest_interactions(tmp_path, engine, STAGES + """
[[lifecycle.transitions]]
to = "prospect"
on = "interaction"
when = { tags = { contains = "vip" } }
""", [{"channel": "email", "direction": "inbound",
       "participants": [{"email": f"lead{n}@x.org", "role": "from"}]} for n in (1, 2)])
    assert stages(engine)[1] == "lead" and stages(engine)[2] == "prospect"


def test_invalid_event_transitions_name_the_file_entry_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        routing_from(tmp_path, None, STAGES + """
[[lifecycle.transitions]]
to = "prospect"
[[lifecycle.transitions]]
to = "prospect"
channel = "email"
when = { score = { gte = 1 } }
[[lifecycle.transitions]]
to = "prospect"
on = "mail"
""")
    keys = {issue.key: issue for issue in caught.value.issues}
    assert all(issue.file == str(tmp_path / "scoring.toml")
               for issue in caught.value.issues)
    assert keys["lifecycle.transitions[2].on"].message.startswith("Input should be")
    with pytest.raises(ConfigError) as caught:
        routing_from(tmp_path, None, STAGES + """
[[lifecycle.transitions]]
to = "prospect"
[[lifecycle.transitions]]
to = "prospect"
channel = "email"
when = { score = { gte = 1 } }
""")
    keys = {issue.key: issue for issue in caught.value.issues}
    assert keys["lifecycle.transitions[0].when"].message == \
        "a transition needs a condition (when) or an event (on)"
    assert keys["lifecycle.transitions[1].channel"].hint == 'add on = "interaction"'


def merge_of(session: Session, survivor: int) -> MergeEvent:
    """The merge that made ``survivor`` what it is."""
    event = session.scalars(select(MergeEvent).where(MergeEvent.survivor_id == survivor)).one()
    return event


def test_unmerge_gives_the_survivor_back_the_stage_it_had_before_the_merge(
        tmp_path: Path, engine: Engine) -> None:
    from hub.match.review import unmerge

    routing = routing_from(tmp_path, None, STAGES)
    [survivor] = merge_pairs(engine, routing, [("lead", "customer")])
    with session_factory(engine).begin() as session:
        event = merge_of(session, survivor)
        merged_id = event.merged_id
        unmerge(session, event.id, by="alice", now=T0 + timedelta(hours=1))
    assert stages(engine)[survivor] == "lead"
    assert stages(engine)[merged_id] == "customer"
    with session_factory(engine)() as session:
        last = session.scalars(select(StageChange).order_by(StageChange.id.desc())).first()
        event = session.scalars(select(OutboxEvent).where(
            OutboxEvent.type == "contact.stage_changed").order_by(OutboxEvent.id.desc())).first()
    assert last is not None and (last.contact_id, last.from_stage, last.to_stage, last.by) == \
        (survivor, "customer", "lead", "unmerge")
    assert event is not None and event.payload["reason"] == "unmerge"


def test_unmerge_keeps_a_stage_the_survivor_reached_after_the_merge(
        tmp_path: Path, engine: Engine) -> None:
    from hub.match.review import unmerge

    routing = routing_from(tmp_path, None, STAGES)
    [survivor] = merge_pairs(engine, routing, [("lead", "prospect")])
    with session_factory(engine).begin() as session:
        contact = session.get(Contact, survivor)
        assert contact is not None
        contact.stage = "customer"  # a rule moved it on since
        session.add(StageChange(contact_id=survivor, from_stage="prospect",
                                to_stage="customer", rule="won", by="rule", at=T0))
        unmerge(session, merge_of(session, survivor).id, by="alice",
                now=T0 + timedelta(hours=1))
    assert stages(engine)[survivor] == "customer"
