"""systemd notify protocol: a datagram to ``$NOTIFY_SOCKET``, no library needed.

``READY=1`` once the database answers and connectors are loaded; ``STATUS=`` a one-line
summary; ``WATCHDOG=1`` at half of ``$WATCHDOG_USEC``; ``RELOADING=1``/``STOPPING=1``
around reloads and shutdown. Without ``NOTIFY_SOCKET`` (not under systemd) every call is a
no-op.

The watchdog is pinged from a thread of its own (:class:`Watchdog`), not from the main
loop: a database that takes its time to answer (or is down, while the loop retries) or a
long housekeeping pass must not get a working daemon killed. The thread stops pinging only
when the main loop has not come round for ``stall_after`` seconds, a loop that is stuck
for good, which systemd then restarts.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        watchdog = usec is not None and usec.isdigit() and (pid is None or pid == str(os.getpid()))
        self.watchdog_interval = int(usec) / 2_000_000 if watchdog and usec else None
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()  # the watchdog thread sends too

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields as one datagram; never raises."""
        if self.address is None:
            return False
        address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with self._lock:
                if self._socket is None:
                    kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                    self._socket = socket.socket(socket.AF_UNIX, kind)
                self._socket.sendto("\n".join(fields).encode(), address)
            return True
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address, exc)
            return False

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


class Watchdog:
    """Pings ``WATCHDOG=1`` from a daemon thread while the main loop keeps coming round.

    The main loop calls :meth:`beat` once per pass (a pass that ends in an error counts:
    the loop is alive and retrying). No ping is sent once the last beat is older than
    ``stall_after`` seconds.
    """

    def __init__(self, notifier: Notifier, stall_after: float,
                 clock: Callable[[], float] = time.monotonic):
        self.notifier = notifier
        self.stall_after = stall_after
        self.clock = clock
        self.last_beat = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        self.last_beat = self.clock()

    def stalled(self) -> bool:
        return self.clock() - self.last_beat > self.stall_after

    def start(self) -> None:
        if self.notifier.watchdog_interval is None or self._thread is not None:
            return
        interval = self.notifier.watchdog_interval
        self._thread = threading.Thread(target=self._run, args=(interval,),
                                        name="crmhub-watchdog", daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        warned = False
        while True:
            if not self.stalled():
                self.notifier.send("WATCHDOG=1")
                warned = False
            elif not warned:
                log.error("the main loop has not come round for %.0f s: watchdog pings "
                          "stopped, systemd will restart crmhub", self.clock() - self.last_beat)
                warned = True
            if self._stop.wait(interval):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
