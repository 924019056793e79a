"""Idle daemon: start-to-READY time, then CPU and RSS while 20 connectors sit idle.

Starts `crmhub run` with a test NOTIFY_SOCKET, times READY=1 from the start of the process,
lets every connector run once (they read a small sample export), then samples the whole
process tree for `--idle` seconds. Prints a markdown table for BENCHMARKS.md.

    python benchmarks/idle_daemon.py --connectors 20 --idle 60 --runs 3
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "config" / "samples" / "google.csv"


def write_config(folder: Path, connectors: int) -> Path:
    lines = [f'[hub]\ndatabase_url = "sqlite:///{folder / "hub.db"}"\ndefault_region = "FR"\n']
    for n in range(connectors):
        copy = folder / f"export-{n}.csv"
        shutil.copy(SAMPLE, copy)
        lines.append(f'[[connectors]]\nname = "c{n:02d}"\nkind = "csv"\nevery = "5m"\n'
                     f'[connectors.settings]\npaths = ["{copy}"]\n')
    config = folder / "crmhub.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


def tree(process: psutil.Process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def one_run(connectors: int, idle: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = write_config(folder, connectors)
        sock_path = str(folder / "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(60)
        env = {**os.environ, "NOTIFY_SOCKET": sock_path}
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "run", "--config", str(config)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while b"READY=1" not in sock.recv(4096):
                pass
            ready = time.perf_counter() - started
            time.sleep(10)  # every connector runs once, then all are idle for 5 minutes
            main = psutil.Process(proc.pid)
            before = sum(p.cpu_times().user + p.cpu_times().system for p in tree(main))
            rss = []
            end = time.perf_counter() + idle
            while time.perf_counter() < end:
                rss.append(sum(p.memory_info().rss for p in tree(main)) / 2**20)
                time.sleep(1)
            after = sum(p.cpu_times().user + p.cpu_times().system for p in tree(main))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            sock.close()
        return {"ready_s": ready, "cpu_pct": 100 * (after - before) / idle,
                "rss_mb": max(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectors", type=int, default=20)
    parser.add_argument("--idle", type=float, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.connectors, args.idle) for _ in range(args.runs)]
    print(f"# idle daemon, {args.connectors} connectors, {args.idle:.0f} s idle, "
          f"{args.runs} runs — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"command: python benchmarks/idle_daemon.py --connectors {args.connectors} "
          f"--idle {args.idle:.0f} --runs {args.runs}\n")
    print("| run | start to READY (s) | idle CPU (% of one core) | RSS, process tree (MB) |")
    print("|---|---:|---:|---:|")
    for n, run in enumerate(runs, 1):
        print(f"| {n} | {run['ready_s']:.2f} | {run['cpu_pct']:.2f} | {run['rss_mb']:.0f} |")
    print(f"| median | {statistics.median(r['ready_s'] for r in runs):.2f} | "
          f"{statistics.median(r['cpu_pct'] for r in runs):.2f} | "
          f"{statistics.median(r['rss_mb'] for r in runs):.0f} |")


if __name__ == "__main__":
    main()
