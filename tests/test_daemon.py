"""The daemon end to end, in a subprocess: notify, drop folder, reload, isolation, stop."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.store.model import Contact, SourceRecord
from tests.daemon_process import Daemon

pytestmark = pytest.mark.slow

TEST_PLUGIN = '''
import logging
import time
from hub import hookimpl
from hub.connectors import Batch, Connector, ConnectorSettings, Rejected
from hub.records import Observation
from hub.secrets import SecretRef

log = logging.getLogger("hub_misbehave")


class Tick(Connector):
    """Yields one new person per run and one row the core rejects with an e-mail in its
    reason, and logs things it should not."""
    kind = "tick"

    class Settings(ConnectorSettings):
        token: SecretRef

    def sync(self, cursor, *, full=False):
        token = self.context.resolve_secret(self.settings.token)
        n = (cursor or {}).get("n", 0) + 1
        log.warning("tick %d with token %s for ada.lovelace@example.com +33 6 12 34 56 78",
                    n, token)
        yield Batch([Observation(kind="person", external_id=f"t{n}",
                                 observed_at="2026-01-01T00:00:00Z",
                                 person={"full_name": f"Tick {n}",
                                         "emails": [{"value": f"tick{n}@example.com"}]})],
                    rejected=[Rejected(reason=f"no name beside tick{n}@example.com",
                                       payload="", location=f"tick:{n}")],
                    cursor={"n": n})


class Hang(Connector):
    kind = "hang"

    def sync(self, cursor, *, full=False):
        time.sleep(3600)
        yield Batch()


class Boom(Connector):
    kind = "boom"

    def sync(self, cursor, *, full=False):
        raise RuntimeError("the source is on fire")
        yield Batch()


@hookimpl
def crmhub_register_connectors():
    return [Tick, Hang, Boom]
'''


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[[str], Daemon]]:
    made: list[Daemon] = []

    def make(config: str) -> Daemon:
        daemon = Daemon(tmp_path, config, TEST_PLUGIN)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.close()


def test_ready_drop_folder_ingest_and_clean_stop(daemon_factory: Callable[[str], Daemon],
                                                 tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    daemon = daemon_factory(f'''
        [[connectors]]
        name = "drop"
        kind = "csv"
        every = "1s"
        [connectors.settings]
        folder = "{drop}"
        settle_seconds = 0.5
        ''')
    daemon.start()
    ready = next(m for m in daemon.messages if m.startswith("READY=1"))
    assert "STATUS=1 connectors" in ready
    (drop / "new-leads.csv").write_text("First Name,Last Name,E-mail Address\n"
                                        "Grace,Hopper,grace@navy.mil\n", encoding="utf-8")
    daemon.wait_for(lambda: (drop / "done" / "new-leads.csv").exists(), "the file in done/")
    assert daemon.query(select(Contact.full_name)) == [("Grace Hopper",)]
    assert not (drop / "new-leads.csv").exists()
    assert daemon.stop() == 0
    assert "STOPPING=1" in daemon.messages
    assert any(line["msg"] == "crmhub stopped" for line in daemon.log_lines())


def test_sighup_keeps_the_old_config_when_the_new_one_is_broken_and_applies_a_good_one(
        daemon_factory: Callable[[str], Daemon]) -> None:
    daemon = daemon_factory('''
        [[connectors]]
        name = "tick"
        kind = "tick"
        every = "1s"
        [connectors.settings]
        token = { env = "TICK_SECRET" }
        ''')
    daemon.start()
    extra = daemon.conf / "conf.d" / "50-more.toml"
    extra.write_text('[[connectors]]\nname = "tock"\nkind = "tick"\nevery = "1s"\n'
                     '[connectors.settings]\ntoken = "inline-secret"\n')
    daemon.signal(signal.SIGHUP)
    daemon.wait_for(lambda: "reload rejected" in daemon.logs(), "the reload to be rejected")
    assert "secrets are references" in daemon.logs()
    runs_before = daemon.state("tick").records
    daemon.wait_for(lambda: daemon.state("tick").records > runs_before + 1,
                    "the old config to keep running")
    extra.write_text('[[connectors]]\nname = "tock"\nkind = "tick"\nevery = "1s"\n'
                     '[connectors.settings]\ntoken = { env = "TICK_SECRET" }\n')
    daemon.signal(signal.SIGHUP)
    daemon.wait_for(lambda: daemon.state("tock") is not None
                    and daemon.state("tock").last_success is not None, "the new connector")
    assert any(m.startswith("RELOADING=1") for m in daemon.messages)
    assert daemon.stop() == 0


def test_hanging_and_failing_connectors_do_not_stop_the_others(
        daemon_factory: Callable[[str], Daemon]) -> None:
    daemon = daemon_factory('''
        [[connectors]]
        name = "hang"
        kind = "hang"
        every = "1s"
        timeout = "2s"
        [[connectors]]
        name = "boom"
        kind = "boom"
        every = "1s"
        [[connectors]]
        name = "tick"
        kind = "tick"
        every = "1s"
        [connectors.settings]
        token = { env = "TICK_SECRET" }
        ''')
    daemon.start()
    daemon.wait_for(lambda: daemon.state("hang") is not None
                    and "deadline" in (daemon.state("hang").last_error or ""),
                    "the hanging run to be abandoned", timeout=20)
    ticks = len(daemon.query(select(SourceRecord.id).where(SourceRecord.connector == "tick")))
    assert ticks >= 2  # one run a second while the other two misbehave
    boom = daemon.state("boom")
    assert boom.consecutive_failures >= 1
    assert "RuntimeError: the source is on fire" in boom.last_error
    assert (boom.next_run - boom.last_attempt).total_seconds() >= 27  # backoff, not 1 s
    assert daemon.stop() == 0
    assert daemon.stop_seconds < 15


def test_logs_hold_no_secret_and_no_unmasked_email_or_phone(
        daemon_factory: Callable[[str], Daemon]) -> None:
    daemon = daemon_factory('''
        [[connectors]]
        name = "tick"
        kind = "tick"
        every = "1s"
        [connectors.settings]
        token = { env = "TICK_SECRET" }
        ''')
    daemon.start()
    daemon.wait_for(lambda: "tick 2 with token" in daemon.logs(), "two logged runs")
    assert daemon.stop() == 0
    text = daemon.logs()
    assert "s3cr3t-v4lue" not in text
    assert "ada.lovelace@example.com" not in text and "tick1@example.com" not in text
    assert "12 34 56" not in text
    tick_lines = [line for line in daemon.log_lines() if "tick 2" in line["msg"]]
    assert tick_lines and "***" in tick_lines[0]["msg"]
    assert "for a***@example.com +336******78" in tick_lines[0]["msg"]
    # The core logs the reason a row was rejected: the e-mail in it is masked too.
    assert "quarantined input from tick: no name beside t***@example.com" in [
        line["msg"] for line in daemon.log_lines()]
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in daemon.log_lines())
