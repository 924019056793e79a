"""Two workers routing at once on PostgreSQL: turns kept, caps kept, no lead twice."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.assign.engine import Routing
from hub.assign.model import Assignment
from hub.config import ConnectorConfig
from hub.db import make_engine, session_factory, upgrade
from tests.assign.conftest import OWNERS, T0, add_contact, routing_from

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
