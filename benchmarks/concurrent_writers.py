"""Two connectors carrying the same people, synced one after the other and at the same
moment, on each engine: the wall time of both, and whether they store the same contacts.

Both connectors read the same generated Outlook file, so the second one meets every
person the first one creates. On PostgreSQL the writers resolve and write one batch at a
time (a transaction-level advisory lock) while each sync's reader normalises in parallel;
this measures what that costs or saves against running them one after the other.

    python benchmarks/concurrent_writers.py [--rows 20000] [--pairs 3]
        [--engines sqlite,postgresql] [--pg-url postgresql://postgres@127.0.0.1:5432]

Each pair runs the sequential and the concurrent import back to back (alternating which
goes first), so both see the same machine; it prints each pair and the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bulk_import import Postgres, child_env, crmhub_command, dataset, machine

CONNECTORS = ("left", "right")


def write_config(directory: Path, url: str, data: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "crmhub.toml"
    text = (f'[hub]\ndatabase_url = {json.dumps(url)}\ndefault_region = "FR"\n'
            'log_level = "WARNING"\n')
    for name in CONNECTORS:
        text += (f'\n[[connectors]]\nname = "{name}"\nkind = "csv"\n[connectors.settings]\n'
                 f'paths = [{json.dumps(str(data))}]\nmode = "append"\n')
    config.write_text(text, encoding="utf-8")
    return config


def contacts(config: Path) -> int:
    out = subprocess.run([*crmhub_command(), "status", "--json", "--config", str(config)],
                         capture_output=True, text=True, check=True, env=child_env())
    return int(json.loads(out.stdout)["contacts"])


def import_both(config: Path, together: bool) -> float:
    """Seconds to sync both connectors, at once or one after the other."""
    subprocess.run([*crmhub_command(), "db", "upgrade", "--config", str(config)], check=True,
                   capture_output=True, env=child_env())
    started = time.perf_counter()
    if together:
        procs = [subprocess.Popen([*crmhub_command(), "sync", name, "--config", str(config)],
                                  stdout=subprocess.DEVNULL, env=child_env())
                 for name in CONNECTORS]
        codes = [proc.wait() for proc in procs]
    else:
        codes = [subprocess.run([*crmhub_command(), "sync", name, "--config", str(config)],
                                stdout=subprocess.DEVNULL, env=child_env()).returncode
                 for name in CONNECTORS]
    if any(codes):
        raise SystemExit(f"a sync failed: {codes}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args(argv)
    data = dataset(args.rows, seed=42, dup_rate=0.2)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    pg = Postgres(args.pg_url) if "postgresql" in engines else None
    info = machine()
    print(f"Machine: {info['nproc']} cores, {info['cpu']}; commit {info['commit']}; "
          f"{info['date']}; {args.rows:,} rows per connector\n")
    print("| engine | pair | one after the other s | at once s | contacts (after / at once) |")
    print("|---|---:|---:|---:|---|")
    medians = []
    with tempfile.TemporaryDirectory(prefix="crmhub-writers-") as tmp:
        for engine in engines:
            times: dict[bool, list[float]] = {False: [], True: []}
            for pair in range(args.pairs):
                found: dict[bool, int] = {}
                order = (False, True) if pair % 2 == 0 else (True, False)
                for together in order:
                    workdir = Path(tmp) / f"{engine}-{pair}-{together}"
                    if engine == "sqlite":
                        url, name = f"sqlite:///{workdir / 'crmhub.db'}", None
                    else:
                        assert pg is not None
                        name = pg.create()
                        url = pg.sqlalchemy_url(name)
                    try:
                        config = write_config(workdir, url, data.path)
                        times[together].append(import_both(config, together))
                        found[together] = contacts(config)
                    finally:
                        if pg is not None and name is not None:
                            pg.drop(name)
                print(f"| {engine} | {pair + 1} | {times[False][-1]:.1f} | "
                      f"{times[True][-1]:.1f} | {found[False]:,} / {found[True]:,} |",
                      flush=True)
            medians.append((engine, statistics.median(times[False]),
                            statistics.median(times[True])))
    print("\n| engine | median one after the other s | median at once s | at once / after |")
    print("|---|---:|---:|---:|")
    for engine, after, together in medians:
        print(f"| {engine} | {after:.1f} | {together:.1f} | {together / after:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
