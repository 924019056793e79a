"""The listener inside the real daemon: a request answered 2xx survives a kill -9 of the
daemon before it was processed, and is processed after the restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from hub.service import leases
from hub.store.db import make_engine, session_factory, upgrade
from hub.store.model import Interaction
from hub.webhooks import crmhub_signature
from tests.daemon_process import Daemon

CONFIG = """
parallel_prepare = false

[[connectors]]
name = "pbx"
kind = "call_webhook"
[connectors.settings]
secret = { env = "PBX_SECRET" }
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    process = Daemon(tmp_path, CONFIG, plugin="")
    yield process
    process.close()


def test_an_accepted_call_survives_a_kill_of_the_daemon_before_it_was_processed(
        daemon: Daemon) -> None:
    engine = make_engine(daemon.database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    # Another process holds the connector: the daemon accepts, but cannot process yet.
    assert leases.acquire(sessions, "pbx", "call_webhook", "elsewhere:1:x", 600,
                          datetime.now(UTC)) is None
    daemon.start({"CRMHUB_HUB__LISTEN": "127.0.0.1:0", "PBX_SECRET": "s3cret"})
    daemon.wait_for(lambda: any("serving http://" in line.get("msg", "")
                                for line in daemon.log_lines()), "the listener")
    [where] = [line["listen"] for line in daemon.log_lines() if "listen" in line]
    body = json.dumps({"call_id": "c-1", "from": "06 12 34 56 78", "to": "+33 1 45 00 00 00",
                       "direction": "inbound", "started_at": "2026-03-02T09:15:00+01:00",
                       "duration_s": 60, "status": "answered"}).encode()
    stamp = str(int(time.time()))
    answer = requests.post(f"http://{where}/webhooks/pbx", data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-Crmhub-Timestamp": stamp,
        "X-Crmhub-Signature": crmhub_signature("s3cret", stamp, body)})
    assert answer.status_code == 200

    assert daemon.proc is not None
    daemon.proc.kill()  # kill -9: nothing processed, nothing flushed on the way out
    daemon.proc.wait()
    with engine.connect() as connection:
        assert list(connection.execute(select(Interaction.external_id))) == []
    leases.release(sessions, "pbx", "elsewhere:1:x")

    daemon.start({"CRMHUB_HUB__LISTEN": "127.0.0.1:0", "PBX_SECRET": "s3cret"})
    def stored() -> bool:
        with engine.connect() as connection:
            return [r[0] for r in connection.execute(select(Interaction.external_id))] == ["c-1"]

    daemon.wait_for(stored, "the call processed after the restart")
    assert daemon.stop() == 0
    engine.dispose()
