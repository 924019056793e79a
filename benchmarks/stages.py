"""Where a bulk import spends its time: the cost of each stage per row, measured alone.

Reads the generated Outlook file (benchmarks/generate_outlook.py) and times, batch by batch
and in this one process:
  read       the CSV connector: decode, preset, Observation objects
  prepare    enrichment, content hash, normalisation (the producer's part)
  transport  pickling a prepared batch and back (producer -> writer)
  write      resolve + bulk writes + commit on SQLite (the writer's part)
A sync runs read+prepare+transport-out in one process and transport-in+write in the other,
so its rate is bounded by the slower of the two sums.

    python benchmarks/stages.py --rows 20000
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from hub.service.runtime import Hub
from hub.service.sync import tune_gc

ROOT = Path(__file__).resolve().parent.parent


def generated(rows: int) -> Path:
    """The generated Outlook file of ``rows`` rows, written once to benchmarks/out."""
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    data = out / f"stages-{rows}.csv"
    if not data.exists():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate_outlook.py"),
                        "--rows", str(rows), "--out", str(data)], check=True)
    return data


@contextlib.contextmanager
def sqlite_hub(data: Path) -> Iterator[Hub]:
    """A hub on a fresh SQLite file with one append-mode CSV connector, ``bench``, over
    ``data``; the collector tuned as `crmhub sync` tunes it."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "crmhub.toml"
        config.write_text(f'[hub]\ndatabase_url = "sqlite:///{tmp}/hub.db"\n'
                          'default_region = "FR"\n[[connectors]]\nname = "bench"\n'
                          f'kind = "csv"\n[connectors.settings]\npaths = ["{data}"]\n'
                          'mode = "append"\n')
        hub = Hub.open(config)
        tune_gc()
        try:
            yield hub
        finally:
            hub.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with sqlite_hub(generated(args.rows)) as hub:
        cfg = hub.config.connector("bench")
        # Batch by batch, as a sync runs: holding every row at once would make the
        # garbage collector's passes, not the stages, dominate the figures.
        read = prepare = dumps = loads = write = 0.0
        rows = 0
        stream = iter(hub.connector("bench").sync(None))
        while True:
            started = time.perf_counter()
            batch = next(stream, None)
            read += time.perf_counter() - started
            if batch is None:
                break
            batch.on_commit = None
            rows += len(batch.observations)
            started = time.perf_counter()
            prepared = hub.pipeline.preparer.prepare(cfg, batch)
            prepare += time.perf_counter() - started
            started = time.perf_counter()
            blob = pickle.dumps(prepared)
            dumps += time.perf_counter() - started
            started = time.perf_counter()
            prepared = pickle.loads(blob)
            loads += time.perf_counter() - started
            started = time.perf_counter()
            hub.pipeline.ingest(cfg, prepared)
            write += time.perf_counter() - started

    def us(seconds: float) -> str:
        return f"{seconds / rows * 1e6:,.0f}"

    print(f"# stage costs, {rows:,} Outlook rows, SQLite — {time.strftime('%Y-%m-%d')}")
    print(f"command: python benchmarks/stages.py --rows {args.rows}\n")
    print("| stage | process | µs per row |")
    print("|---|---|---:|")
    print(f"| read (CSV connector) | producer | {us(read)} |")
    print(f"| prepare (hash, normalise) | producer | {us(prepare)} |")
    print(f"| transport out (pickle) | producer | {us(dumps)} |")
    print(f"| transport in (unpickle) | writer | {us(loads)} |")
    print(f"| write (resolve, bulk insert, commit) | writer | {us(write)} |")
    producer, writer = read + prepare + dumps, loads + write
    print(f"| **producer total** | | **{us(producer)}** |")
    print(f"| **writer total** | | **{us(writer)}** |")
    print(f"\nbound: {rows / max(producer, writer):,.0f} rows/s "
          f"(the {'producer' if producer > writer else 'writer'} is the slower side)")


if __name__ == "__main__":
    main()
