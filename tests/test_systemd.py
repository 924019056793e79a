"""The sd_notify client speaks the real datagram protocol."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from hub.service.systemd import Notifier, Watchdog


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    yield server, path
    server.close()


def test_ready_status_and_stopping_arrive_as_datagrams(
        notify_socket: tuple[socket.socket, str]) -> None:
    server, path = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path})
    notifier.ready("3 connectors")
    assert server.recv(4096).decode().split("\n") == [
        "READY=1", "STATUS=3 connectors", f"MAINPID={os.getpid()}"]
    notifier.reloading()
    fields = server.recv(4096).decode().split("\n")
    assert fields[0] == "RELOADING=1" and fields[1].startswith("MONOTONIC_USEC=")
    notifier.stopping()
    assert server.recv(4096) == b"STOPPING=1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drain(server: socket.socket, seconds: float) -> list[bytes]:
    """Every datagram that arrives within ``seconds``."""
    return [datagram for _, datagram in drain_stamped(server, seconds)]


def drain_stamped(server: socket.socket, seconds: float) -> list[tuple[float, bytes]]:
    """Every datagram that arrives within ``seconds``, with its arrival time."""
    got = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        server.settimeout(left)
        try:
            got.append((time.monotonic(), server.recv(64)))
        except TimeoutError:
            break
    return got


def largest_gap(stamps: list[float], start: float, end: float) -> float:
    """The longest time without a ping between ``start`` and ``end``."""
    points = [start, *stamps, end]
    return max(b - a for a, b in pairwise(points))


def test_watchdog_thread_pings_at_half_the_interval_while_the_loop_beats_and_stops_when_it_stalls(
        notify_socket: tuple[socket.socket, str], caplog: pytest.LogCaptureFixture) -> None:
    server, path = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    assert notifier.watchdog_interval == 0.1
    clock = FakeClock()
    watchdog = Watchdog(notifier, stall_after=60, clock=clock)
    watchdog.start()
    try:
        start = time.monotonic()
        pings = drain_stamped(server, 0.6)  # no beat needed within stall_after: pings go on
        assert {datagram for _, datagram in pings} == {b"WATCHDOG=1"}
        # systemd's limit is WATCHDOG_USEC (0.2 s) between two pings; they come every 0.1 s.
        assert largest_gap([at for at, _ in pings], start, start + 0.6) < 0.2
        clock.now += 61  # the main loop has not come round for 61 s
        deadline = time.monotonic() + 5  # however busy the machine, the thread sees it
        while "watchdog pings stopped" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "watchdog pings stopped" in caplog.text
        drain(server, 0.05)  # pings sent before the thread saw the stall: already queued
        assert drain(server, 0.4) == []
        watchdog.beat()
        assert set(drain(server, 0.35)) == {b"WATCHDOG=1"}
    finally:
        watchdog.stop()
    assert drain(server, 0.25) == []


def test_watchdog_thread_is_not_started_without_watchdog_usec() -> None:
    watchdog = Watchdog(Notifier({"NOTIFY_SOCKET": "/nowhere"}), stall_after=60)
    watchdog.start()
    assert watchdog._thread is None


def test_watchdog_for_another_pid_is_ignored() -> None:
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000",
                     "WATCHDOG_PID": "1"}).watchdog_interval is None


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and notifier.send("READY=1") is False


def test_abstract_socket_addresses_are_supported() -> None:
    name = f"@crmhub-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name[1:])
    server.settimeout(2)
    try:
        assert Notifier({"NOTIFY_SOCKET": name}).send("STATUS=hi")
        assert server.recv(64) == b"STATUS=hi"
    finally:
        server.close()
