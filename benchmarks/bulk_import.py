#!/usr/bin/env python3
"""Bulk-import benchmark: a generated Outlook CSV through `crmhub sync`, SQLite and PostgreSQL.

    python benchmarks/bulk_import.py --rows 100000 --runs 3
    python benchmarks/bulk_import.py --rows 1000000 --runs 1 --engines sqlite
    python benchmarks/bulk_import.py --rows 20000 --runs 1 --engines sqlite --profile

For each size the file is generated once (generate_outlook.py, cached in benchmarks/out/).
Each run gets a fresh database (a SQLite file in a temporary directory, or a database
`crmhub_bench_<random>` created on the PostgreSQL server and dropped afterwards) and a
config with one `csv` connector in append mode, runs `crmhub db upgrade`, then times
`crmhub sync bench --json` as a child process: wall time from spawn to exit (interpreter
start-up included), and its peak RSS, the kernel's high-water mark for that one child
(wait4 ru_maxrss) cross-checked by psutil sampling every 50 ms. Only the public CLI is
used, so the benchmark measures what an admin would run.

Prints a markdown block for BENCHMARKS.md (machine, versions, command, medians, runs) and
writes every figure to benchmarks/out/bulk_import-<time>.json. Exits 1 if a sync fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from generate_outlook import GENERATOR_VERSION

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
COUNTERS = ("received", "created", "unchanged", "quarantined", "contacts_created", "merged")
POLL_SECONDS = 0.05


@dataclass
class Run:
    engine: str
    rows: int
    run: int
    ok: bool = False
    wall_seconds: float = 0.0
    sync_seconds: float = 0.0  # as reported by crmhub (no interpreter start-up)
    rows_per_second: float = 0.0
    peak_rss_mb: float = 0.0  # wait4 ru_maxrss of the sync process
    sampled_rss_mb: float = 0.0  # psutil, every 50 ms, whole process tree
    counters: dict[str, int] = field(default_factory=dict)
    live_contacts: int | None = None  # --verify: contacts in `crmhub export contacts`
    accuracy: dict[str, float] | None = None  # --verify: pairwise P/R/F1 against the truth
    error: str | None = None
    database: str = ""


@dataclass
class Dataset:
    rows: int
    path: Path
    persons: int
    duplicates: int
    bytes: int


# --- environment -----------------------------------------------------------------------


def command_output(args: list[str], cwd: Path = REPO) -> str:
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine() -> dict[str, str]:
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    commit = command_output(["git", "rev-parse", "--short", "HEAD"])
    if command_output(["git", "status", "--porcelain", "--untracked-files=no"]) not in ("", "?"):
        commit += " + uncommitted changes"
    try:
        from hub import __version__ as crmhub_version
    except ImportError:
        crmhub_version = "?"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": command_output(["nproc"]),
        "cpu": cpu,
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "crmhub": crmhub_version,
        "commit": commit,
        "sqlite": sqlite3.sqlite_version,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def crmhub_command() -> list[str]:
    """The console script of this interpreter's environment (the crmhub under test)."""
    script = Path(sys.executable).parent / "crmhub"
    if script.exists():
        return [str(script)]
    found = shutil.which("crmhub")
    if found is None:
        sys.exit("crmhub is not installed in this environment")
    return [found]


def child_env() -> dict[str, str]:
    """The caller's environment without CRMHUB_* overrides, which would beat the config."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CRMHUB_")}


# --- data ------------------------------------------------------------------------------


def dataset(rows: int, seed: int, dup_rate: float) -> Dataset:
    """The generated file for `rows`, made once and reused (benchmarks/out/ is git-ignored)."""
    OUT.mkdir(parents=True, exist_ok=True)
    stem = f"outlook-{rows}-seed{seed}-dup{dup_rate:g}-v{GENERATOR_VERSION}"
    path, stats_path = OUT / f"{stem}.csv", OUT / f"{stem}.json"
    truth = OUT / f"{stem}.truth"
    if not (path.exists() and stats_path.exists() and truth.exists()):
        print(f"generating {path.name}...", file=sys.stderr)
        subprocess.run([sys.executable, str(HERE / "generate_outlook.py"), "--rows", str(rows),
                        "--seed", str(seed), "--dup-rate", str(dup_rate), "--out", str(path),
                        "--stats", str(stats_path), "--truth", str(truth)], check=True)
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    return Dataset(rows, path, stats["persons"], stats["duplicates"], path.stat().st_size)


# --- databases -------------------------------------------------------------------------


class Postgres:
    """Creates and drops throw-away databases on one server (via its `postgres` database)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url.rstrip("/")
        self.conn = psycopg.connect(f"{self.url}/postgres", autocommit=True)
        row = self.conn.execute("SHOW server_version").fetchone()
        self.version = str(row[0]) if row else "?"

    def create(self) -> str:
        name = f"crmhub_bench_{secrets.token_hex(4)}"
        self.conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop(self, name: str) -> None:
        self.conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def sqlalchemy_url(self, name: str) -> str:
        rest = self.url.split("://", 1)[1]
        return f"postgresql+psycopg://{rest}/{name}"


def write_config(directory: Path, database_url: str, csv_path: Path,
                 routing: bool = False) -> Path:
    """The run's config; with `routing`, the shipped example rules and scoring
    (config/rules.toml, config/scoring.toml: 200+ lines of owners, rules, SLAs)."""
    config = directory / "crmhub.toml"
    extra = ""
    if routing:
        extra = (f"rules = {json.dumps(str(REPO / 'config' / 'rules.toml'))}\n"
                 f"scoring = {json.dumps(str(REPO / 'config' / 'scoring.toml'))}\n")
    config.write_text(
        "[hub]\n"
        f"database_url = {json.dumps(database_url)}\n"
        'default_region = "FR"\n'
        f"{extra}\n"
        "[[connectors]]\n"
        'name = "bench"\n'
        'kind = "csv"\n'
        "[connectors.settings]\n"
        f"paths = [{json.dumps(str(csv_path))}]\n"
        'mode = "append"\n',
        encoding="utf-8")
    return config


# --- one run ---------------------------------------------------------------------------


def timed(args: list[str], stdout_path: Path, stderr_path: Path) -> tuple[int, float, float,
                                                                          float]:
    """Run `args`; return (exit code, wall seconds, peak RSS MB by wait4, sampled peak MB)."""
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:  # the `bench` extra; wait4 alone still gives the peak
        psutil = None
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=child_env())
        watched = psutil.Process(proc.pid) if psutil is not None else None
        sampled = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if watched is not None:
                try:
                    tree = [watched, *watched.children(recursive=True)]
                    sampled = max(sampled, sum(p.memory_info().rss for p in tree))
                except psutil.Error:
                    pass
            time.sleep(POLL_SECONDS)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return proc.returncode, wall, usage.ru_maxrss / 1024, sampled / 1024**2


def run_once(engine: str, data: Dataset, number: int, args: argparse.Namespace,
             pg: Postgres | None, workdir: Path) -> Run:
    run = Run(engine, data.rows, number)
    crmhub = crmhub_command()
    if engine == "sqlite":
        db_path = workdir / "crmhub.db"
        url = f"sqlite:///{db_path}"
        run.database = str(db_path)
    else:
        assert pg is not None
        run.database = pg.create()
        url = pg.sqlalchemy_url(run.database)
    config = write_config(workdir, url, data.path, args.routing)
    upgrade = subprocess.run([*crmhub, "db", "upgrade", "--config", str(config)],
                             capture_output=True, text=True, env=child_env())
    if upgrade.returncode != 0:
        run.error = f"db upgrade failed: {upgrade.stderr.strip()[-2000:]}"
        return run
    code, run.wall_seconds, run.peak_rss_mb, run.sampled_rss_mb = timed(
        [*crmhub, "sync", "bench", "--config", str(config), "--json"],
        workdir / "sync.json", workdir / "sync.log")
    run.rows_per_second = data.rows / run.wall_seconds
    try:
        report: dict[str, Any] = json.loads((workdir / "sync.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = {}
    run.sync_seconds = float(report.get("seconds") or 0.0)
    run.counters = {name: int(report.get(name) or 0) for name in COUNTERS}
    run.ok = code == 0 and bool(report.get("ok"))
    if not run.ok:
        log = (workdir / "sync.log").read_text(encoding="utf-8", errors="replace")
        run.error = str(report.get("error") or f"exit {code}: {log.strip()[-2000:]}")
    elif args.verify:
        export = subprocess.run(
            [*crmhub, "export", "contacts", "--format", "jsonl", "--config", str(config),
             "-o", str(workdir / "contacts.jsonl")], capture_output=True, text=True,
            env=child_env())
        if export.returncode == 0:
            with (workdir / "contacts.jsonl").open("rb") as lines:
                run.live_contacts = sum(1 for _ in lines)
        run.accuracy = accuracy(url, data.path.with_suffix(".truth"))
    return run


def accuracy(url: str, truth_path: Path) -> dict[str, float]:
    """Pairwise precision, recall and F1 of the contacts against the generator's truth.

    Rows are stored in file order (one source record per row, ids ascending), so the n-th
    person record is the n-th row; the truth file names each row's person.
    """
    from sqlalchemy import create_engine, text  # the crmhub venv has it

    truth = [int(line) for line in truth_path.read_text(encoding="ascii").split()]
    engine = create_engine(url)
    with engine.connect() as connection:
        contacts = [row[0] for row in connection.execute(text(
            "SELECT contact_id FROM source_records WHERE kind = 'person' ORDER BY id"))]
    engine.dispose()
    if len(contacts) != len(truth):
        raise SystemExit(f"{len(contacts)} person records for {len(truth)} rows: the truth "
                         "cannot be lined up")

    def pairs(counts: Counter[Any]) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    found = pairs(Counter(contacts))
    true = pairs(Counter(truth))
    both = pairs(Counter(zip(contacts, truth, strict=True)))
    precision = both / found if found else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "false_pairs": found - both, "missed_pairs": true - both}


def profile(data: Dataset) -> Path:
    """One SQLite import under pyinstrument; the text report goes to benchmarks/out/."""
    target = OUT / "profile.txt"
    with tempfile.TemporaryDirectory(prefix="crmhub-bench-") as tmp:
        workdir = Path(tmp)
        config = write_config(workdir, f"sqlite:///{workdir / 'crmhub.db'}", data.path)
        subprocess.run([*crmhub_command(), "db", "upgrade", "--config", str(config)],
                       check=True, capture_output=True, env=child_env())
        with (workdir / "sync.log").open("wb") as log:
            done = subprocess.run(
                [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(target),
                 "-m", "hub.cli", "sync", "bench", "--config", str(config), "--json"],
                stdout=subprocess.DEVNULL, stderr=log, env=child_env())
        if done.returncode != 0:
            tail = (workdir / "sync.log").read_text(encoding="utf-8", errors="replace")
            print(f"profiled sync failed (exit {done.returncode}):\n{tail[-2000:]}",
                  file=sys.stderr)
    return target


# --- report ----------------------------------------------------------------------------


def fmt_int(value: float | int | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def markdown(info: dict[str, str], datasets: dict[int, Dataset], runs: list[Run],
             command: str) -> str:
    lines = [f"### Bulk import of a generated Outlook CSV ({info['date']})", ""]
    lines.append(f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, "
                 f"{info['os']}; load average at start {info['load']}")
    versions = f"Python {info['python']}, crmhub {info['crmhub']} (git {info['commit']}), " \
               f"SQLite {info['sqlite']}"
    if "postgresql" in info:
        versions += f", PostgreSQL {info['postgresql']}"
    lines.append(f"- {versions}")
    for data in datasets.values():
        lines.append(f"- Input: {data.rows:,} rows, {data.persons:,} distinct persons + "
                     f"{data.duplicates:,} duplicates, {data.bytes / 1e6:.1f} MB "
                     f"(`{data.path.name}`)")
    lines += [f"- Command: `{command}`",
              "- Wall time is spawn to exit of `crmhub sync` (start-up included); sync s is "
              "crmhub's own figure; peak RSS is the sync process's high-water mark.", ""]
    lines += ["| engine | rows | runs | wall s | sync s | rows/s | peak RSS MB | created | "
              "unchanged | quarantined | contacts created | merged | distinct persons |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
              "---: | ---: |"]
    groups: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.engine, run.rows), []).append(run)
    for (engine, rows), group in groups.items():
        good = [r for r in group if r.ok] or group
        med = statistics.median
        counters = good[0].counters
        lines.append(
            f"| {engine} | {rows:,} | {len(good)} (median) | "
            f"{med(r.wall_seconds for r in good):.1f} | {med(r.sync_seconds for r in good):.1f} "
            f"| **{fmt_int(med(r.rows_per_second for r in good))}** | "
            f"{med(r.peak_rss_mb for r in good):.0f} | {fmt_int(counters.get('created'))} | "
            f"{fmt_int(counters.get('unchanged'))} | {fmt_int(counters.get('quarantined'))} | "
            f"{fmt_int(counters.get('contacts_created'))} | {fmt_int(counters.get('merged'))} | "
            f"{datasets[rows].persons:,} |")
    lines += ["", "<details><summary>Every run</summary>", "",
              "| engine | rows | run | wall s | sync s | rows/s | peak RSS MB | sampled RSS MB "
              "| created | unchanged | quarantined | contacts created | merged | live contacts "
              "| status |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
              "| ---: | ---: | --- |"]
    for r in runs:
        c = r.counters
        status = "ok" if r.ok else f"FAILED: {(r.error or '').splitlines()[0][:80]}"
        lines.append(
            f"| {r.engine} | {r.rows:,} | {r.run} | {r.wall_seconds:.2f} | "
            f"{r.sync_seconds:.2f} | {fmt_int(r.rows_per_second)} | {r.peak_rss_mb:.0f} | "
            f"{r.sampled_rss_mb:.0f} | {fmt_int(c.get('created'))} | "
            f"{fmt_int(c.get('unchanged'))} | {fmt_int(c.get('quarantined'))} | "
            f"{fmt_int(c.get('contacts_created'))} | {fmt_int(c.get('merged'))} | "
            f"{fmt_int(r.live_contacts)} | {status} |")
    lines += ["", "</details>"]
    return "\n".join(lines)


def sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql (default both)")
    parser.add_argument("--rows", type=sizes, nargs="+", default=[[100_000]],
                        help="file sizes, e.g. 100000 or 100000,1000000 (default 100000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per engine and size")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dup-rate", type=float, default=0.2)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server (without database name)")
    parser.add_argument("--profile", action="store_true",
                        help="also run one SQLite import of the first size under pyinstrument "
                             "(benchmarks/out/profile.txt); not counted in the figures")
    parser.add_argument("--keep", action="store_true",
                        help="keep each run's database, config and logs for inspection")
    parser.add_argument("--routing", action="store_true",
                        help="route new leads with the example config/rules.toml and "
                             "config/scoring.toml (lead scoring, lifecycle, assignment)")
    parser.add_argument("--verify", action="store_true",
                        help="after each run, count live contacts with `crmhub export "
                             "contacts` and score the contacts pairwise against the "
                             "generator's truth (untimed)")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if unknown := set(engines) - {"sqlite", "postgresql"}:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    row_sizes = [n for group in args.rows for n in group]
    command = "python " + shlex.join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]) \
        if argv is None else shlex.join(argv)

    info = machine()
    pg = Postgres(args.pg_url) if "postgresql" in engines else None
    if pg is not None:
        info["postgresql"] = pg.version
    datasets = {rows: dataset(rows, args.seed, args.dup_rate) for rows in row_sizes}
    runs: list[Run] = []
    for rows in row_sizes:
        for engine in engines:
            for number in range(1, args.runs + 1):
                workdir = Path(tempfile.mkdtemp(prefix=f"crmhub-bench-{engine}-"))
                run = run_once(engine, datasets[rows], number, args, pg, workdir)
                runs.append(run)
                status = "ok" if run.ok else f"FAILED: {run.error}"
                print(f"{engine} {rows:,} rows run {number}: {run.wall_seconds:.2f} s, "
                      f"{run.rows_per_second:,.0f} rows/s, {run.peak_rss_mb:.0f} MB, "
                      f"{json.dumps(run.counters)} {status}", file=sys.stderr)
                if run.accuracy is not None:
                    print(f"  pairwise against the truth: {json.dumps(run.accuracy)}",
                          file=sys.stderr)
                if args.keep:
                    print(f"  kept: {workdir} (database {run.database})", file=sys.stderr)
                else:
                    shutil.rmtree(workdir, ignore_errors=True)
                    if pg is not None and engine == "postgresql":
                        pg.drop(run.database)

    print(markdown(info, datasets, runs, command))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    results = OUT / f"bulk_import-{stamp}.json"
    results.write_text(json.dumps({"info": info, "command": command,
                                   "datasets": {n: {**asdict(d), "path": str(d.path)}
                                                for n, d in datasets.items()},
                                   "runs": [asdict(r) for r in runs]}, indent=2) + "\n",
                       encoding="utf-8")
    print(f"\nresults: {results.relative_to(REPO)}", file=sys.stderr)
    if args.profile:
        target = profile(datasets[row_sizes[0]])
        print(f"\nProfile of one SQLite import of {row_sizes[0]:,} rows "
              f"({target.relative_to(REPO)}), top:\n")
        if target.exists():
            print("\n".join(target.read_text(encoding="utf-8").splitlines()[:60]))
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
