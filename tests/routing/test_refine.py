"""Routing reads the golden record: a still-unworked lead is re-evaluated, once per field,
when a later source fills a field a rule reads and another rule now matches."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hub.config import ConnectorConfig, HubConfig, HubSection
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.records import Observation
from hub.routing.model import Assignment
from hub.routing.sla import record_touch
from hub.store.db import session_factory
from tests.routing.support import OWNERS, T0, routing_from

RULES = OWNERS + """
[[rules]]
name = "lyon"
when = { "contact.address.city" = "Lyon" }
strategy = "fixed"
owner = "alice"
[[rules]]
name = "big"
when = { "company.employees" = { gte = 500 } }
strategy = "fixed"
owner = "chloe"
[[rules]]
name = "rest"
strategy = "fixed"
owner = "bob"
sla = "4h"
"""
WEB = ConnectorConfig(name="web-forms", kind="csv", route_new_contacts=True)
CRM = ConnectorConfig(name="crm", kind="csv")


def lead(ext: str, at_hours: float, **person: Any) -> Observation:
    return Observation(kind="person", external_id=ext, observed_at=T0 + timedelta(
        hours=at_hours), person={"given_name": "Lea", "family_name": "Martin",
                                 "emails": [{"value": "lea.martin@orange.fr"}], **person})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pipeline(engine: Engine, tmp_path: Path, clock: Clock) -> Pipeline:
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(default_region="FR")), clock=clock)
    pipeline.routing = routing_from(tmp_path, RULES)
    return pipeline


def history(engine: Engine) -> list[tuple[str | None, str | None, str]]:
    with session_factory(engine)() as session:
        return [(a.owner, a.rule, a.reason) for a in session.scalars(
            select(Assignment).order_by(Assignment.id))]


def test_a_lead_first_seen_without_an_address_follows_the_address_a_later_source_adds(
        pipeline: Pipeline, engine: Engine, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    pipeline.ingest(WEB, Batch([lead("w-1", 0)]))
    assert history(engine) == [("bob", "rest", "new")]
    clock.now = T0 + timedelta(hours=1)
    with caplog.at_level(logging.INFO, logger="hub.routing.engine"):
        pipeline.ingest(CRM, Batch([lead("c-1", 1, address={"city": "Lyon",
                                                            "country": "FR"})]))
    assert history(engine) == [("bob", "rest", "new"), ("alice", "lyon", "refined")]
    assert any("contact.address.city filled since it was routed by rest; rule lyon now "
               "matches" in r.getMessage() for r in caplog.records)
    with session_factory(engine)() as session:
        refined = session.scalars(select(Assignment).where(Assignment.current)).one()
        assert refined.inputs["refined"] == ["contact.address.city"]
        old = session.scalars(select(Assignment).where(Assignment.owner == "bob")).one()
        assert old.sla_state == "closed"  # not a missed SLA: the lead was moved on


def test_each_field_re_evaluates_a_lead_once(pipeline: Pipeline, engine: Engine,
                                            clock: Clock) -> None:
    pipeline.ingest(WEB, Batch([lead("w-1", 0)]))
    clock.now = T0 + timedelta(hours=1)
    pipeline.ingest(CRM, Batch([lead("c-1", 1, address={"city": "Lyon"})]))
    clock.now = T0 + timedelta(hours=2)  # the city goes and comes back: no second move
    pipeline.ingest(CRM, Batch([lead("c-1", 2, address={"city": "Paris"})]))
    pipeline.ingest(CRM, Batch([lead("c-1", 3, address={"city": "Lyon"})]))
    assert [r for _, _, r in history(engine)].count("refined") == 1


def test_a_lead_its_owner_already_worked_is_not_moved(pipeline: Pipeline, engine: Engine,
                                                      clock: Clock) -> None:
    pipeline.ingest(WEB, Batch([lead("w-1", 0)]))
    routing = pipeline.routing
    assert routing.ruleset is not None
    with session_factory(engine).begin() as session:
        record_touch(session, 1, routing.ruleset.owners["bob"], at=T0 + timedelta(minutes=30),
                     actor="bob")
    clock.now = T0 + timedelta(hours=1)
    pipeline.ingest(CRM, Batch([lead("c-1", 1, address={"city": "Lyon"})]))
    assert history(engine) == [("bob", "rest", "new")]


def test_a_filled_field_that_leaves_the_same_rule_moves_nobody(
        pipeline: Pipeline, engine: Engine, clock: Clock) -> None:
    pipeline.ingest(WEB, Batch([lead("w-1", 0)]))
    clock.now = T0 + timedelta(hours=1)
    pipeline.ingest(CRM, Batch([lead("c-1", 1, address={"city": "Paris"})]))
    assert history(engine) == [("bob", "rest", "new")]
