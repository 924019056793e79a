"""The listener process under the daemon's supervision.

The daemon binds ``[hub] listen`` itself (a port already taken stops ``crmhub run`` with a
clear error before READY=1), then forks the listener (:func:`hub.web.serve`) on that
socket. It restarts a listener that died (at most once every ``RESTART_AFTER`` seconds),
restarts it on a reload (so it serves the new configuration), and stops it on SIGTERM:
uvicorn finishes the requests in flight within ``stop_timeout``, then it is killed. The
listener wakes the daemon through the daemon's self-pipe when a request is waiting in the
inbox, so a push connector runs at once.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time

from hub.config import listen_address
from hub.service import children
from hub.service.runtime import Hub

__all__ = ["ListenError", "Listener"]

log = logging.getLogger(__name__)
_fork = multiprocessing.get_context("fork")
RESTART_AFTER = 5.0


class ListenError(Exception):
    """The listen address cannot be bound."""


def _listen(hub: Hub, sock: socket.socket, wake_fd: int, parent_pid: int) -> None:
    """The listener process: serve until SIGTERM, and die with the daemon."""
    children.die_with_parent(parent_pid, signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # uvicorn installs its own handler
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from hub.web import serve

    def wake() -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(wake_fd, b"!")

    serve(hub, sock, wake)


class Listener:
    """One bound address and the process serving it."""

    def __init__(self, address: str, wake_fd: int) -> None:
        from hub.web import bind

        try:
            self.sock = bind(listen_address(address))
        except OSError as exc:
            raise ListenError(f"cannot listen on {address}: {exc.strerror or exc}; set "
                              '[hub] listen to a free address, or "" to turn it off') from None
        self.address = address
        self.wake_fd = wake_fd
        self.process: multiprocessing.process.BaseProcess | None = None
        self._started = 0.0

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self, hub: Hub) -> None:
        children.forget_connections(hub.engine)
        self.process = _fork.Process(target=_listen, name="crmhub-listener", daemon=False,
                                     args=(hub, self.sock, self.wake_fd, os.getpid()))
        self.process.start()
        self._started = time.monotonic()
        from hub.web import address_of

        where = address_of(self.sock)
        log.info("listener %s serving http://%s", self.process.pid, where,
                 extra={"listen": where})

    def supervise(self, hub: Hub) -> None:
        """Restart the listener if it died (not more often than every RESTART_AFTER s)."""
        process = self.process
        if process is None or process.exitcode is None:
            return
        if time.monotonic() - self._started < RESTART_AFTER:
            return
        log.error("the listener exited with code %s; restarting it", process.exitcode)
        process.join()
        self.start(hub)

    def stop(self, timeout: float) -> None:
        process = self.process
        if process is None:
            return
        if process.exitcode is None and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            process.join(timeout)
            if process.exitcode is None:
                log.warning("the listener did not stop within %.0f s; killed", timeout)
                process.kill()
                process.join(5)
        self.process = None

    def close(self, timeout: float) -> None:
        self.stop(timeout)
        self.sock.close()
