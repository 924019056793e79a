"""PostgreSQL restarted in the middle of a sync: the daemon reconnects, retries, and ends
with the database an uninterrupted run builds.

The test runs a throw-away cluster of its own (``initdb`` and ``pg_ctl`` in a temporary
directory, on a free port; as the ``postgres`` OS user when run as root), because it stops
the server. Two databases of that cluster receive the same seeded CSV
(tests/test_crash_safety.py's generator): ``reference`` through one uninterrupted
``crmhub sync``, ``restarted`` through ``crmhub run`` whose server is stopped (``-m fast``:
every session ended, as on a restart) while the first run is between batches, and started
again two seconds later. The exports are compared without ids (``hub.export.without_ids``)
and so are the row counts of every table a replayed batch could double.

Where the cluster cannot be made (no PostgreSQL binaries, no ``postgres`` user), the test
is skipped on a developer machine and fails under ``CI=true``, as tests/conftest.py does
for the shared server.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.pool import NullPool

from hub import hookimpl
from hub.connectors import Batch, Connector
from hub.plugins import HubPlugins
from hub.records import Observation
from hub.service.runtime import Hub
from hub.service.sync import run_sync
from hub.store.db import make_engine, upgrade
from hub.store.model import OutboxEvent, SourceRecord, SyncState
from tests.crash_support import (
    CONNECTOR,
    Generated,
    census,
    comparable,
    crmhub,
    export,
    write_config,
    write_input,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROWS = 4_000  # about 6 s of syncing into PostgreSQL here, in 8 batches
SEED = 1_618_033
MAX_BACKOFF = 2.0  # seconds: [hub] max_backoff, the retry comes quickly
OUTAGE = 2.0  # seconds the server stays down
WAIT = 45.0  # seconds for any one stage before the test gives up


def _unavailable(message: str) -> None:
    """Skip on a developer machine, fail under CI (a green CI always ran this test)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _bindir() -> Path | None:
    """Where initdb and pg_ctl are: $PG_BINDIR, the PATH, or the newest Debian cluster."""
    candidates = [os.environ.get("PG_BINDIR")]
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(str(Path(initdb).parent))
    candidates += [str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                                          key=lambda p: int(p.parent.name)
                                          if p.parent.name.isdigit() else 0, reverse=True)]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() \
                and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """A PostgreSQL cluster of the test's own in a temporary directory, trust auth."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            _unavailable("no PostgreSQL server binaries (initdb, pg_ctl): install "
                         "postgresql or set PG_BINDIR")
        assert bindir is not None
        self.bindir = bindir
        self.prefix: list[str] = []
        self.root = Path(tempfile.mkdtemp(prefix="crmhub-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to postgres
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                self.remove()
                _unavailable("running as root and there is no postgres OS user to own "
                             "the test cluster")
            runuser = shutil.which("runuser")
            if runuser is None:
                self.remove()
                _unavailable("running as root and runuser is missing")
            assert runuser is not None
            self.prefix = [runuser, "-u", "postgres", "--"]
            os.chmod(self.root, 0o700)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        try:
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--no-locale", "--no-sync")
        except AssertionError as error:
            self.remove()
            _unavailable(f"initdb failed: {error}")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.prefix, str(self.bindir / tool), *args], cwd=self.root,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{tool} exited {done.returncode}: {done.stderr[-2000:]}"

    def start(self) -> None:
        # fsync off: nothing here survives the test, and a clean or fast shutdown writes
        # everything out anyway.
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-w", "-t", "30", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT",
                              poolclass=NullPool)
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _scalar(url: str, statement: Any) -> Any:
    """One value read on a connection of its own (None while the server is down)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(statement).scalar()
    except Exception:  # the server is stopping, down or starting
        return None
    finally:
        engine.dispose()


def _wait(predicate: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n"
                        f"{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.1)


def _daemon_config(directory: Path, url: str, data: Path) -> Path:
    """tests/test_crash_safety.py's configuration, run every second by the daemon with a
    short backoff after a failure."""
    config = write_config(directory, url, data)
    body = config.read_text(encoding="utf-8")
    body = body.replace("[hub]\n", f'[hub]\nmax_backoff = "{MAX_BACKOFF}s"\nworkers = 1\n'
                        'log_level = "INFO"\n', 1).replace('log_level = "WARNING"\n', "", 1)
    body = body.replace('kind = "csv"\n', 'kind = "csv"\nevery = "1s"\n', 1)
    config.write_text(body, encoding="utf-8")
    return config


def _log_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
    return lines


@dataclass
class Outcome:
    """What the scenario saw, for the tests to check."""

    generated: Generated
    reference_rows: list[str]
    reference_census: dict[str, Any]
    reference_seconds: float
    restarted_rows: list[str] = field(default_factory=list)
    restarted_census: dict[str, Any] = field(default_factory=dict)
    committed_before_stop: int = 0
    daemon_exit: int | None = None
    failed_events: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    """The scenario, run once for the tests of this module."""
    started = time.monotonic()
    tmp = tmp_path_factory.mktemp("outage")
    data = tmp / "contacts.csv"
    generated = write_input(data, ROWS, SEED)
    cluster = Cluster()
    daemon: subprocess.Popen[bytes] | None = None
    try:
        cluster.start()
        reference_url = cluster.create_database("reference")
        restarted_url = cluster.create_database("restarted")

        reference = write_config(tmp / "reference", reference_url, data)
        crmhub(reference, "db", "upgrade")
        clock = time.monotonic()
        crmhub(reference, "sync", CONNECTOR)
        outcome = Outcome(generated, comparable(export(reference, tmp / "reference.jsonl")),
                          census(reference_url), time.monotonic() - clock)

        config = _daemon_config(tmp / "restarted", restarted_url, data)
        crmhub(config, "db", "upgrade")
        log = tmp / "restarted" / "daemon.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRMHUB_")}
        with log.open("wb") as out:
            daemon = subprocess.Popen([sys.executable, "-m", "hub.cli", "run", "--config",
                                       str(config)], stdout=out, stderr=subprocess.STDOUT,
                                      env=env, start_new_session=True)
        records = select(func.count()).select_from(SourceRecord)
        seen: list[int] = []

        def some_batches_in() -> bool:  # two batches in, the run well before its end
            seen.append(_scalar(restarted_url, records) or 0)
            return seen[-1] >= 1000

        _wait(some_batches_in, "the first batches of the daemon's run", log)
        cluster.stop("fast")
        outcome.committed_before_stop = seen[-1]
        time.sleep(OUTAGE)
        cluster.start()

        def finished() -> bool:
            row = _state(restarted_url)
            return bool(row and row["last_success"] is not None
                        and row["consecutive_failures"] == 0
                        and (_scalar(restarted_url, records) or 0) >= generated.good)

        _wait(finished, "the daemon to finish the run after the restart", log)
        outcome.state = _state(restarted_url) or {}
        daemon.send_signal(signal.SIGTERM)
        outcome.daemon_exit = daemon.wait(timeout=30)
        outcome.log = _log_lines(log)
        outcome.failed_events = _failed_events(restarted_url)
        outcome.restarted_rows = comparable(export(config, tmp / "restarted.jsonl"))
        outcome.restarted_census = census(restarted_url)
        outcome.seconds = time.monotonic() - started
        print(f"\noutage scenario: {ROWS} rows, reference sync {outcome.reference_seconds:.1f}s, "
              f"{outcome.committed_before_stop} records committed at the stop, "
              f"whole scenario {outcome.seconds:.1f}s")
        yield outcome
    finally:
        if daemon is not None and daemon.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=30)
        cluster.remove()


def _state(url: str) -> dict[str, Any] | None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            row = connection.execute(select(SyncState.last_success, SyncState.last_error,
                                            SyncState.last_error_at, SyncState.last_attempt,
                                            SyncState.next_run, SyncState.consecutive_failures,
                                            SyncState.cursor)
                                     .where(SyncState.connector == CONNECTOR)).one_or_none()
    except Exception:
        return None
    finally:
        engine.dispose()
    return None if row is None else dict(row._mapping)


def _failed_events(url: str) -> list[dict[str, Any]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            payloads = connection.scalars(select(OutboxEvent.payload)
                                          .where(OutboxEvent.type == "sync.failed")
                                          .order_by(OutboxEvent.id)).all()
    finally:
        engine.dispose()
    return [p if isinstance(p, dict) else json.loads(p) for p in payloads]


# -- a connection lost in the middle of a batch, on the shared server (fast) ----------------


OBSERVED = datetime(2026, 1, 1, tzinfo=UTC)


class Numbered(Connector):
    """Three batches of ten people, the cursor counting batches; ``before_batch`` (set by
    the test) runs before each batch is handed over."""

    kind = "numbered"
    before_batch: ClassVar[Callable[[int], None]] = staticmethod(lambda n: None)

    def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        start = 0 if full or cursor is None else int(cursor["n"])
        for n in range(start + 1, 4):
            type(self).before_batch(n)
            yield Batch([Observation(
                kind="person", external_id=f"p{n}-{i}", observed_at=OBSERVED,
                person={"full_name": f"Person {n} {i}",
                        "emails": [{"value": f"person.{n}.{i}@example.com"}]})
                for i in range(10)], cursor={"n": n})


class _Register:
    @hookimpl
    def crmhub_register_connectors(self) -> list[type[Connector]]:
        return [Numbered]


@pytest.fixture
def numbered_hub(pg_url: str, tmp_path: Path) -> Iterator[Hub]:
    """A hub on a fresh PostgreSQL database with the ``numbered`` connector, run in one
    process (no producer) so that the test can cut its connection between statements."""
    upgrade_engine = make_engine(pg_url)
    upgrade(upgrade_engine)
    upgrade_engine.dispose()
    config = tmp_path / "crmhub.toml"
    config.write_text(f'[hub]\ndatabase_url = "{pg_url}"\nparallel_prepare = false\n'
                      '[[connectors]]\nname = "numbered"\nkind = "numbered"\n',
                      encoding="utf-8")
    hub = Hub.open(config, plugins=HubPlugins.load(extra=[("numbered", _Register())]))
    yield hub
    Numbered.before_batch = staticmethod(lambda n: None)
    hub.close()


def _cut_connection_during_batch(hub: Hub, batch: int, statement: int = 5) -> list[int]:
    """Arm one cut: at the ``statement``-th statement of batch ``batch`` the server ends
    the session running it, as a restart does. Returns the backends it ended."""
    ended: list[int] = []
    armed = {"count": -1}

    def before_batch(n: int) -> None:
        armed["count"] = 0 if n == batch and not ended else -1

    def before_execute(connection: Any, *_: Any) -> None:
        if armed["count"] < 0:
            return
        armed["count"] += 1
        if armed["count"] == statement:
            armed["count"] = -1
            backend = connection.connection.dbapi_connection.info.backend_pid
            admin = create_engine(hub.engine.url, poolclass=NullPool)
            with admin.connect() as other:
                assert other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"),
                                     {"pid": backend}).scalar_one()
            admin.dispose()
            ended.append(backend)

    Numbered.before_batch = staticmethod(before_batch)
    event.listen(hub.engine, "before_cursor_execute", before_execute)
    return ended


def _stored(hub: Hub) -> tuple[list[str], Any]:
    with hub.pipeline.sessions() as session:
        ids = list(session.scalars(select(SourceRecord.external_id)
                                   .order_by(SourceRecord.external_id)))
        state = session.get(SyncState, "numbered")
        return ids, None if state is None else state.cursor


def test_a_connection_lost_mid_batch_fails_the_run_and_the_next_run_resumes_after_the_last_commit(
        numbered_hub: Hub) -> None:
    ended = _cut_connection_during_batch(numbered_hub, batch=2)

    first = run_sync(numbered_hub, "numbered")

    assert len(ended) == 1
    assert not first.ok and first.batches == 1
    ids, cursor = _stored(numbered_hub)
    assert cursor == {"n": 1}
    assert ids == sorted(f"p1-{i}" for i in range(10))

    second = run_sync(numbered_hub, "numbered")  # the pool replaces the dead connection

    assert second.ok and second.batches == 2 and second.stats.created == 20
    ids, cursor = _stored(numbered_hub)
    assert cursor == {"n": 3}
    assert ids == sorted(f"p{n}-{i}" for n in (1, 2, 3) for i in range(10))


def test_a_connection_lost_mid_batch_is_reported_as_a_retriable_failure(
        numbered_hub: Hub) -> None:
    _cut_connection_during_batch(numbered_hub, batch=2)

    report = run_sync(numbered_hub, "numbered")

    assert report.error_kind == "retriable"


def test_a_connection_lost_mid_batch_is_reported_with_the_database_error_that_cut_it(
        numbered_hub: Hub) -> None:
    _cut_connection_during_batch(numbered_hub, batch=2)

    report = run_sync(numbered_hub, "numbered")

    assert (report.error or "").startswith("OperationalError: ")
    assert "terminating connection due to administrator command" in (report.error or "")


# -- the daemon through a server restart (the cluster of the test's own) ------------------


def test_a_daemon_whose_postgresql_restarts_mid_sync_reconnects_resumes_and_ends_equal_to_an_uninterrupted_run(  # noqa: E501
        outage: Outcome) -> None:
    good = outage.generated.good
    # The server stopped while the first run was between its first and last batch.
    assert 1000 <= outage.committed_before_stop < good
    messages = [line["msg"] for line in outage.log]
    failed = [m for m in messages if m.startswith(f"sync {CONNECTOR} failed: ")]
    assert len(failed) == 1, messages
    # The daemon outlived the outage: a later run resumed after the last committed batch
    # (none was lost, none replayed) and finished.
    resumed = [int(m.split("resuming after ")[1].split()[0]) for m in messages
               if "resuming after " in m]
    assert len(resumed) == 1, messages
    assert outage.committed_before_stop <= resumed[0] < good and resumed[0] % 500 == 0
    assert sum(m.startswith(f"sync {CONNECTOR} finished: ") for m in messages) >= 1
    assert outage.state["last_success"] is not None
    assert outage.state["consecutive_failures"] == 0
    (file_state,) = outage.state["cursor"]["files"].values()
    assert file_state["rows"] == ROWS and file_state["done"] is True
    assert outage.daemon_exit == 0
    # The same database as the uninterrupted run: every record once, the same contacts.
    assert outage.restarted_census["source_records"] == good
    restarted = {**outage.restarted_census, "outbox": dict(outage.restarted_census["outbox"])}
    assert restarted["outbox"].pop("sync.failed") == 1  # the cut run, recorded
    assert restarted == outage.reference_census
    assert outage.restarted_rows == outage.reference_rows
    assert len(outage.restarted_rows) == outage.reference_census["live_contacts"]


def test_the_run_cut_by_the_restart_is_recorded_as_a_retriable_failure(
        outage: Outcome) -> None:
    assert [event["kind"] for event in outage.failed_events] == ["retriable"]
    assert outage.failed_events[0]["error"].startswith("OperationalError: ")
