"""``crmhub run``: the daemon IT runs under systemd.

Each connector run happens in a worker process forked from the daemon. A connector that
raises, hangs or blows up its memory is isolated: the daemon kills a run that passes its
deadline (``timeout``, else ``[hub] run_timeout``), records the failure and schedules a
retry with backoff, and every other connector keeps its schedule. Threads could not do
this: a thread stuck in a C call or a socket read cannot be stopped.

As in gunicorn's arbiter, signal handlers only set flags and wake the main loop:
SIGTERM/SIGINT ask the workers to stop after their current batch (each batch is its own
transaction, so nothing is lost) and exit 0 within ``stop_timeout``; SIGHUP rebuilds the
config, plugins and database connection from scratch and swaps them in only if valid.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_ready
from multiprocessing.context import ForkProcess
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import select

from hub.config import ConfigError
from hub.logs import describe_error
from hub.match.autotrain import train_if_due, training_state
from hub.match.engine import ProbabilisticResolver
from hub.service import children, leases, routing
from hub.service.listener import Listener, ListenError
from hub.service.retention import run_retention
from hub.service.runtime import Hub
from hub.service.sync import (
    SyncReport,
    dispatch_outbox,
    error_kind,
    record_outcome,
    run_sync,
    run_timeout,
)
from hub.service.systemd import Notifier, Watchdog
from hub.store.db import SchemaError, database_unavailable
from hub.store.model import SyncState
from hub.webhooks import WebhookConnector

log = logging.getLogger(__name__)
_fork = multiprocessing.get_context("fork")

# A worker's exit code when its run failed and the database failed too before the
# outcome was stored: the worker has sent the outcome on its pipe for the daemon to record.
UNRECORDED = 3

# The main loop's longest pass (a reload, a large SLA re-routing pass) stays well under
# this; a loop that has not come round for this long is stuck, and the watchdog lets
# systemd restart the service.
STALL_AFTER = 600.0
# A connector whose lease another process holds is tried again when that lease expires,
# or after this many seconds if sooner (the holder may finish early): one conditional
# UPDATE each time.
HELD_RETRY = 5.0
TRAIN_CHECK = 600.0  # seconds between two checks whether the matcher should be trained


@dataclass
class Worker:
    name: str
    kind: str
    owner: str  # the daemon's lease owner, handed to the worker as ``runner`` at its start
    process: ForkProcess
    outcome: Connection  # the worker's report when it could not record it (UNRECORDED)
    started: float
    deadline: float
    stop_sent: bool = False

    @property
    def runner(self) -> str:
        """The lease owner naming the worker process itself."""
        return leases.owner_for_pid(self.owner, self.process.pid or 0)


class _StopFlag:
    """Set from a signal handler: a plain attribute, no lock (a handler must never block)."""

    def __init__(self) -> None:
        self.value = False

    def set(self, *_: object) -> None:
        self.value = True

    def __call__(self) -> bool:
        return self.value


def _work(hub: Hub, name: str, owner: str, daemon_pid: int, outcome: Connection) -> None:
    """Body of a worker process: one run of one connector, then exit.

    The worker stops after its current batch when the daemon dies (SIGTERM from the
    kernel) or asks it to, and takes the lease over from the daemon first, so that a new
    daemon sees a live holder until the run has really ended. A run that does not reach
    the end of its batch within ``stop_timeout`` of that SIGTERM (a connector stuck in a
    read) is killed with its process group by the worker itself, so no worker outlives
    a dead daemon by more than that.
    """
    os.setpgid(0, 0)  # its own process group: a deadline kill takes its helpers too
    stop = _StopFlag()
    grace = max(1, math.ceil(hub.config.hub.stop_timeout))

    def on_stop(_signum: int, _frame: FrameType | None) -> None:
        if not stop():
            signal.alarm(grace)
        stop.set()

    signal.signal(signal.SIGALRM, _kill_own_group)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    children.die_with_parent(daemon_pid, signal.SIGTERM)
    try:
        hub.engine.dispose(close=False)  # the daemon closed its pool before forking
        code, unrecorded = _run_in_worker(hub, name, owner, stop)
    except BaseException as exc:  # the database away before the run began, a bug
        log.error("worker for %s failed: %s", name, describe_error(exc), exc_info=True,
                  extra={"connector": name})
        code, unrecorded = 1, (describe_error(exc), error_kind(exc))
    if unrecorded is not None:
        with contextlib.suppress(OSError):
            outcome.send(unrecorded)
            code = UNRECORDED
    logging.shutdown()
    os._exit(code)  # skip the parent's atexit handlers


def _run_in_worker(hub: Hub, name: str, owner: str,
                   stop: _StopFlag) -> tuple[int, tuple[str | None, str | None] | None]:
    """The run, and the failure the worker could not record, for the daemon to record."""
    runner = leases.owner_for_pid(owner, os.getpid())
    if not leases.transfer(hub.pipeline.sessions, name, owner, runner):
        log.warning("sync %s not started: its lease was taken over before the worker ran",
                    name, extra={"connector": name})
        return 1, None
    report = run_sync(hub, name, lease_owner=runner, should_stop=stop)
    if not report.recorded:
        return 1, (report.error, report.error_kind)
    return (0 if report.ok else 1), None


def _train(hub: Hub, daemon_pid: int) -> None:
    """Body of the trainer process: train the matcher if the store grew enough, then exit."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    children.die_with_parent(daemon_pid, signal.SIGTERM)
    code = 0
    try:
        hub.engine.dispose(close=False)  # the daemon closed its pool before forking
        resolver = hub.pipeline.resolver
        if isinstance(resolver, ProbabilisticResolver):
            with hub.pipeline.sessions.begin() as session:
                train_if_due(session, resolver, datetime.now(UTC))
    except BaseException as exc:  # the database away, a bug: logged, tried again later
        log.error("matcher training failed: %s", describe_error(exc), exc_info=True)
        code = 1
    logging.shutdown()
    os._exit(code)  # skip the parent's atexit handlers


def _kill_own_group(_signum: int, _frame: FrameType | None) -> None:
    """SIGALRM in a worker asked to stop: its run did not stop in time."""
    os.killpg(0, signal.SIGKILL)


def _kill_group(worker: Worker) -> None:
    """Kill a worker and the processes it started (a sync's producer)."""
    pid = worker.process.pid
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    worker.process.kill()
    worker.process.join(5)


@dataclass
class Daemon:
    config_path: Path
    hub: Hub
    notifier: Notifier = field(default_factory=Notifier)
    workers: dict[str, Worker] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Signal handlers set these flags and write a byte to the pipe the main loop
        # sleeps on (the self-pipe trick): no lock is ever taken inside a handler.
        self.stopping = False
        self.reloading = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._last_purge: float | None = None
        self._last_status = ""
        self._last_routing: float | None = None
        self._last_training: float | None = None
        self.trainer: ForkProcess | None = None  # the matcher's training, off the loop
        self.watchdog = Watchdog(self.notifier, STALL_AFTER)
        self.deferred: dict[str, float] = {}  # connector held elsewhere -> retry (monotonic)
        self.unrecorded: list[tuple[Worker, SyncReport]] = []  # failures the database missed
        self._held_by: dict[str, str] = {}  # connector -> the holder last logged
        self.listener: Listener | None = None

    # -- signals: flags only -------------------------------------------------------------

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        self._wake()

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reloading = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"!")

    def sleep(self, seconds: float) -> None:
        """Wait up to ``seconds``; a signal or a worker's exit cuts it short."""
        # Every worker not reaped yet, ended or not: an ended one's sentinel is readable,
        # so a worker that ended after the last pass is reaped at once.
        sentinels = [worker.process.sentinel for worker in self.workers.values()]
        ready = wait_ready([self._wake_r, *sentinels], seconds)
        if self._wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_r, 512):
                    pass

    # -- the main loop -------------------------------------------------------------------

    def serve(self) -> int:
        if self.hub.config.hub.listen:
            try:
                self.listener = Listener(self.hub.config.hub.listen, self._wake_w)
            except ListenError as exc:
                log.error("%s", exc)
                return 1
            self.hub.inbox  # noqa: B018 - created here once, not by two processes at once
            self.listener.start(self.hub)
        self.hub.plugins.startup(self.hub)
        self.notifier.ready(self.summary())
        self.watchdog.start()
        log.info("crmhub running: %d connector(s), %d worker(s)",
                 len(self.hub.config.connectors), self.hub.config.hub.workers)
        failing = False
        while not self.stopping:
            try:
                self.tick()
                pause = self.seconds_to_next()
                failing = False
            except Exception as exc:  # the database away, a bug: log it, never die of it
                if not failing:
                    log.exception("daemon loop error; retrying every 5 s")
                failing = True
                self.report_status(f"{self.summary()}; retrying every 5 s after an error: "
                                   f"{describe_error(exc)}")
                pause = 5.0
            self.watchdog.beat()
            if not self.stopping:
                self.sleep(pause)
        self.shutdown()
        return 0

    def tick(self) -> None:
        if self.reloading:
            self.do_reload()
        self.reap()
        if self.listener is not None:
            self.listener.supervise(self.hub)
        self.record_failures()
        self.enforce_deadlines()
        self.start_due()
        self.housekeeping()

    def summary(self) -> str:
        running = ", ".join(sorted(self.workers)) or "idle"
        return f"{len(self.hub.config.connectors)} connectors; running: {running}"

    def housekeeping(self) -> None:
        try:
            dispatch_outbox(self.hub)
            self.purge_if_due()
            self.route_if_due()
            self.train_if_due()
        except Exception:
            log.exception("housekeeping failed; the daemon goes on")
        self.report_status(self.summary())

    def report_status(self, status: str) -> None:
        """``STATUS=`` for ``systemctl status``, sent when it changes."""
        if status != self._last_status:
            self.notifier.status(status)
            self._last_status = status

    def due(self, now: datetime) -> list[str]:
        """Enabled connectors whose next run has come, oldest first; a push connector
        with requests waiting in the inbox has come now."""
        with self.hub.pipeline.sessions() as session:
            rows = session.execute(select(SyncState.connector, SyncState.next_run,
                                          SyncState.cursor)).all()
        planned = {name: when for name, when, _ in rows}
        waiting = self.inbox_waiting({name: cursor for name, _, cursor in rows})
        ready = []
        clock = time.monotonic()
        for cfg in self.hub.config.connectors:
            when = now if cfg.name in waiting else planned.get(cfg.name) or now
            if cfg.enabled and cfg.name not in self.workers and when <= now \
                    and self.deferred.get(cfg.name, 0.0) <= clock:
                ready.append((when, cfg.name))
        return [name for _, name in sorted(ready)]

    def inbox_waiting(self, cursors: dict[str, Any]) -> set[str]:
        """The push connectors with requests in the inbox beyond their cursor."""
        classes = self.hub.plugins.connector_classes()
        push = [cfg.name for cfg in self.hub.config.connectors if cfg.enabled
                and issubclass(classes.get(cfg.kind, object), WebhookConnector)]
        if not push:
            return set()
        newest = self.hub.inbox.last_ids()
        return {name for name in push
                if newest.get(name, 0) > int((cursors.get(name) or {}).get("inbox_id", 0))}

    def seconds_to_next(self) -> float:
        """Until the next thing to do: a connector due (while a worker is free), a run's
        deadline, a failure to record again. A worker's exit wakes the loop by itself."""
        clock = time.monotonic()
        waits = [60.0, *(worker.deadline - clock for worker in self.workers.values())]
        if self.unrecorded:
            waits.append(5.0)
        if len(self.workers) < self.hub.config.hub.workers:
            now = datetime.now(UTC)
            with self.hub.pipeline.sessions() as session:
                planned = dict(session.execute(
                    select(SyncState.connector, SyncState.next_run)).all())
            for cfg in self.hub.config.connectors:
                if cfg.enabled and cfg.name not in self.workers:
                    next_run = planned.get(cfg.name)
                    at = (next_run - now).total_seconds() if next_run is not None else 0.0
                    waits.append(max(at, self.deferred.get(cfg.name, clock) - clock))
        return max(0.05, min(waits))

    def start_due(self) -> None:
        for name in self.due(datetime.now(UTC)):
            if self.stopping or len(self.workers) >= self.hub.config.hub.workers:
                return
            self.start(name)

    def start(self, name: str) -> Worker | None:
        cfg = self.hub.config.connector(name)
        owner = leases.new_owner()
        timeout = run_timeout(self.hub, name)
        now = datetime.now(UTC)
        held = leases.acquire(self.hub.pipeline.sessions, name, cfg.kind, owner,
                              timeout + 60, now)
        if held is not None:
            self.defer(name, held, now)
            return None
        self.deferred.pop(name, None)
        self._held_by.pop(name, None)
        children.forget_connections(self.hub.engine)
        outcome, theirs = _fork.Pipe(duplex=False)
        process = _fork.Process(target=_work,
                                args=(self.hub, name, owner, os.getpid(), theirs),
                                name=f"crmhub-{name}", daemon=False)
        process.start()
        theirs.close()
        started = time.monotonic()
        worker = Worker(name, cfg.kind, owner, process, outcome, started, started + timeout)
        self.workers[name] = worker
        log.debug("worker %s started for %s", process.pid, name, extra={"connector": name})
        return worker

    def defer(self, name: str, held: leases.Held, now: datetime) -> None:
        """Another process runs ``name``: try again when its lease expires or after
        ``HELD_RETRY`` seconds, logging once per holder rather than at every pass."""
        wait = max(0.5, min((held.until - now).total_seconds(), HELD_RETRY))
        self.deferred[name] = time.monotonic() + wait
        level = logging.INFO if self._held_by.get(name) != held.owner else logging.DEBUG
        self._held_by[name] = held.owner
        log.log(level, "connector %s skipped: %s; trying again in %.0f s", name, held, wait,
                extra={"connector": name})

    def reap(self) -> None:
        for name, worker in list(self.workers.items()):
            code = worker.process.exitcode
            if code is None:
                continue
            worker.process.join()
            del self.workers[name]
            if code == UNRECORDED and worker.outcome.poll():
                error, kind = worker.outcome.recv()
                self._fail(worker, error, kind)
            elif code < 0 and not worker.stop_sent:
                self._fail(worker, f"worker process died with signal {-code}")
            elif code != 0:
                self._release(worker)  # the run recorded its failure; its lease may stay
            worker.outcome.close()

    def _release_leases(self, worker: Worker) -> None:
        for owner in (worker.runner, worker.owner):  # handed over or not yet
            leases.release(self.hub.pipeline.sessions, worker.name, owner)

    def _release(self, worker: Worker) -> None:
        """Release the lease a worker held under either name; an error leaves it to expire
        (or to be taken over: its holder's pid is dead)."""
        try:
            self._release_leases(worker)
        except Exception as exc:
            log.warning("the lease of %s could not be released: %s", worker.name,
                        describe_error(exc), extra={"connector": worker.name})

    def enforce_deadlines(self) -> None:
        now = time.monotonic()
        for name, worker in list(self.workers.items()):
            if now < worker.deadline or worker.process.exitcode is not None:
                continue
            _kill_group(worker)
            del self.workers[name]
            self._fail(worker, f"run exceeded its deadline of {now - worker.started:.0f}s "
                               "and was abandoned")

    def _fail(self, worker: Worker, error: str, kind: str = "retriable") -> None:
        """Record a run the worker could not record itself (killed, crashed, or the
        database failed); kept and retried while the database is away."""
        log.error("connector %s: %s", worker.name, error, extra={"connector": worker.name})
        self.unrecorded.append((worker, SyncReport(
            connector=worker.name, run_id=worker.owner.rsplit(":", 1)[-1], error=error,
            error_kind=kind)))
        self.record_failures()

    def record_failures(self) -> None:
        """Store the failures not stored yet, oldest first; stop at the first that the
        database refuses while it is away (the next pass tries again). Any other error is
        logged and that failure dropped, so one bad entry cannot hold up the rest."""
        while self.unrecorded:
            worker, report = self.unrecorded[0]
            try:
                record_outcome(self.hub, worker.kind, report)
                self._release_leases(worker)
            except Exception as exc:
                if database_unavailable(exc):  # the loop reports the outage itself
                    log.debug("the failure of %s is not recorded yet: %s", worker.name,
                              describe_error(exc), extra={"connector": worker.name})
                    return
                log.exception("the failure of %s cannot be recorded; it is dropped",
                              worker.name, extra={"connector": worker.name})
            self.unrecorded.pop(0)

    def do_reload(self) -> None:
        self.reloading = False
        self.notifier.reloading()
        try:
            fresh = Hub.open(self.config_path)
        except (ConfigError, SchemaError) as exc:
            log.error("reload rejected, the running configuration stays:\n%s", exc)
            self.notifier.ready(self.summary())
            return
        except Exception:
            log.exception("reload failed, the running configuration stays")
            self.notifier.ready(self.summary())
            return
        if not self._relisten(fresh):
            fresh.close()
            self.notifier.ready(self.summary())
            return
        old, self.hub = self.hub, fresh
        old.close()  # running workers keep their own copy until they finish
        log.info("configuration reloaded from %s: %d connector(s)", self.config_path,
                 len(fresh.config.connectors))
        self.notifier.ready(self.summary())

    def _relisten(self, fresh: Hub) -> bool:
        """Serve the reloaded configuration: a new listener process (on a new address if
        it changed). False: the new address cannot be bound, the reload is rejected."""
        address = fresh.config.hub.listen
        stop = self.hub.config.hub.stop_timeout
        if self.listener is not None and address == self.listener.address:
            self.listener.stop(stop)
            self.listener.start(fresh)
            return True
        try:
            listener = Listener(address, self._wake_w) if address else None
        except ListenError as exc:
            log.error("reload rejected, the running configuration stays: %s", exc)
            return False
        if self.listener is not None:
            self.listener.close(stop)
        self.listener = listener
        if listener is not None:
            listener.start(fresh)
        return True

    def shutdown(self) -> None:
        self.notifier.stopping()
        if self.listener is not None:  # no new request accepted from here on
            self.listener.close(self.hub.config.hub.stop_timeout)
        log.info("stopping: %d run(s) finishing their current batch", len(self.workers))
        for worker in self.workers.values():
            worker.stop_sent = True
            if worker.process.exitcode is None and worker.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # it may end meanwhile
                    os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.hub.config.hub.stop_timeout
        for worker in list(self.workers.values()):
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                _kill_group(worker)
                self._fail(worker, "killed at shutdown after stop_timeout; its last batch "
                                   "was rolled back and will be read again")
        self.workers.clear()
        if self.trainer is not None and self.trainer.exitcode is None:
            self.trainer.terminate()  # its transaction rolls back; it is tried again later
            self.trainer.join(self.hub.config.hub.stop_timeout)
        self.record_failures()
        if self.unrecorded:
            log.error("stopping with %d failed run(s) not recorded: the database is away",
                      len(self.unrecorded))
        try:
            dispatch_outbox(self.hub)
        except Exception:
            log.exception("outbox dispatch at shutdown failed")
        self.hub.plugins.shutdown(self.hub)
        self.hub.close()
        self.watchdog.stop()
        self.notifier.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        log.info("crmhub stopped")

    def route_if_due(self) -> None:
        """SLA re-routing, inactive owners' leads and notifications (hub.service.routing)."""
        now = time.monotonic()
        if self._last_routing is not None and now - self._last_routing < routing.EVERY:
            return
        self._last_routing = now
        routing.housekeeping(self.hub)

    def train_if_due(self) -> None:
        """Every ``TRAIN_CHECK`` seconds, whether the store has grown enough to train the
        matcher (one count); if so, a process of its own trains it and runs the batch
        matcher (``hub.match.autotrain``): the loop never waits for it."""
        if not self.hub.config.match.auto_train:
            return
        if self.trainer is not None:
            if self.trainer.exitcode is None:
                return
            if self.trainer.exitcode:
                log.error("matcher training ended with exit code %s", self.trainer.exitcode)
            self.trainer = None
        now = time.monotonic()
        if self._last_training is not None and now - self._last_training < TRAIN_CHECK:
            return
        self._last_training = now
        with self.hub.pipeline.sessions() as session:  # one count: is it due at all?
            due = training_state(session, self.hub.config.match).due
        if due is None:
            return
        children.forget_connections(self.hub.engine)
        self.trainer = _fork.Process(target=_train, args=(self.hub, os.getpid()),
                                     name="crmhub-train", daemon=False)
        self.trainer.start()

    def purge_if_due(self) -> None:
        now = time.monotonic()
        if self._last_purge is not None and now - self._last_purge < 3600:
            return
        self._last_purge = now
        with self.hub.pipeline.sessions.begin() as session:
            purged = run_retention(
                session, self.hub.config.hub.raw_retention_days,
                self.hub.config.hub.interaction_retention_days, datetime.now(UTC),
                event_plugins=bool(self.hub.plugins.pm.hook.crmhub_on_event.get_hookimpls()))
        if "inbox" in self.hub.__dict__:  # opened: a push connector or the listener used it
            forgotten = self.hub.inbox.purge(self.hub.config.hub.inbox_retention_days)
            if forgotten:
                log.info("retention: %d processed webhook requests forgotten", forgotten)
        if purged.raw_payloads or purged.quarantine_items or purged.events or \
                purged.interactions:
            log.info("retention: %d raw payloads, %d quarantine items, %d events and %d "
                     "interactions purged", purged.raw_payloads, purged.quarantine_items,
                     purged.events, purged.interactions)
