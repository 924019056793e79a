"""Two workers routing at once on PostgreSQL: turns kept, caps kept, no lead twice, no
manual assignment overridden, no outbox event skipped by a sink."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.config import ConnectorConfig
from hub.routing.engine import Routing
from hub.routing.model import Assignment
from hub.store.db import make_engine, session_factory, upgrade
from hub.store.model import Contact, OutboxEvent
from tests.routing.support import OWNERS, T0, add_contact, routing_from

pytestmark = pytest.mark.postgres

PER_WORKER = 30


def run_workers(url: str, routing: Routing, workers: int = 2, batch: int = 2) -> None:
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        engine = make_engine(url)
        sessions = session_factory(engine)
        try:
            barrier.wait()
            for i in range(0, PER_WORKER, batch):
                with sessions.begin() as session:
                    ids = [add_contact(session, email=f"w{n}-{i + k}@x.org")
                           for k in range(batch)]
                    session.flush()
                    routing.after_batch(session, connector=ConnectorConfig(
                        name=f"w{n}", kind="csv"), new_contact_ids=ids,
                        changed_contact_ids=[], now=T0)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_round_robin_under_two_workers_keeps_strict_turns(tmp_path: Path, pg_url: str) -> None:
    engine = make_engine(pg_url)
    upgrade(engine)
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"
""")
    run_workers(pg_url, routing)
    with session_factory(engine)() as session:
        rows = session.execute(select(Assignment.contact_id, Assignment.owner)
                               .order_by(Assignment.id)).all()
        per_contact = session.execute(select(Assignment.contact_id, func.count())
                                      .group_by(Assignment.contact_id)).all()
    engine.dispose()
    assert len(rows) == 2 * PER_WORKER
    assert all(count == 1 for _, count in per_contact)  # no lead assigned twice
    order = [owner for _, owner in rows]
    assert order == (["alice", "bob", "chloe"] * PER_WORKER)[:len(order)]


def test_daily_caps_hold_under_two_workers(tmp_path: Path, pg_url: str) -> None:
    engine = make_engine(pg_url)
    upgrade(engine)
    routing = routing_from(tmp_path, OWNERS.replace('team = "sales"\n',
                                                    'team = "sales"\ndaily_cap = 7\n') + """
[[rules]]
name = "balanced"
strategy = "load_balanced"
team = "sales"
[fallback]
queue = "overflow"
""")
    run_workers(pg_url, routing, batch=3)
    with session_factory(engine)() as session:
        counts = dict(session.execute(select(Assignment.owner, func.count())
                                      .group_by(Assignment.owner)).all())
        queued = session.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.queue == "overflow"))
    engine.dispose()
    assert counts.pop(None) == queued == 2 * PER_WORKER - 21
    assert counts == {"alice": 7, "bob": 7, "chloe": 7}


def test_two_runs_and_a_manual_assignment_on_the_same_leads_route_each_once(
        tmp_path: Path, pg_url: str) -> None:
    """Two `assign run`s over the same unowned leads while a person assigns some of them
    by hand: each lead is routed once, and no manual assignment is overridden."""
    engine = make_engine(pg_url)
    upgrade(engine)
    routing = routing_from(tmp_path, OWNERS + """
[[rules]]
name = "rr"
strategy = "round_robin"
team = "sales"
""")
    with session_factory(engine).begin() as session:
        ids = [add_contact(session, email=f"lead{n}@x.org") for n in range(40)]
    by_hand = ids[::4]
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def run() -> None:
        own = make_engine(pg_url)
        try:
            barrier.wait()
            with session_factory(own).begin() as session:
                routing.on_demand(session, T0)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            own.dispose()

    def assign_by_hand() -> None:
        own = make_engine(pg_url)
        try:
            barrier.wait()
            for contact_id in by_hand:
                with session_factory(own).begin() as session:
                    routing.assign_manual(session, contact_id, "marie", actor="boss", now=T0)
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=run), threading.Thread(target=run),
               threading.Thread(target=assign_by_hand)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with session_factory(engine)() as session:
        auto = dict(session.execute(select(Assignment.contact_id, func.count())
                                    .where(Assignment.by == "auto")
                                    .group_by(Assignment.contact_id)).all())
        now_current = {a.contact_id: a for a in session.scalars(
            select(Assignment).where(Assignment.current))}
        owners = dict(session.execute(select(Contact.id, Contact.owner)).all())
        order = list(session.scalars(select(Assignment.owner).where(Assignment.by == "auto")
                                     .order_by(Assignment.id)))
    engine.dispose()
    assert set(auto.values()) == {1}  # no lead assigned twice
    assert set(auto) | set(by_hand) == set(ids)
    for contact_id in by_hand:  # never overridden, whichever came first
        assert (now_current[contact_id].by, owners[contact_id]) == ("user", "marie")
    assert order == (["alice", "bob", "chloe"] * 40)[:len(order)]  # turns kept


def test_an_outbox_event_committed_after_a_higher_one_was_delivered_is_delivered(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """At least once on PostgreSQL: ids are handed out before commit, so a transaction
    can commit event n after event n + 1 was already delivered."""
    import responses

    from hub.http import HttpClient
    from hub.routing.delivery import deliver
    from hub_notify import EmailSink, WebhookSink

    monkeypatch.setenv("HOOK_SECRET", "s3cret-pg")
    engine = make_engine(pg_url)
    upgrade(engine)
    ruleset = routing_from(tmp_path, OWNERS + """
[[notify]]
name = "hook"
sink = "webhook"
events = ["contact.updated"]
[notify.settings]
url = "https://hooks.example.com/pg"
secret = { env = "HOOK_SECRET" }
""").ruleset
    sessions = session_factory(engine)
    sinks = {"webhook": WebhookSink, "email": EmailSink}
    slow = sessions()
    slow.begin()
    slow.add(OutboxEvent(type="contact.updated", payload={"n": "slow"}, created_at=T0))
    slow.flush()  # id allocated, not committed yet
    with sessions.begin() as session:
        session.add(OutboxEvent(type="contact.updated", payload={"n": "fast"}, created_at=T0))
    with responses.RequestsMock() as mock:
        mock.post("https://hooks.example.com/pg", status=204)
        http = HttpClient(max_attempts=1, sleep=lambda _s: None)
        assert deliver(sessions, ruleset, sinks, http, T0).delivered == 1
        slow.commit()
        slow.close()
        assert deliver(sessions, ruleset, sinks, http, T0 + timedelta(minutes=1)).delivered == 1
        sent = [json.loads(call.request.body)["payload"]["n"] for call in mock.calls]
    engine.dispose()
    assert sent == ["fast", "slow"]
