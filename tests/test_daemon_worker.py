"""The daemon's bookkeeping around its workers, in process: a worker that fails before its
run begins, failures the database could not take at once, a connector removed while it
ran, and the producer's commit callbacks when its connector fails after its last batch.

The daemon here is :class:`hub.service.daemon.Daemon` driven pass by pass (no main loop,
no signals); its workers are real forked processes, so what a worker inherits (a patched
function, the plugins) is what a forked worker would inherit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from hub import hookimpl
from hub.connectors import Batch, Connector, ConnectorSettings, RetriableError
from hub.plugins import HubPlugins
from hub.records import Observation
from hub.service import daemon as daemon_module
from hub.service import leases
from hub.service.daemon import UNRECORDED, Daemon, Worker
from hub.service.runtime import Hub
from hub.service.sync import SyncReport, run_sync
from hub.store.db import make_engine, upgrade
from hub.store.model import SourceRecord, SyncState

OBSERVED = "2026-01-01T00:00:00Z"


class Committed(Connector):
    """Three batches of five people; each batch's ``on_commit`` appends its number to the
    ``journal`` file; ``fail_at_end`` raises after the last batch."""

    kind = "committed"
    fail_at_end: ClassVar[bool] = False

    class Settings(ConnectorSettings):
        journal: str

    def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        journal = Path(self.settings.journal)

        def committed(n: int) -> None:
            with journal.open("a") as out:
                out.write(f"{n}\n")

        for n in range(1, 4):
            yield Batch([Observation(
                kind="person", external_id=f"p{n}-{i}", observed_at=OBSERVED,
                person={"full_name": f"Person {n} {i}",
                        "emails": [{"value": f"person.{n}.{i}@example.com"}]})
                for i in range(5)], cursor={"n": n}, on_commit=lambda n=n: committed(n))
        if type(self).fail_at_end:
            raise RetriableError("the source went away after its last page")


class _Register:
    @hookimpl
    def crmhub_register_connectors(self) -> list[type[Connector]]:
        return [Committed]


@pytest.fixture
def hub(db_url: str, tmp_path: Path) -> Iterator[Hub]:
    config = tmp_path / "crmhub.toml"
    config.write_text(
        f'[hub]\ndatabase_url = "{db_url}"\nparallel_prepare = true\n'
        '[[connectors]]\nname = "committed"\nkind = "committed"\nevery = "1h"\n'
        f'[connectors.settings]\njournal = "{tmp_path / "journal"}"\n', encoding="utf-8")
    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()
    opened = Hub.open(config, plugins=HubPlugins.load(extra=[("committed", _Register())]))
    yield opened
    Committed.fail_at_end = False
    opened.close()


def _daemon(hub: Hub) -> Daemon:
    return Daemon(hub.loaded.path, hub)


def _state(hub: Hub, name: str) -> SyncState | None:
    with hub.pipeline.sessions() as session:
        return session.get(SyncState, name)


def _reap_all(daemon: Daemon, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while daemon.workers:
        assert time.monotonic() < deadline, "the worker did not end"
        daemon.reap()
        time.sleep(0.05)


def _away(*_: Any) -> None:
    raise OperationalError("UPDATE sync_state", {}, Exception("server closed the connection"),
                           connection_invalidated=True)


def test_a_worker_whose_database_fails_before_its_run_begins_has_its_failure_recorded(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leases, "transfer", _away)  # inherited by the forked worker
    daemon = _daemon(hub)
    worker = daemon.start("committed")
    assert worker is not None

    _reap_all(daemon)

    assert worker.process.exitcode == UNRECORDED
    state = _state(hub, "committed")
    assert state is not None
    assert state.last_error is not None and "server closed the connection" in state.last_error
    assert state.consecutive_failures == 1
    assert state.lease_owner is None  # the daemon's lease, never handed over, is released
    assert daemon.unrecorded == []


def _report(name: str) -> SyncReport:
    return SyncReport(connector=name, run_id="r1", error="the worker died",
                      error_kind="retriable")


def _worker(daemon: Daemon, name: str) -> Worker:
    return Worker(name, "committed", leases.new_owner(), process=None,  # type: ignore[arg-type]
                  outcome=None, started=0.0, deadline=0.0)  # type: ignore[arg-type]


@pytest.fixture
def no_process_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers built by hand have no process: their runner is the daemon's owner."""
    monkeypatch.setattr(Worker, "runner", property(lambda self: self.owner))


@pytest.mark.usefixtures("no_process_owner")
def test_the_failure_of_a_connector_removed_by_a_reload_is_recorded_with_the_default_schedule(
        hub: Hub) -> None:
    daemon = _daemon(hub)
    daemon.unrecorded.append((_worker(daemon, "removed"), _report("removed")))

    daemon.record_failures()

    assert daemon.unrecorded == []
    state = _state(hub, "removed")
    assert state is not None and state.last_error == "the worker died"
    assert state.next_run is not None and state.last_attempt is not None


@pytest.mark.usefixtures("no_process_owner")
def test_a_failure_that_cannot_be_recorded_is_dropped_and_the_next_is_recorded(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    real = daemon_module.record_outcome

    def broken_for_first(hub: Hub, kind: str, report: SyncReport) -> None:
        if report.connector == "first":
            raise ValueError("a bug in recording")
        real(hub, kind, report)

    monkeypatch.setattr(daemon_module, "record_outcome", broken_for_first)
    daemon = _daemon(hub)
    daemon.unrecorded += [(_worker(daemon, "first"), _report("first")),
                          (_worker(daemon, "committed"), _report("committed"))]

    daemon.record_failures()

    assert daemon.unrecorded == []
    assert _state(hub, "first") is None
    state = _state(hub, "committed")
    assert state is not None and state.last_error == "the worker died"


@pytest.mark.usefixtures("no_process_owner")
def test_failures_wait_while_the_database_is_away_and_are_recorded_once_it_is_back(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    daemon = _daemon(hub)
    daemon.unrecorded.append((_worker(daemon, "committed"), _report("committed")))
    with monkeypatch.context() as patched:
        patched.setattr(daemon_module, "record_outcome", _away)
        daemon.record_failures()
        assert len(daemon.unrecorded) == 1
    daemon.record_failures()
    assert daemon.unrecorded == []
    state = _state(hub, "committed")
    assert state is not None and state.consecutive_failures == 1


def test_a_connector_failing_after_its_last_batch_still_runs_every_committed_batchs_callback(
        hub: Hub, tmp_path: Path) -> None:
    Committed.fail_at_end = True

    report = run_sync(hub, "committed")

    assert report.error == "RetriableError: the source went away after its last page"
    assert report.batches == 3
    with hub.pipeline.sessions() as session:
        assert len(session.scalars(select(SourceRecord.id)).all()) == 15
    # Each committed batch's callback ran once, in the producer, in order.
    assert (tmp_path / "journal").read_text().split() == ["1", "2", "3"]


def test_while_a_run_goes_on_the_daemon_sleeps_until_its_deadline_and_wakes_when_it_ends(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """No polling of the database several times a second while a worker runs: the loop
    waits for the run's deadline (an hour away) and the worker's exit wakes it."""
    def slow_run(hub: Hub, name: str, **_: Any) -> SyncReport:
        time.sleep(0.5)
        return SyncReport(connector=name, run_id="r1")

    monkeypatch.setattr(daemon_module, "run_sync", slow_run)  # inherited by the worker
    daemon = _daemon(hub)
    worker = daemon.start("committed")
    assert worker is not None
    assert daemon.seconds_to_next() == 60.0  # the longest sleep; the run ends in 30 min

    started = time.monotonic()
    daemon.sleep(30)
    woken = time.monotonic() - started

    assert woken < 10  # woken by the exit, not by the 30 s timeout
    worker.process.join(5)  # its pipe closes a moment before the kernel reports its exit
    assert worker.process.exitcode == 0
    daemon.reap()
    assert daemon.workers == {}
