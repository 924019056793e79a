"""The kill -9 loop: a sync killed N times at random moments, then run to its end, must
equal one uninterrupted run, and no kill may leave a process or a session behind.

For each engine, on the generated Outlook file:

1. the reference: `crmhub sync` uninterrupted into a database of its own; its export and
   the row counts of every table a replayed batch could double (`census`);
2. the crash run: `crmhub sync` started, killed with SIGKILL at a seeded random moment
   (the sync process alone, as the OOM killer or an operator would: not its process
   group), `--kills` times; after each kill the script waits up to 10 s for every process
   of the sync's group to exit (a survivor is an *orphan*) and, on PostgreSQL, for every
   session of the database to end (a survivor is a *stale session*); a restart that makes
   no progress within its time budget is a *hang*;
3. a final run to completion, then the export, census and e-mail/phone duplicates are
   compared with the reference.

    python benchmarks/crash_loop.py [--rows 50000] [--kills 20] [--engines sqlite,postgresql]
        [--seed 7] [--pg-url postgresql://postgres@127.0.0.1:5432]

It prints a markdown table for BENCHMARKS.md and exits 1 if any engine differs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulk_import import (
    Postgres,
    child_env,
    crmhub_command,
    dataset,
    machine,
    write_config,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' helpers
from tests.test_crash_safety import census, comparable, duplicate_points

CONNECTOR = "bench"
SETTLE = 10.0  # seconds a killed sync's leftovers get to go away
# Each kill comes this share of the reference's duration after the run's start: 20 kills
# then land all along the file (each restart resumes after the last committed batch).
KILL_AT = (0.02, 0.15)
HANG_SECONDS = 15.0  # a restart this long without one committed batch is stuck


@dataclass
class Outcome:
    engine: str
    rows: int
    kills: int
    reference_seconds: float = 0.0
    crash_seconds: float = 0.0  # all killed runs and the final one, wall time
    partial_kills: int = 0  # kills that left some batches committed and some not
    orphans: int = 0
    stale_sessions: int = 0
    hangs: int = 0
    export_equal: bool = False
    census_equal: bool = False
    shared_points: tuple[int, int] = (0, 0)  # e-mails/phones on several contacts: reference, crash
    contacts: int = 0
    progress: list[int] = field(default_factory=list)  # source records after each kill
    differences: dict[str, Any] = field(default_factory=dict)


def group_alive(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    alive.append(int(entry.name))
    return alive


def sessions(url: str) -> int:
    """Sessions connected to the database of ``url`` (PostgreSQL), this one excluded."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")) or 0)
    finally:
        engine.dispose()


def waiting_on_locks(url: str) -> int:
    """Sessions of the database blocked on a lock (PostgreSQL): a sync stuck behind a dead
    process's transaction shows here."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")) or 0)
    finally:
        engine.dispose()


def source_records(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(text("SELECT count(*) FROM source_records")) or 0)
    finally:
        engine.dispose()


def wait_until(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def export(config: Path, out: Path) -> list[str]:
    subprocess.run([*crmhub_command(), "export", "contacts", "--format", "jsonl", "--config",
                    str(config), "-o", str(out)], check=True, env=child_env())
    with out.open(encoding="utf-8") as lines:
        return comparable([json.loads(line) for line in lines if line.strip()])


def sync(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*crmhub_command(), "sync", CONNECTOR, "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, env=child_env(),
                                start_new_session=True)


def prepare(engine: str, pg: Postgres | None, workdir: Path, data: Path,
            made: list[str]) -> tuple[str, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    if engine == "sqlite":
        url = f"sqlite:///{workdir / 'crmhub.db'}"
    else:
        assert pg is not None
        name = pg.create()
        made.append(name)
        url = pg.sqlalchemy_url(name)
    config = write_config(workdir, url, data)
    subprocess.run([*crmhub_command(), "db", "upgrade", "--config", str(config)], check=True,
                   env=child_env(), capture_output=True)
    return url, config


def crash_loop(engine: str, rows: int, kills: int, seed: int, pg: Postgres | None,
               root: Path) -> Outcome:
    data = dataset(rows, seed=42, dup_rate=0.2)
    outcome = Outcome(engine, rows, kills)
    rng = random.Random(f"{seed}-{engine}")
    made: list[str] = []
    try:
        ref_url, ref_config = prepare(engine, pg, root / f"{engine}-reference", data.path, made)
        started = time.monotonic()
        reference = sync(ref_config, root / f"{engine}-reference" / "sync.log")
        if reference.wait() != 0:
            raise SystemExit(f"the reference sync on {engine} failed")
        outcome.reference_seconds = time.monotonic() - started
        expected = export(ref_config, root / f"{engine}-reference.jsonl")
        expected_census = census(ref_url, CONNECTOR)

        url, config = prepare(engine, pg, root / f"{engine}-crashed", data.path, made)
        log = root / f"{engine}-crashed" / "sync.log"
        started = time.monotonic()
        for _ in range(kills):
            before = source_records(url)
            proc = sync(config, log)
            offset = rng.uniform(*KILL_AT) * outcome.reference_seconds
            blocked = 0
            try:
                proc.wait(timeout=offset)
            except subprocess.TimeoutExpired:
                if engine == "postgresql":
                    blocked = waiting_on_locks(url)
                os.kill(proc.pid, signal.SIGKILL)  # the sync alone, not its group
                proc.wait()
            if not wait_until(lambda p=proc: not group_alive(p.pid), SETTLE):
                outcome.orphans += len(group_alive(proc.pid))
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # so the next run is not blocked
            if engine == "postgresql" and not wait_until(lambda: sessions(url) == 0, SETTLE):
                outcome.stale_sessions += sessions(url)
            after = source_records(url)
            outcome.progress.append(after)
            if blocked or (after == before < data.rows and offset > HANG_SECONDS):
                outcome.hangs += 1  # waiting on a lock, or long at work and nothing committed
            if 0 < after < data.rows:
                outcome.partial_kills += 1
        final = sync(config, log)
        if final.wait(timeout=max(600.0, 5 * outcome.reference_seconds)) != 0:
            raise SystemExit(f"the final sync on {engine} failed: see {log}")
        outcome.crash_seconds = time.monotonic() - started
        actual = export(config, root / f"{engine}-crashed.jsonl")
        actual_census = census(url, CONNECTOR)
        outcome.contacts = len(actual)
        outcome.export_equal = actual == expected
        outcome.census_equal = actual_census == expected_census
        # The generator gives colleagues a shared switchboard and role address: what
        # counts is that the crash run shares exactly what the reference shares.
        outcome.shared_points = (len(duplicate_points(ref_url)), len(duplicate_points(url)))
        if not outcome.census_equal:
            outcome.differences = {k: (expected_census[k], actual_census.get(k))
                                   for k in expected_census
                                   if expected_census[k] != actual_census.get(k)}
        if not outcome.export_equal:
            outcome.differences["export"] = (len(expected), len(actual))
    finally:
        if pg is not None:
            for name in made:
                pg.drop(name)
    return outcome


def markdown(info: dict[str, str], outcomes: list[Outcome]) -> str:
    lines = [f"Machine: {info['nproc']} cores, {info['cpu']}, {info['ram']}; "
             f"Python {info['python']}; commit {info['commit']}; {info['date']}", "",
             "| engine | rows | kills (mid-run) | orphans | stale sessions | hangs | "
             "export equal | counts equal | shared points (ref / crash) | contacts | "
             "reference s | "
             "crash run s |",
             "|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|"]
    for o in outcomes:
        lines.append(f"| {o.engine} | {o.rows:,} | {o.kills} ({o.partial_kills}) | "
                     f"{o.orphans} | {o.stale_sessions} | {o.hangs} | "
                     f"{'yes' if o.export_equal else 'NO'} | "
                     f"{'yes' if o.census_equal else 'NO'} | "
                     f"{o.shared_points[0]} / {o.shared_points[1]} | "
                     f"{o.contacts:,} | {o.reference_seconds:.1f} | {o.crash_seconds:.1f} |")
    for o in outcomes:
        lines.append(f"\n{o.engine}: source records after each kill: {o.progress}")
        if o.differences:
            lines.append(f"{o.engine}: differences (reference, crash run): {o.differences}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    pg = Postgres(args.pg_url) if "postgresql" in engines else None
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="crmhub-crash-") as tmp:
        for engine in engines:
            outcome = crash_loop(engine, args.rows, args.kills, args.seed, pg, Path(tmp))
            print(json.dumps(outcome.__dict__, default=str), file=sys.stderr)
            outcomes.append(outcome)
    print(markdown(machine(), outcomes))
    bad = [o for o in outcomes if not (o.export_equal and o.census_equal) or o.orphans
           or o.stale_sessions or o.hangs or o.shared_points[0] != o.shared_points[1]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
