"""``crmhub run``: schedule every connector at its interval until SIGTERM/SIGINT.

Signal handlers only set flags; the main loop acts on them between batches, so a stop
always lands after a COMMIT. SIGHUP rebuilds the hub from the config files and swaps it
in only if it is valid.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from hub.config import ConfigError
from hub.model import SyncState
from hub.retention import purge_expired
from hub.runtime import Hub
from hub.sync import dispatch_outbox, run_sync

log = logging.getLogger(__name__)


class Daemon:
    def __init__(self, config_path: Path, hub: Hub):
        self.config_path = config_path
        self.hub = hub
        self.stop = threading.Event()
        self.reload = threading.Event()
        self._wake = threading.Event()  # set by signals to cut a sleep short
        self._last_purge: datetime | None = None

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stop.set()
        self._wake.set()

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload.set()
        self._wake.set()

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def due(self, now: datetime) -> list[str]:
        due = []
        with self.hub.pipeline.sessions() as session:
            for cfg in self.hub.config.connectors:
                if not cfg.enabled:
                    continue
                state = session.get(SyncState, cfg.name)
                if state is None or state.next_run is None or state.next_run <= now:
                    due.append(cfg.name)
        return due

    def seconds_to_next(self, now: datetime) -> float:
        waits = [60.0]
        with self.hub.pipeline.sessions() as session:
            for cfg in self.hub.config.connectors:
                state = session.get(SyncState, cfg.name)
                if cfg.enabled and state is not None and state.next_run is not None:
                    waits.append((state.next_run - now).total_seconds())
        return max(0.2, min(waits))

    def do_reload(self) -> None:
        self.reload.clear()
        try:
            fresh = Hub.open(self.config_path)
        except ConfigError as exc:
            log.error("reload rejected, keeping the running config:\n%s", exc)
            return
        old, self.hub = self.hub, fresh
        old.close()
        log.info("configuration reloaded from %s", self.config_path)

    def purge_if_due(self, now: datetime) -> None:
        if self._last_purge is not None and (now - self._last_purge).total_seconds() < 3600:
            return
        self._last_purge = now
        with self.hub.pipeline.sessions.begin() as session:
            purged = purge_expired(session, self.hub.config.hub.raw_retention_days, now)
        if purged.raw_payloads or purged.quarantine_items:
            log.info("retention: %d raw payloads and %d quarantine items purged",
                     purged.raw_payloads, purged.quarantine_items)

    def serve(self) -> int:
        self.hub.plugins.startup(self.hub)
        log.info("crmhub running with %d connector(s)", len(self.hub.config.connectors))
        while not self.stop.is_set():
            if self.reload.is_set():
                self.do_reload()
            for name in self.due(datetime.now(UTC)):
                if self.stop.is_set():
                    break
                run_sync(self.hub, name, should_stop=self.stop.is_set)
            dispatch_outbox(self.hub)
            self.purge_if_due(datetime.now(UTC))
            self._wake.clear()
            self._wake.wait(self.seconds_to_next(datetime.now(UTC)))
            if self.stop.is_set():
                break
        self.hub.plugins.shutdown(self.hub)
        self.hub.close()
        log.info("crmhub stopped")
        return 0
