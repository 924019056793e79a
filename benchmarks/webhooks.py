#!/usr/bin/env python3
"""Webhook benchmark: signed `call_webhook` deliveries to the daemon's listener while a bulk
CSV import runs, on SQLite and on PostgreSQL.

    python benchmarks/webhooks.py --rows 100000 --requests 20000 --seconds 60
    python benchmarks/webhooks.py --rows 20000 --requests 5000 --engines sqlite

For each engine: a fresh database, a config with two connectors (`bulk`: the generated
Outlook CSV of `--rows` rows, as in bulk_import.py; `pbx`: a `call_webhook`), and `crmhub
run` as a child process listening on a free loopback port. Once the import has started,
`--concurrency` client threads (one keep-alive connection each) POST signed calls, each
with its own `call_id`, until `--requests` were sent or `--seconds` passed. Each request's
latency is measured from send to the last byte of the answer. Then the benchmark waits
until the daemon has processed every accepted call, stops it, and checks that each
accepted `call_id` is an interaction in the database.

Prints a markdown block for BENCHMARKS.md (machine, command, requests/s, p50/p99 latency,
how much of the load ran during the import, every accepted call present) and writes the
figures to benchmarks/out/webhooks-<time>.json. Exits 1 if an accepted call is missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bulk_import import OUT, Postgres, child_env, crmhub_command, dataset, machine
from sqlalchemy import create_engine, func, select, text

SECRET = "bench-secret"


@dataclass
class Result:
    engine: str
    rows: int
    sent: int = 0
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    requests_per_second: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    during_import: float = 0.0  # the share of requests sent while the import ran
    import_seconds: float | None = None  # None: still importing when the load ended
    drained_seconds: float | None = None
    missing: int = 0
    error: str | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(directory: Path, url: str, csv_path: Path, port: int) -> Path:
    config = directory / "crmhub.toml"
    config.write_text(
        "[hub]\n"
        f"database_url = {json.dumps(url)}\n"
        'default_region = "FR"\n'
        f'listen = "127.0.0.1:{port}"\n'
        'log_level = "WARNING"\n'
        "\n[[connectors]]\n"
        'name = "bulk"\nkind = "csv"\nevery = "1d"\n'
        "[connectors.settings]\n"
        f"paths = [{json.dumps(str(csv_path))}]\n"
        'mode = "append"\n'
        "\n[[connectors]]\n"
        'name = "pbx"\nkind = "call_webhook"\n'
        "[connectors.settings]\n"
        'secret = { env = "BENCH_WEBHOOK_SECRET" }\n', encoding="utf-8")
    return config


def call_body(n: int, rng: random.Random) -> bytes:
    return json.dumps({
        "call_id": f"bench-{n}", "from": f"+336{rng.randrange(10**8):08d}",
        "to": "+33145000000", "direction": "inbound",
        "started_at": "2026-03-02T09:15:00+01:00", "duration_s": rng.randrange(600),
        "status": "answered", "agent": "201"}).encode()


def signed_headers(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return {"Content-Type": "application/json", "X-Crmhub-Timestamp": stamp,
            "X-Crmhub-Signature": "sha256=" + digest.hexdigest()}


class Load:
    """Client threads posting calls; latencies and outcomes, and whether the import ran."""

    def __init__(self, port: int, requests: int, seconds: float, importing: threading.Event):
        self.port, self.limit, self.deadline = port, requests, time.monotonic() + seconds
        self.importing = importing
        self.lock = threading.Lock()
        self.next = 0
        self.latencies: list[float] = []
        self.accepted: list[str] = []
        self.refused: dict[str, int] = {}
        self.during = 0

    def take(self) -> int | None:
        with self.lock:
            if self.next >= self.limit or time.monotonic() > self.deadline:
                return None
            self.next += 1
            return self.next

    def worker(self, seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while (n := self.take()) is not None:
            body = call_body(n, rng)
            during = self.importing.is_set()
            started = time.perf_counter()
            try:
                connection.request("POST", "/webhooks/pbx", body, signed_headers(body))
                response = connection.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            elapsed = time.perf_counter() - started
            with self.lock:
                self.latencies.append(elapsed)
                self.during += during
                if status == "200":
                    self.accepted.append(f"bench-{n}")
                else:
                    self.refused[status] = self.refused.get(status, 0) + 1
        connection.close()


def wait_until(predicate: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def ready(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/readyz")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


def one_engine(engine: str, args: argparse.Namespace, pg: Postgres | None,
               workdir: Path) -> Result:
    data = dataset(args.rows, args.seed, args.dup_rate)
    result = Result(engine, args.rows)
    name = pg.create() if pg is not None else ""
    url = pg.sqlalchemy_url(name) if pg is not None else f"sqlite:///{workdir / 'bench.db'}"
    port = free_port()
    config = write_config(workdir, url, data.path, port)
    env = {**child_env(), "BENCH_WEBHOOK_SECRET": SECRET}
    crmhub = crmhub_command()
    subprocess.run([*crmhub, "db", "upgrade", "--config", str(config)], check=True, env=env,
                   capture_output=True)
    database = create_engine(url)
    log = (workdir / "daemon.log").open("wb")
    daemon = subprocess.Popen([*crmhub, "run", "--config", str(config)], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    importing = threading.Event()
    try:
        wait_until(lambda: ready(port), 60, "the listener")

        def bulk_state() -> tuple[Any, Any]:
            with database.connect() as connection:
                row = connection.execute(text(
                    "SELECT lease_owner, last_success FROM sync_state "
                    "WHERE connector = 'bulk'")).first()
            return (row[0], row[1]) if row else (None, None)

        wait_until(lambda: bulk_state()[0] is not None, 60, "the import to start")
        importing.set()
        import_started = time.monotonic()

        def watch_import() -> None:
            while bulk_state()[1] is None:
                if finished.wait(0.2):
                    return  # the load ended first: the import still ran throughout
            result.import_seconds = time.monotonic() - import_started
            importing.clear()

        finished = threading.Event()
        watcher = threading.Thread(target=watch_import, daemon=True)
        watcher.start()
        load = Load(port, args.requests, args.seconds, importing)
        threads = [threading.Thread(target=load.worker, args=(seed,))
                   for seed in range(args.concurrency)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result.seconds = time.perf_counter() - started
        finished.set()
        watcher.join()
        result.sent = len(load.latencies)
        result.accepted = len(load.accepted)
        result.refused = load.refused
        result.requests_per_second = result.sent / result.seconds
        ordered = sorted(load.latencies)
        result.p50_ms = 1000 * statistics.median(ordered)
        result.p99_ms = 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        result.max_ms = 1000 * ordered[-1]
        result.during_import = load.during / max(1, result.sent)

        from hub.store.model import Interaction

        def drained() -> bool:
            with database.connect() as connection:
                count = connection.scalar(select(func.count()).select_from(Interaction))
            return int(count or 0) >= result.accepted

        result.drained_seconds = wait_until(drained, args.drain_timeout,
                                            "every accepted call processed")
        with database.connect() as connection:
            stored = set(connection.scalars(select(Interaction.external_id)))
        result.missing = len(set(load.accepted) - stored)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=120)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
        database.dispose()
        if pg is not None:
            pg.drop(name)
    return result


def markdown(info: dict[str, str], args: argparse.Namespace, results: list[Result]) -> str:
    lines = [f"## Webhooks under a bulk import — {dt.date.today().isoformat()}", "",
             f"- machine: {info['cpu']}, {info['nproc']} cores, {info['ram']}; "
             f"{info['os']}; python {info['python']}; commit {info['commit']}; "
             f"load {info['load']}",
             f"- command: `python benchmarks/webhooks.py --rows {args.rows} --requests "
             f"{args.requests} --seconds {args.seconds:g} --concurrency {args.concurrency} "
             f"--engines {','.join(r.engine for r in results)}`", "",
             "| engine | sent | accepted | req/s | p50 ms | p99 ms | max ms | during import "
             "| import done after s | drained s | missing |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(
            f"| {r.engine} | {r.sent} | {r.accepted} | {r.requests_per_second:.0f} | "
            f"{r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.0f} | {100 * r.during_import:.0f}% | "
            f"{'still running' if r.import_seconds is None else round(r.import_seconds)} | "
            f"{r.drained_seconds and round(r.drained_seconds, 1)} | {r.missing} |"
            + (f" error: {r.error}" if r.error else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get(
        "CRMHUB_BENCH_PG", "postgresql://postgres@127.0.0.1:5432"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dup-rate", type=float, default=0.25)
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    results = []
    for engine in args.engines.split(","):
        pg = Postgres(args.pg_url) if engine == "postgresql" else None
        with tempfile.TemporaryDirectory(prefix=f"crmhub-webhooks-{engine}-") as workdir:
            print(f"{engine}: running...", file=sys.stderr)
            results.append(one_engine(engine, args, pg, Path(workdir)))
    info = machine()
    print(markdown(info, args, results))
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (OUT / f"webhooks-{stamp}.json").write_text(json.dumps(
        {"machine": info, "args": vars(args), "results": [asdict(r) for r in results]},
        indent=2), encoding="utf-8")
    return 1 if any(r.missing or r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
