"""Process safety with real signals: no orphan after ``kill -9``, no run that outlives its
daemon or overlaps the next one, the connector's own error reported, no busy waiting.

Every crmhub process here is a subprocess killed with SIGKILL (never its process group:
an operator's ``kill -9`` or the OOM killer hits one process), on SQLite and PostgreSQL.
The test connector ``slow`` yields ``batches`` batches of ``size`` people, ``pause``
seconds apart, and appends one line per batch to a journal: the pid of the process that
read it and the time, so runs can be told apart and checked for overlap.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from hub.store.db import make_engine, upgrade
from hub.store.model import Contact, QuarantineItem, SourceRecord, SyncState
from tests.daemon_process import (
    Daemon,
    install_test_plugin,
    parent_of,
    plugin_env,
    running,
)

pytestmark = pytest.mark.slow

SLOW_PLUGIN = '''
import json
import os
import time

from hub import hookimpl
from hub.connectors import Batch, Connector, ConnectorSettings, RetriableError
from hub.records import Observation


class Slow(Connector):
    kind = "slow"

    class Settings(ConnectorSettings):
        journal: str
        batches: int = 30
        size: int = 20
        pause: float = 0.2
        fail_at_end: bool = False
        hang_after: int = -1  # the batch after which the source stops answering

    def sync(self, cursor, *, full=False):
        s = self.settings
        for b in range((cursor or {}).get("done", 0), s.batches):
            time.sleep(s.pause)
            with open(s.journal, "a") as journal:
                journal.write(json.dumps([os.getpid(), b, time.time()]) + "\\n")
            if b == s.hang_after:
                time.sleep(3600)
            yield Batch([Observation(
                kind="person", external_id=f"p{b}-{i}", observed_at="2026-01-01T00:00:00Z",
                person={"full_name": f"Person {b} {i}",
                        "emails": [{"value": f"person.{b}.{i}@example.com"}]})
                for i in range(s.size)], cursor={"done": b + 1})
        if s.fail_at_end:
            raise RetriableError("the source went away after its last page")


@hookimpl
def crmhub_register_connectors():
    return [Slow]
'''

BATCHES, SIZE = 30, 20


def slow_connector(journal: Path, *, every: str = "1h", **settings: Any) -> str:
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    return (f'[[connectors]]\nname = "slow"\nkind = "slow"\nevery = "{every}"\n'
            f'[connectors.settings]\njournal = "{journal}"\n{extra}')


def journal_lines(journal: Path) -> list[tuple[int, int, float]]:
    if not journal.exists():
        return []
    return [tuple(json.loads(line)) for line in journal.read_text().splitlines() if line]


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def scalar(db_url: str, statement: Any) -> Any:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(statement)
    finally:
        engine.dispose()


def other_backends(db_url: str) -> list[tuple[int, str | None]]:
    """PostgreSQL backends connected to the test database, but for the one asking."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(
                "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"))]
    finally:
        engine.dispose()


@pytest.fixture
def migrated(db_url: str) -> str:
    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()
    return db_url


def write_config(root: Path, db_url: str, connectors: str, hub: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "crmhub.toml"
    config.write_text(f'[hub]\ndatabase_url = "{db_url}"\nlog_format = "json"\n{hub}\n'
                      + connectors)
    return config


@contextlib.contextmanager
def sync_process(root: Path, config: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``crmhub sync slow`` in a session of its own (so leftovers can be found by group)."""
    site = install_test_plugin(root, SLOW_PLUGIN)
    with (root / "sync.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "sync", "slow", "--config", str(config), *args],
            stdout=out, stderr=subprocess.STDOUT, env=plugin_env(site), start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    members.append(int(entry.name))
    return members


def test_kill_9_of_a_sync_leaves_no_producer_and_no_database_session_behind(
        migrated: str, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    config = write_config(tmp_path, migrated, slow_connector(journal, pause=0.1))
    with sync_process(tmp_path, config) as proc:
        wait_until(lambda: len(journal_lines(journal)) >= 5, "the sync to be under way")
        (producer,) = {pid for pid, _, _ in journal_lines(journal)}
        assert parent_of(producer) == proc.pid and running(producer)
        os.kill(proc.pid, signal.SIGKILL)  # the sync alone, as the OOM killer would
        proc.wait(10)
        wait_until(lambda: not running(producer), "the producer to exit after its parent")
        assert group_members(proc.pid) == []
        if make_url(migrated).get_backend_name() == "postgresql":
            # No process holds the dead sync's connections: the server has closed them.
            wait_until(lambda: other_backends(migrated) == [], "its backends to end", 10)

    # The next sync is not held up by anything the dead one left, and resumes.
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "sync", "slow", "--config", str(config), "--json"],
        capture_output=True, text=True, timeout=120,
        env=plugin_env(install_test_plugin(tmp_path, SLOW_PLUGIN)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert scalar(migrated, select(func.count()).select_from(SourceRecord)) == BATCHES * SIZE
    assert scalar(migrated, select(func.count()).select_from(Contact)) == BATCHES * SIZE


@pytest.mark.parametrize("parallel_prepare", [True, False])
def test_a_connector_failing_after_its_last_batch_is_reported_with_its_own_error(
        tmp_path: Path, parallel_prepare: bool) -> None:
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = write_config(tmp_path, db_url,
                          slow_connector(tmp_path / "journal", batches=3, pause=0,
                                         fail_at_end=True),
                          hub=f"parallel_prepare = {str(parallel_prepare).lower()}")
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "sync", "slow", "--config", str(config), "--json"],
        capture_output=True, text=True, timeout=120,
        env=plugin_env(install_test_plugin(tmp_path, SLOW_PLUGIN)))
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["error"] == "RetriableError: the source went away after its last page"
    assert (report["batches"], report["created"]) == (3, 3 * SIZE)
    state = scalar(db_url, select(SyncState.last_error))
    assert state == report["error"]
    assert scalar(db_url, select(func.count()).select_from(SourceRecord)) == 3 * SIZE


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(name: str, config: str, db_url: str, hub: str = "",
             stop_timeout: str = "10s") -> Daemon:
        daemon = Daemon(tmp_path / name, config, SLOW_PLUGIN, database_url=db_url,
                        hub_settings=f'workers = 2\nstop_timeout = "{stop_timeout}"\n'
                                     f'log_format = "json"\n{hub}\n')
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.close()


def test_kill_9_of_the_daemon_stops_its_worker_and_the_next_daemon_never_overlaps_it(
        migrated: str, tmp_path: Path, daemons: Callable[..., Daemon]) -> None:
    journal = tmp_path / "journal"
    # 80 batches, 12 s: the first run is still going when the second daemon is up.
    batches = 80
    connector = slow_connector(journal, pause=0.15, batches=batches)
    first = daemons("first", connector, migrated)
    first.start()
    wait_until(lambda: len(journal_lines(journal)) >= 4, "the first run to be under way")
    (producer,) = {pid for pid, _, _ in journal_lines(journal)}
    worker = parent_of(producer)
    assert worker != first.proc.pid and parent_of(worker) == first.proc.pid
    # The lease names the worker that runs the connector, not the daemon that forked it.
    owner = scalar(migrated, select(SyncState.lease_owner))
    assert owner.split(":")[1] == str(worker)
    # A second daemon already up sees the worker, alive, as the holder: after the first
    # daemon dies, its dead pid is not what the lease names, so it is not taken over early.
    second = daemons("second", connector, migrated)
    second.start()
    second.wait_for(lambda: any(f":{worker}:" in line["msg"] for line in second.log_lines()
                                if line["msg"].startswith("connector slow skipped")),
                    "the second daemon to find the lease held by the worker")

    first.proc.kill()
    first.proc.wait(10)
    # The orphaned worker finishes its batch and stops; so does its producer.
    wait_until(lambda: not running(worker) and not running(producer),
               "the worker of the killed daemon to stop", 15)
    second.wait_for(lambda: scalar(migrated, select(func.count()).select_from(SourceRecord))
                    == batches * SIZE, "the resumed run", 60)
    assert second.stop() == 0

    runs: dict[int, list[float]] = {}
    for pid, _, at in journal_lines(journal):
        runs.setdefault(pid, []).append(at)
    assert len(runs) == 2, runs.keys()
    before, after = runs[producer], next(v for k, v in runs.items() if k != producer)
    assert max(before) < min(after)  # never two runs of one connector at once
    assert scalar(migrated, select(func.count()).select_from(SourceRecord)) == batches * SIZE
    assert scalar(migrated, select(func.count()).select_from(Contact)) == batches * SIZE
    assert scalar(migrated, select(func.count()).select_from(QuarantineItem)) == 0


@pytest.mark.parametrize("parallel_prepare", [True, False])
def test_a_worker_stuck_in_its_connector_is_gone_within_stop_timeout_of_its_daemons_death(
        tmp_path: Path, daemons: Callable[..., Daemon], parallel_prepare: bool) -> None:
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    journal = tmp_path / "journal"
    daemon = daemons("stuck", slow_connector(journal, pause=0, hang_after=1), db_url,
                     f"parallel_prepare = {str(parallel_prepare).lower()}", stop_timeout="2s")
    daemon.start()
    wait_until(lambda: len(journal_lines(journal)) == 2, "the source to stop answering")
    (reader,) = {pid for pid, _, _ in journal_lines(journal)}
    worker = parent_of(reader) if parallel_prepare else reader
    assert parent_of(worker) == daemon.proc.pid

    daemon.proc.kill()
    daemon.proc.wait(10)

    # SIGTERM reaches the worker when its daemon dies; its source never answers, so no
    # batch ends: the worker kills itself and its producer after stop_timeout (2 s).
    wait_until(lambda: not running(worker) and not running(reader),
               "the stuck worker and its reader to be gone", 8)


def test_a_connector_held_elsewhere_is_retried_when_its_lease_expires_with_one_log_line(
        tmp_path: Path, daemons: Callable[..., Daemon]) -> None:
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    until = datetime.now(UTC) + timedelta(seconds=4)
    with engine.begin() as connection:  # another host's daemon runs it for 4 more seconds
        connection.execute(SyncState.__table__.insert().values(
            connector="slow", kind="slow", consecutive_failures=0, records=0,
            lease_owner="elsewhere:4242:abcd1234", lease_until=until))
    engine.dispose()
    journal = tmp_path / "journal"
    daemon = daemons("held", slow_connector(journal, batches=2, pause=0), db_url,
                     'log_level = "DEBUG"')
    daemon.start()
    daemon.wait_for(lambda: daemon.state("slow").last_success is not None,
                    "the run after the lease expired", 30)
    assert daemon.stop() == 0
    first_batch = min(at for _, _, at in journal_lines(journal))
    assert first_batch >= until.timestamp()
    skipped = [line for line in daemon.log_lines()
               if line["msg"].startswith("connector slow skipped")]
    # Retried when the lease expires (4 s, under HELD_RETRY): one INFO line and at most a
    # couple of DEBUG retries, not one per main-loop pass.
    assert 1 <= len(skipped) <= 3, skipped
    assert [line["level"] for line in skipped].count("INFO") == 1, skipped
    assert "elsewhere:4242:abcd1234" in skipped[0]["msg"]


@pytest.mark.postgres
def test_watchdog_pings_go_on_while_the_database_is_unreachable_and_status_says_so(
        pg_url: str, tmp_path: Path, daemons: Callable[..., Daemon]) -> None:
    engine = make_engine(pg_url)
    upgrade(engine)
    engine.dispose()
    daemon = daemons("outage", slow_connector(tmp_path / "journal", batches=1, pause=0,
                                              every="1s"), pg_url)
    daemon.start(env={"WATCHDOG_USEC": "1000000"})  # a ping every 0.5 s
    database = make_url(pg_url).database
    admin = create_engine(pg_url.rsplit("/", 1)[0] + "/test", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = :d"), {"d": database})
        daemon.messages.clear()
        daemon.wait_for(lambda: any("error" in m for m in daemon.messages
                                    if m.startswith("STATUS=")), "a STATUS naming the error")
        start = time.monotonic()
        pings = [at for at, m in daemon.listen(3) if m == "WATCHDOG=1"]
        # Pings every 0.5 s; systemd restarts the service after 1 s without one.
        gaps = [b - a for a, b in pairwise([start, *pings, start + 3])]
        assert max(gaps) < 1.0, gaps
        daemon.messages.clear()
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        daemon.wait_for(lambda: any(m.startswith("STATUS=") and "error" not in m
                                    for m in daemon.messages), "the STATUS to recover")
        assert daemon.stop() == 0
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        admin.dispose()
