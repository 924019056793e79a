"""SLA re-routing with a fake clock and synced touches (business hours of the owner)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from hub.config import ConnectorConfig, HubConfig, HubSection
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.records import Observation
from hub.routing.calendar import Calendar, parse_hours, zone
from hub.routing.model import Assignment
from hub.routing.sla import is_touch, record_touch
from hub.store.db import session_factory
from hub.store.model import Contact, Interaction, InteractionContact
from hub.testing import make_context
from hub_telephony import CallWebhookConnector
from tests.routing.support import OWNERS, T0, current, new_leads, owners_of, routing_from

RULES = OWNERS + """
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"
sla = "4h"
"""


def touch(engine: Engine, contact_id: int, at: datetime, *, channel: str = "email",
          direction: str = "outbound", status: str | None = None,
          duration_s: int | None = None, **participant: str) -> None:
    with session_factory(engine).begin() as session:
        ext = f"m{contact_id}-{at.timestamp()}-{direction}-{channel}"
        row = Interaction(connector="mail", external_id=ext,
                          channel=channel, direction=direction, occurred_at=at,
                          status=status, duration_s=duration_s,
                          participants=[{**participant, "own": True}])
        session.add(row)
        session.flush()
        session.add(InteractionContact(interaction_id=row.id, contact_id=contact_id, role="to"))


def test_sla_counts_business_hours_in_the_owner_time_zone() -> None:
    paris = Calendar(zone("Europe/Paris"), parse_hours({"mon-fri": "09:00-18:00"}))
    friday_5pm = datetime(2026, 1, 9, 16, 0, tzinfo=UTC)  # 17:00 in Paris
    assert paris.add_business(friday_5pm, 4 * 3600) == datetime(2026, 1, 12, 11, 0, tzinfo=UTC)
    saturday = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert paris.add_business(saturday, 3600) == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def test_untouched_lead_is_rerouted_by_the_same_rule_excluding_its_owner(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, RULES)
    new_leads(engine, routing, [{"email": "a@x.org"}, {"email": "b@x.org"}])
    first = current(engine, 1)
    assert first.owner == "alice" and first.sla_state == "pending"
    assert first.sla_due_at == T0 + timedelta(hours=4)
    touch(engine, 2, T0 + timedelta(hours=1), email="bob@acme.fr", role="from")
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=3, minutes=59)) == 0
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=4)) == 1
    moved = current(engine, 1)
    # chloe's turn came next anyway; alice is excluded from this lead from now on
    assert (moved.owner, moved.reason, moved.previous_owner) == ("chloe", "sla", "alice")
    assert moved.explanation["exclude"] == ["alice"]
    assert moved.sla_due_at == T0 + timedelta(hours=8)
    assert current(engine, 2).sla_state == "met"
    with session_factory(engine)() as session:
        old = session.scalars(select(Assignment).where(Assignment.contact_id == 1,
                                                       Assignment.owner == "alice")).one()
        assert old.sla_state == "breached" and not old.current
    # chloe misses it too: bob is the only one left who has not
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=8)) == 1
    third = current(engine, 1)
    assert third.owner == "bob" and third.explanation["exclude"] == ["alice", "chloe"]
    skipped = {c["owner"]: c["skipped"] for c in third.explanation["tried"][0]["candidates"]}
    assert skipped["alice"] == "excluded"


def test_a_status_field_or_someone_elses_mail_is_not_a_touch_but_an_outbound_call_is(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, RULES)
    new_leads(engine, routing, [{"email": "a@x.org"}, {"email": "b@x.org"}])
    with session_factory(engine).begin() as session:
        contacted = session.get(Contact, 1)
        assert contacted is not None
        # alice marks the lead as worked in the CRM, as a sync or `contacts set` would
        contacted.stage = "prospect"
        contacted.custom = {"lead_status": "contacted"}
        contacted.updated_at = T0 + timedelta(hours=1)
    touch(engine, 1, T0 + timedelta(hours=1), email="bob@acme.fr", role="from")
    touch(engine, 1, T0 + timedelta(hours=1), direction="inbound",
          email="alice@acme.fr", role="from")
    touch(engine, 2, T0 + timedelta(hours=2), channel="call", phone="202",
          role="from", direction="outbound", status="no-answer", duration_s=0)
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=5)) == 1
    assert owners_of(engine) == {1: "chloe", 2: "bob"}
    assert current(engine, 1).previous_owner == "alice"
    assert current(engine, 2).touched_at == T0 + timedelta(hours=2)


def test_an_inbound_missed_call_on_the_owners_extension_is_not_a_touch(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, RULES)
    new_leads(engine, routing, [{"email": "a@x.org"}, {"email": "b@x.org"}])
    touch(engine, 1, T0 + timedelta(hours=1), channel="call", phone="201",
          role="agent", direction="inbound", status="missed", duration_s=0)
    touch(engine, 2, T0 + timedelta(hours=1), channel="call", phone="202",
          role="agent", direction="outbound", status="answered", duration_s=95)
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=5)) == 1
    assert current(engine, 1).previous_owner == "alice"
    assert current(engine, 2).sla_state == "met"


def test_an_extension_matches_a_caller_number_exactly_never_as_a_suffix(
        tmp_path: Path) -> None:
    ruleset = routing_from(tmp_path, RULES.replace('extensions = ["201"]',
                                                   'extensions = ["01", "+33 1 40 00 12 34"]')
                           ).ruleset
    assert ruleset is not None
    alice = ruleset.owners["alice"]

    def call(phone: str) -> Interaction:
        return Interaction(channel="call", direction="outbound", participants=[
            {"phone": phone, "role": "from", "own": True}])

    assert not is_touch(call("201"), alice)  # bob's colleague at 201, not alice's 01
    assert not is_touch(call("+33 1 40 00 12 34 5"), alice)
    assert is_touch(call("01"), alice)
    assert is_touch(call("+33 1-40-00-12-34"), alice)  # the same number, written otherwise


def test_an_sla_reroute_stays_in_its_rule_when_the_condition_no_longer_reads_true(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "web"
when = { all = [ { source = "web-forms" }, { score = { lt = 50 } } ] }
strategy = "round_robin"
owners = ["alice", "bob"]
sla = "4h"
[fallback]
owner = "marie"
""")
    new_leads(engine, routing, [{"email": "a@x.org"}])
    assert (current(engine, 1).owner, current(engine, 1).rule) == ("alice", "web")
    with session_factory(engine).begin() as session:
        contact = session.get(Contact, 1)
        assert contact is not None
        contact.score = 80  # the lead got hotter meanwhile
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=4)) == 1
    moved = current(engine, 1)
    assert (moved.owner, moved.rule, moved.reason) == ("bob", "web", "sla")
    assert moved.explanation["exclude"] == ["alice"]


WEB_THEN_ANYONE = OWNERS + """
[[rules]]
name = "web"
when = { source = "web-forms" }
strategy = "fixed"
owner = "alice"
sla = "1h"
[[rules]]
name = "french"
when = { "contact.country" = "DE" }
strategy = "fixed"
owner = "chloe"
[[rules]]
name = "anyone"
strategy = "round_robin"
owners = ["bob"]
sla = "1h"
[fallback]
queue = "to-qualify"
"""


def test_an_sla_reroute_goes_to_the_next_matching_rule_when_its_rule_has_nobody_left(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, WEB_THEN_ANYONE)
    new_leads(engine, routing, [{"email": "a@x.org", "country": "FR"}])
    assert (current(engine, 1).owner, current(engine, 1).rule) == ("alice", "web")
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=1)) == 1
    moved = current(engine, 1)
    # alice was the rule's only candidate; "french" does not match; the catch-all does
    assert (moved.owner, moved.rule, moved.reason) == ("bob", "anyone", "sla")
    tried = [(t["rule"], t["outcome"]) for t in moved.explanation["tried"]]
    assert tried == [("web", "no available owner"), ("anyone", "assigned to bob")]
    # bob misses it too: nobody is left in any rule, the lead waits in the queue
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=2)) == 1
    last = current(engine, 1)
    assert (last.owner, last.queue, last.explanation["exclude"]) == \
        (None, "to-qualify", ["alice", "bob"])


def test_a_rule_with_sla_stay_in_rule_sends_an_exhausted_lead_to_the_fallback(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, WEB_THEN_ANYONE.replace(
        'owner = "alice"\nsla = "1h"', 'owner = "alice"\nsla = "1h"\nsla_stay_in_rule = true'))
    new_leads(engine, routing, [{"email": "a@x.org"}])
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=1)) == 1
    moved = current(engine, 1)
    assert (moved.owner, moved.queue, moved.rule) == (None, "to-qualify", None)


def test_an_sla_reroute_reads_the_source_that_brought_the_lead(
        tmp_path: Path, engine: Engine) -> None:
    # "web" matches by source only; a second web rule after it must see that source too
    routing = routing_from(tmp_path, WEB_THEN_ANYONE.replace(
        'when = { "contact.country" = "DE" }', 'when = { source = "web-forms" }'))
    new_leads(engine, routing, [{"email": "a@x.org"}])
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=1)) == 1
    assert (current(engine, 1).owner, current(engine, 1).rule) == ("chloe", "french")


def test_a_touch_recorded_by_hand_keeps_the_lead_from_being_rerouted(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, RULES)
    new_leads(engine, routing, [{"email": "a@x.org"}, {"email": "b@x.org"}])
    assert routing.ruleset is not None
    alice, bob = routing.ruleset.owners["alice"], routing.ruleset.owners["bob"]
    with session_factory(engine).begin() as session:
        assert record_touch(session, 1, alice, at=T0 + timedelta(hours=5), actor="marie",
                            channel="meeting")  # late, but before the daemon's pass
        assert not record_touch(session, 2, alice, at=T0 + timedelta(hours=1), actor="x")
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=6)) == 1  # only lead 2
    assert (current(engine, 1).owner, current(engine, 1).sla_state) == ("alice", "met")
    assert current(engine, 2).owner != "bob"
    with session_factory(engine)() as session:
        [row] = session.scalars(select(Interaction).where(Interaction.connector == "manual",
                                                          Interaction.channel == "meeting"))
        assert is_touch(row, alice) and not is_touch(row, bob)


def test_a_synced_outbound_email_through_the_pipeline_is_a_touch(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, RULES)
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(own_domains=["acme.fr"])))
    leads = ConnectorConfig(name="forms", kind="csv")
    stats = pipeline.ingest(leads, Batch([Observation(
        kind="person", external_id="1", observed_at=T0,
        person={"full_name": "Lea Lead", "emails": [{"value": "lea@lead.org"}]})]))
    assert stats.contacts_created == 1
    with session_factory(engine).begin() as session:
        routing.after_batch(session, connector=leads, new_contact_ids=[1],
                            changed_contact_ids=[], now=T0)
    pipeline.ingest(ConnectorConfig(name="gmail", kind="csv"), Batch([Observation(
        kind="interaction", external_id="msg-1", observed_at=T0 + timedelta(hours=1),
        interaction={"channel": "email", "direction": "outbound",
                     "occurred_at": T0 + timedelta(hours=1), "subject": "Hello",
                     "participants": [{"email": "Alice@acme.fr", "role": "from"},
                                      {"email": "lea@lead.org", "role": "to"}]})]))
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=6)) == 0
    assert current(engine, 1).sla_state == "met"


def test_an_outbound_call_reported_by_the_pbx_webhook_is_the_agents_first_touch(
        tmp_path: Path, engine: Engine) -> None:
    routing = routing_from(tmp_path, RULES)
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(default_region="FR")))
    leads = ConnectorConfig(name="forms", kind="csv")
    pipeline.ingest(leads, Batch([Observation(
        kind="person", external_id="1", observed_at=T0,
        person={"full_name": "Lea Lead", "phones": [{"value": "+33 6 12 34 56 78"}]})]))
    with session_factory(engine).begin() as session:
        routing.after_batch(session, connector=leads, new_contact_ids=[1],
                            changed_contact_ids=[], now=T0)
    owner = current(engine, 1).owner
    extension = {"alice": "201", "bob": "202"}.get(owner or "")
    assert extension is not None, owner
    call = CallWebhookConnector("pbx", CallWebhookConnector.Settings.model_validate(
        {"secret": {"env": "S"}}), make_context(secrets={"S": "x"}))
    body = {"call_id": "c-1", "from": "+33 1 45 00 00 00", "to": "06 12 34 56 78",
            "direction": "outbound", "started_at": (T0 + timedelta(hours=1)).isoformat(),
            "duration_s": 30, "status": "missed", "agent": extension}
    pipeline.ingest(ConnectorConfig(name="pbx", kind="call_webhook"), Batch(
        call.handle_webhook(json.dumps(body).encode(), {})))
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, T0 + timedelta(hours=6)) == 0
    assert current(engine, 1).sla_state == "met"


def test_sla_and_inactive_owner_passes_work_on_both_engines(tmp_path: Path,
                                                            engine: Engine) -> None:
    routing = routing_from(tmp_path, RULES)
    new_leads(engine, routing, [{"email": "a@x.org"}, {"email": "b@x.org"}])
    with session_factory(engine).begin() as session:
        done = routing.periodic(session, T0 + timedelta(hours=5))
    assert done["sla"] == 2
    assert owners_of(engine) == {1: "chloe", 2: "alice"}
    alice_gone = RULES.replace('id = "alice"\nteam = "sales"', 'id = "alice"\nactive = false\n'
                             'team = "sales"')
    routing = routing_from(tmp_path, alice_gone)
    with session_factory(engine).begin() as session:
        done = routing.periodic(session, T0 + timedelta(hours=5, minutes=1))
    assert done["inactive"] == 1
    assert owners_of(engine)[2] in ("bob", "chloe")
