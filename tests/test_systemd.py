"""The sd_notify client speaks the real datagram protocol."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.systemd import Notifier


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


def test_watchdog_pings_at_half_the_interval(notify_socket: tuple[socket.socket, str]) -> None:
    server, path = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"})
    assert notifier.watchdog_interval == 5.0
    notifier.watchdog(now=100.0)
    notifier.watchdog(now=102.0)  # too early: no second ping
    notifier.watchdog(now=105.0)
    server.setblocking(False)
    assert [server.recv(64), server.recv(64)] == [b"WATCHDOG=1", b"WATCHDOG=1"]
    with pytest.raises(BlockingIOError):
        server.recv(64)


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
