"""One sync run of one connector: its batches through the pipeline, its state recorded.

The connector's generator is resumed only after the previous batch committed, so a
connector may act on "that batch is stored" (a drop folder moves its file then). A run
that raises is recorded in ``sync_state`` (last error, consecutive failures) and as a
``sync.failed`` event; the caller decides when to retry.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import random
import signal
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import select

from hub.clock import utcnow
from hub.config import ConnectorConfig
from hub.connectors import FatalError, RetriableError
from hub.ingest.state import IngestStats
from hub.logs import describe_error, log_context
from hub.service import children, leases
from hub.service.runtime import Hub
from hub.store.db import database_unavailable, hold_open
from hub.store.model import OutboxEvent, SyncState

log = logging.getLogger(__name__)
_fork = multiprocessing.get_context("fork")

# A batch allocates a few hundred thousand short-lived objects; with CPython's default
# threshold (700) the cyclic collector ran thousands of times per batch and took about a
# fifth of a bulk import (benchmarks/stages.py). Nearly all of them die by reference
# counting, so collecting young objects every 50,000 allocations loses nothing.
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """For a process that ingests (``crmhub run``, ``crmhub sync``): collect less often,
    and leave everything loaded so far (modules, config, plugins) out of every scan."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(GC_YOUNG_THRESHOLD, young), middle, old)


@dataclass
class SyncReport:
    connector: str
    run_id: str
    stats: IngestStats = field(default_factory=IngestStats)
    batches: int = 0
    error: str | None = None
    error_kind: str | None = None
    seconds: float = 0.0
    stopped: bool = False
    recorded: bool = True  # False: the database failed before the outcome was stored
    started: float = field(default_factory=time.monotonic, repr=False)

    @property
    def elapsed(self) -> float:
        """The run's seconds: final once it ended, so far while it is being recorded."""
        return self.seconds or time.monotonic() - self.started

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def warnings(self) -> list[str]:
        """What an admin should look at although the run did not fail: the connector's
        warnings, and a run that quarantined rows and stored none."""
        stats = self.stats
        found = list(dict.fromkeys(stats.warnings))
        if stats.quarantined and not (stats.created + stats.updated + stats.unchanged
                                      + stats.deleted):
            found.append(f"0 stored, {stats.quarantined} quarantined: see `crmhub "
                         "quarantine list`")
        return found

    def as_dict(self) -> dict[str, Any]:
        return {"connector": self.connector, "run_id": self.run_id, "ok": self.ok,
                "batches": self.batches, "error": self.error, "seconds": round(self.seconds, 3),
                "stopped": self.stopped, **self.stats.as_dict(), "warnings": self.warnings}


def run_timeout(hub: Hub, name: str) -> float:
    cfg = hub.config.connector(name)
    return float(cfg.timeout or hub.config.hub.run_timeout)


def run_sync(hub: Hub, name: str, *, full: bool = False, dry_run: bool = False,
             allow_deletes: bool = False, should_stop: Callable[[], bool] = lambda: False,
             progress: Callable[[SyncReport], None] | None = None,
             lease_owner: str | None = None) -> SyncReport:
    """Run ``name`` once from its stored cursor (``full``: from the start).

    The run holds the connector's lease (taken here unless ``lease_owner`` already holds
    it), renews it after every batch and releases it at the end.
    """
    cfg = hub.config.connector(name)
    report = SyncReport(connector=name, run_id=uuid.uuid4().hex[:12])
    extra = {"connector": name, "run_id": report.run_id}
    owner = lease_owner or leases.new_owner()
    ttl = run_timeout(hub, name) + 60
    held = leases.acquire(hub.pipeline.sessions, name, cfg.kind, owner, ttl, utcnow())
    if held is not None:
        report.error, report.error_kind = str(held), "busy"
        log.warning("sync %s not started: %s", name, held, extra=extra)
        return report
    try:
        with log_context(**extra):  # the HTTP layer's and the connector's lines too
            _run(hub, name, report, full=full, dry_run=dry_run, allow_deletes=allow_deletes,
                 should_stop=should_stop, progress=progress, owner=owner, ttl=ttl)
    finally:
        try:
            leases.release(hub.pipeline.sessions, name, owner)
        except Exception as exc:  # the database away: the lease expires or is taken over
            log.warning("sync %s: its lease could not be released: %s", name,
                        describe_error(exc), extra=extra)
    report.seconds = time.monotonic() - report.started
    log.info("sync %s finished: %s", name, report.as_dict(), extra=extra)
    return report


def _run(hub: Hub, name: str, report: SyncReport, *, full: bool, dry_run: bool,
         allow_deletes: bool, should_stop: Callable[[], bool],
         progress: Callable[[SyncReport], None] | None, owner: str, ttl: float) -> None:
    cfg = hub.config.connector(name)
    extra = {"connector": name, "run_id": report.run_id}
    with hub.pipeline.sessions() as session:
        state = session.get(SyncState, name)
        cursor = None if full or state is None else state.cursor
    if hub.config.hub.parallel_prepare and not dry_run:
        log.info("sync %s started%s", name, " (full)" if full else "", extra=extra)
        try:
            _run_split(hub, name, cursor, report, full=full, allow_deletes=allow_deletes,
                       should_stop=should_stop, progress=progress, owner=owner, ttl=ttl)
        except Exception as exc:
            _failed(report, exc, extra)
        _finish(hub, cfg.kind, report, extra)
        return
    dry_session = hub.pipeline.sessions() if dry_run else None
    if dry_session is not None:
        dry_session.begin()
        hold_open(dry_session)  # one transaction for the whole run, idle while it reads
    try:
        connector = hub.connector(name, dry_run=dry_run)
        log.info("sync %s started%s", name, " (full)" if full else "", extra=extra)
        for batch in connector.sync(cursor, full=full):
            stats = hub.pipeline.ingest(cfg, batch, session=dry_session,
                                        allow_deletes=allow_deletes)
            if not dry_run and batch.on_commit is not None:
                batch.on_commit()
            _after_batch(hub, report, stats, progress, owner, ttl, committed=not dry_run)
            if should_stop():
                report.stopped = True
                break
    except Exception as exc:
        _failed(report, exc, extra)
    finally:
        if dry_session is not None:
            dry_session.rollback()
            dry_session.close()
    if not dry_run:
        _finish(hub, cfg.kind, report, extra)


def _finish(hub: Hub, kind: str, report: SyncReport, extra: dict[str, Any]) -> None:
    """Record the run's outcome and hand out its events. When the database fails here
    (the outage that ended the run, often), the report says so and the caller records it
    later (the daemon) or shows it (``crmhub sync``)."""
    try:
        record_outcome(hub, kind, report)
    except Exception as exc:
        report.recorded = False
        log.error("sync %s: its outcome could not be recorded: %s", report.connector,
                  describe_error(exc), extra=extra)
        return
    try:
        dispatch_outbox(hub)
    except Exception:
        log.exception("sync %s: the outbox could not be dispatched; the daemon will retry",
                      report.connector, extra=extra)


def _after_batch(hub: Hub, report: SyncReport, stats: IngestStats,
                 progress: Callable[[SyncReport], None] | None, owner: str, ttl: float,
                 *, committed: bool) -> None:
    """Bookkeeping after each batch, whichever process read it. A dry run holds its one
    transaction open, so it writes nothing else (no statistics, outbox or lease)."""
    report.stats.add(stats)
    report.batches += 1
    if progress is not None:
        progress(report)
    if committed:
        hub.pipeline.analyze_if_grown(stats.created)
        dispatch_outbox(hub)
        leases.renew(hub.pipeline.sessions, report.connector, owner, ttl, utcnow())


def _failed(report: SyncReport, exc: BaseException, extra: dict[str, Any]) -> None:
    if isinstance(exc, ProducerError):  # described in the producer process already
        report.error, report.error_kind = str(exc), exc.kind
    else:
        report.error = describe_error(exc)  # stored and shown: no SQL parameters, masked
        report.error_kind = error_kind(exc)
    # An expected failure (a connector's FatalError or RetriableError, the database away)
    # is one line; a traceback is for the unexpected, which a producer already logged.
    expected = report.error_kind != "error" or isinstance(exc, ProducerError)
    log.error("sync %s failed: %s", report.connector, report.error, exc_info=not expected,
              extra=extra)


def error_kind(exc: BaseException) -> str:
    """``fatal``, ``retriable`` (the source or the database away) or ``error``."""
    return ("fatal" if isinstance(exc, FatalError) else
            "retriable" if isinstance(exc, RetriableError) or database_unavailable(exc)
            else "error")


class ProducerError(Exception):
    """The connector failed in the producer process; carries its description and kind."""

    def __init__(self, description: str, kind: str):
        super().__init__(description)
        self.kind = kind


IN_FLIGHT = 2  # prepared batches the producer may run ahead of the last commit


class _WriterGone(Exception):
    """The producer's pipe is closed: the writing process ended the run."""


def _produce(hub: Hub, name: str, cursor: dict[str, Any] | None, full: bool,
             conn: Connection, parents_end: Connection, parent_pid: int) -> None:
    """Producer process: run the connector and prepare its batches (normalisation is the
    costly part); the parent writes them. ``on_commit`` runs here, once acknowledged.

    It holds no database connection and dies with its parent: killed by the kernel when
    the parent dies, and it stops at end-of-file on its pipe (it closes the parent's end
    that fork gave it, so the parent's death closes the pipe).
    """
    parents_end.close()
    children.die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the worker's stop flag
    code = 0
    gc.freeze()  # the parent's heap, shared copy-on-write: never scanned, never copied
    pending: deque[Callable[[], None] | None] = deque()

    def acknowledged() -> bool:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return False
        if message != "ack":
            return False
        callback = pending.popleft()
        if callback is not None:
            callback()
        return True

    def send(message: tuple[str, Any]) -> None:
        try:
            conn.send(message)
        except OSError:  # the writer ended the run (it failed, or stopped): not our error
            raise _WriterGone from None

    try:
        cfg = hub.config.connector(name)
        connector = hub.connector(name)
        for batch in connector.sync(cursor, full=full):
            callback, batch.on_commit = batch.on_commit, None
            send(("batch", hub.pipeline.preparer.prepare(cfg, batch)))
            pending.append(callback)
            while len(pending) >= IN_FLIGHT:
                if not acknowledged():
                    return
        send(("end", None))
        while pending:
            if not acknowledged():
                return
    except _WriterGone:
        pass
    except BaseException as exc:
        code = 1
        if error_kind(exc) == "error":  # unexpected: its traceback exists only here
            log.error("sync %s failed in its connector: %s", name, describe_error(exc),
                      exc_info=True, extra={"connector": name})
        with contextlib.suppress(OSError):
            conn.send(("error", (describe_error(exc), error_kind(exc))))
            # The batches sent before the failure are still committed, in order, before
            # the writer reads the error: their on_commit runs once each is acknowledged.
            while pending and acknowledged():
                pass
    finally:
        logging.shutdown()
        os._exit(code)  # never run the parent's cleanup (its pooled connections) here


def _run_split(hub: Hub, name: str, cursor: dict[str, Any] | None, report: SyncReport, *,
               full: bool, allow_deletes: bool, should_stop: Callable[[], bool],
               progress: Callable[[SyncReport], None] | None, owner: str,
               ttl: float) -> None:
    """Two cores for one sync: the producer reads and normalises, this process resolves,
    writes and commits each batch with its cursor, then acknowledges it."""
    cfg = hub.config.connector(name)
    mine, theirs = _fork.Pipe()
    children.forget_connections(hub.engine)
    producer = _fork.Process(target=_produce,
                             args=(hub, name, cursor, full, theirs, mine, os.getpid()),
                             name=f"crmhub-{name}-read", daemon=True)
    producer.start()
    theirs.close()

    def ended() -> RuntimeError:
        producer.join(5)
        return RuntimeError(f"the connector process ended unexpectedly "
                            f"(exit code {producer.exitcode})")

    try:
        while True:
            while not mine.poll(0.5):
                if not producer.is_alive() and not mine.poll(0):
                    raise ended()
                if should_stop():  # asked to stop while the connector reads: nothing is
                    report.stopped = True  # half-written, the producer stops at EOF
                    return
            try:
                kind, payload = mine.recv()
            except EOFError:
                raise ended() from None
            if kind == "end":
                return
            if kind == "error":
                raise ProducerError(*payload)
            stats = hub.pipeline.ingest(cfg, payload, allow_deletes=allow_deletes)
            # The batch is committed whatever happens to the acknowledgement: a producer
            # whose connector failed after its last batch has sent its error and exited,
            # and that error (still in the pipe) is what the run reports.
            with contextlib.suppress(OSError):
                mine.send("ack")
            _after_batch(hub, report, stats, progress, owner, ttl, committed=True)
            if should_stop():
                report.stopped = True
                with contextlib.suppress(OSError):
                    mine.send("stop")
                return
    finally:
        mine.close()
        producer.join(10)
        if producer.is_alive():
            producer.kill()
            producer.join()


def next_delay(every: float, failures: int, max_backoff: float,
               rng: random.Random | None = None) -> float:
    """Seconds to the next run: the interval, or exponential backoff after failures, each
    with up to 10% jitter so that many connectors do not fire in lockstep."""
    rng = rng or random.Random()
    if failures == 0:
        return every * rng.uniform(0.9, 1.1)
    backoff = min(max(every, 30.0) * 2 ** min(failures - 1, 20), max_backoff)
    return float(backoff * rng.uniform(0.9, 1.0))


DEFAULT_EVERY = ConnectorConfig.model_fields["every"].default


def record_outcome(hub: Hub, kind: str, report: SyncReport) -> None:
    """Store the run's outcome and schedule the next run (backoff after failures)."""
    now = datetime.now(UTC)
    with hub.pipeline.sessions.begin() as session:
        state = session.get(SyncState, report.connector)
        if state is None:
            state = SyncState(connector=report.connector, kind=kind, consecutive_failures=0,
                              records=0)
            session.add(state)
        state.last_attempt = now
        # A connector a reload removed while it ran keeps its state; its ``every`` is gone.
        configured = {c.name: c for c in hub.config.connectors}.get(report.connector)
        every = configured.every if configured is not None else DEFAULT_EVERY
        stats = report.stats
        state.runs_total = (state.runs_total or 0) + 1
        state.failures_total = (state.failures_total or 0) + (0 if report.ok else 1)
        state.received_total = (state.received_total or 0) + stats.received
        state.stored_total = (state.stored_total or 0) + stats.created + stats.updated + \
            stats.deleted
        state.quarantined_total = (state.quarantined_total or 0) + stats.quarantined
        state.run_seconds_total = (state.run_seconds_total or 0.0) + report.elapsed
        state.last_run_seconds = report.elapsed
        if stats.skipped:
            totals = dict(state.skipped_total or {})
            for reason, count in stats.skipped.items():
                totals[reason] = totals.get(reason, 0) + count
            state.skipped_total = totals  # a new dict: SQLAlchemy sees a JSON change
        if stats.parts:
            state.parts = merge_parts(state.parts or {}, stats.parts, now)
        # The warning of the last run that read something: a failed run, or one that found
        # nothing new (an unchanged file), leaves it as it was.
        if report.ok and report.batches:
            state.warning = "; ".join(report.warnings) or None
        if report.ok:
            state.last_success = now
            state.last_error = None
            state.consecutive_failures = 0
        else:
            state.last_error = report.error
            state.last_error_at = now
            state.consecutive_failures = (state.consecutive_failures or 0) + 1
            session.add(OutboxEvent(type="sync.failed", created_at=now, payload={
                "connector": report.connector, "run_id": report.run_id,
                "error": report.error, "kind": report.error_kind}))
        # A run stopped before its end (shutdown, its daemon gone) resumes at once next time.
        delay = 0.0 if report.stopped and report.ok else \
            next_delay(every, state.consecutive_failures, hub.config.hub.max_backoff)
        state.next_run = now + timedelta(seconds=delay)


def merge_parts(stored: dict[str, Any], reported: dict[str, str | None],
                now: datetime) -> dict[str, Any]:
    """The parts' state after a run: a failing part keeps the time it first failed, a
    part that synced loses its error and records when."""
    merged = {part: dict(value) for part, value in stored.items()}
    for part, error in reported.items():
        entry = merged.setdefault(part, {})
        if error is None:
            entry.pop("error", None)
            entry.pop("since", None)
            entry["synced_at"] = now.isoformat()
        else:
            entry.setdefault("since", now.isoformat())
            entry["error"] = error
    return merged


def dispatch_outbox(hub: Hub, limit: int = 1000) -> int:
    """Hand undelivered events to ``crmhub_on_event`` plugins; at least once."""
    if not hub.plugins.pm.hook.crmhub_on_event.get_hookimpls():
        return 0
    sent = 0
    with hub.pipeline.sessions.begin() as session:
        hold_open(session)  # plugins run inside it
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
                                 .order_by(OutboxEvent.id).limit(limit)).all()
        for event in events:
            failed = hub.plugins.on_event({"id": event.id, "type": event.type,
                                           "at": event.created_at.isoformat(),
                                           "payload": event.payload})
            event.attempts += 1
            if failed:
                event.last_error = f"failed in plugin(s): {', '.join(failed)}"
            else:
                event.dispatched_at = datetime.now(UTC)
                sent += 1
    return sent
