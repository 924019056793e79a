"""A crmhub process under test: ``crmhub run`` or ``crmhub sync`` in a subprocess, with a
test plugin installed beside it (a dist-info with a ``crmhub`` entry point), a notify
socket for the daemon and the logs captured."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from hub.store.model import SyncState


def install_test_plugin(root: Path, source: str, module: str = "hub_misbehave") -> Path:
    """A site directory holding ``module`` (``source``) registered as a crmhub plugin."""
    site = root / "site"
    dist = module.removeprefix("hub_")
    info = site / f"crmhub_{dist}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: crmhub-{dist}\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(f"[crmhub]\n{dist} = {module}\n")
    (site / f"{module}.py").write_text(source)
    return site


def plugin_env(site: Path, **extra: str) -> dict[str, str]:
    """The environment of a crmhub subprocess: no CRMHUB_* of the developer's, the plugin
    importable."""
    env = {k: v for k, v in os.environ.items()  # the listener stays off unless asked for
           if not k.startswith("CRMHUB_") or k in ("CRMHUB_TEST_PG", "CRMHUB_HUB__LISTEN")}
    env["PYTHONPATH"] = f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    env.update(extra)
    return env


def process_state(pid: int) -> str | None:
    """The kernel's state letter of ``pid`` (``Z`` for a zombie), ``None`` once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for a reaper that may never come)."""
    return process_state(pid) not in (None, "Z")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


class Daemon:
    """``crmhub run`` in a subprocess with a notify socket and captured logs."""

    def __init__(self, root: Path, config: str, plugin: str, database_url: str | None = None,
                 hub_settings: str = 'workers = 4\nstop_timeout = "10s"\n'):
        self.root = root
        self.plugin = plugin
        self.conf = root / "etc"
        (self.conf / "conf.d").mkdir(parents=True)
        self.database_url = database_url or f"sqlite:///{root / 'hub.db'}"
        (self.conf / "crmhub.toml").write_text(
            f'[hub]\ndatabase_url = "{self.database_url}"\n{hub_settings}'
            + textwrap.dedent(config))
        self.log = root / "daemon.log"
        self.sock_path = str(root / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self.received: list[tuple[float, str]] = []  # (arrival, message), as read
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.conf / "crmhub.toml"

    def start(self, env: dict[str, str] | None = None, *, wait: bool = True) -> None:
        site = install_test_plugin(self.root, self.plugin)
        full_env = plugin_env(site, NOTIFY_SOCKET=self.sock_path, TICK_SECRET="s3cr3t-v4lue",
                              **(env or {}))
        self.messages.clear()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "run", "--config",
                 str(self.conf / "crmhub.toml")], env=full_env, stdout=out,
                stderr=subprocess.STDOUT)
        if wait:
            self.wait_for(lambda: any(m.startswith("READY=1") for m in self.messages),
                          "READY=1")

    def poll_notify(self) -> None:
        try:
            while True:
                message = self.sock.recv(4096).decode()
                self.messages.append(message)
                self.received.append((time.monotonic(), message))
        except (TimeoutError, BlockingIOError):
            pass

    def listen(self, seconds: float) -> list[tuple[float, str]]:
        """Read the notify socket for ``seconds``; each message with its arrival time."""
        start, deadline = len(self.received), time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll_notify()  # blocks at most the socket's 0.2 s timeout
        return self.received[start:]

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll_notify()
            if predicate():
                return
            assert self.proc is None or self.proc.poll() is None, self.logs()
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs().splitlines() if line.startswith("{")]

    def query(self, statement: Any) -> list[Any]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(statement))
        finally:
            engine.dispose()

    def state(self, name: str) -> Any:
        rows = self.query(select(SyncState).where(SyncState.connector == name))
        return rows[0] if rows else None

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self) -> int:
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.stop_seconds = time.monotonic() - started
        self.poll_notify()
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
