"""Crash safety: SIGKILL at any point, then a restart, yields the same
database as an uninterrupted run: same contacts, same interactions, no duplicates.

A seeded generator writes a CSV of ``ROWS`` rows (generic mapping, an id column ``ref``):
distinct people, about 20% later rows that repeat an earlier person (the e-mail in another
case, or only the phone in another notation), people first seen split in two (e-mail only,
then phone only) and later bridged by a row carrying both (a merge), and a few rows that
identify nobody (quarantined). Each engine imports it twice through the public CLI, each
time into a fresh database:

* the reference: ``crmhub sync`` uninterrupted;
* the crash run: ``crmhub sync`` killed with SIGKILL (its whole process group: the sync
  forks a producer) at seeded fractions of the reference's duration, ``KILLS`` times,
  then run to completion.

The two exports are compared without ids and clock times (``hub.export.without_ids``),
and so are the row counts of every table that could hold a duplicate.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.crash_support import (
    CONNECTOR,
    RUN_TIMEOUT,
    Generated,
    census,
    comparable,
    crmhub,
    duplicate_points,
    export,
    kill_group,
    progress,
    start_sync,
    write_config,
    write_input,
)
from tests.postgres import sibling_database

pytestmark = pytest.mark.slow

ROWS = 20_000
SEED = 3_141_592
KILLS = 4
KILL_FRACTIONS = (0.15, 0.50)  # each kill after this share of the reference's wall time


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Generated]:
    """One input file for every engine and both runs (the same path, bytes and mtime)."""
    path = tmp_path_factory.mktemp("crash-input") / "contacts.csv"
    return path, write_input(path, ROWS, SEED)


def test_sigkill_at_random_points_then_restart_equals_uninterrupted_run(
        db_url: str, tmp_path: Path, generated: tuple[Path, Generated]) -> None:
    data, expected = generated
    engine = make_url(db_url).get_backend_name()
    rng = random.Random(f"{SEED}-{engine}")

    # The reference: one uninterrupted run into a database of its own.
    with sibling_database(db_url, tmp_path) as reference_url:
        reference = write_config(tmp_path / "reference", reference_url, data)
        crmhub(reference, "db", "upgrade")
        started = time.monotonic()
        crmhub(reference, "sync", CONNECTOR)
        duration = time.monotonic() - started
        expected_rows = comparable(export(reference, tmp_path / "reference.jsonl"))
        expected_census = census(reference_url)
    print(f"\n[{engine}] {expected.rows} rows ({expected.good} good, {expected.bad} bad, "
          f"{expected.people} people): reference sync {duration:.1f}s; {expected_census}")

    # The reference itself is what a perfect import holds.
    assert expected_census["source_records"] == expected.good
    assert expected_census["quarantine_open"] == expected.bad
    # The generator's contact count follows exact identity rules; the probabilistic matcher
    # merges more (it over-merges some generated people). What this test
    # proves is crash safety: the interrupted runs must equal this reference exactly.
    assert expected_census["live_contacts"] == len(expected_rows) <= expected.contacts
    assert expected_census["merge_events"] > 0

    # The crash run: killed KILLS times at seeded points, then run to completion.
    crashed = write_config(tmp_path / "crashed", db_url, data)
    crmhub(crashed, "db", "upgrade")
    log = tmp_path / "crashed" / "sync.log"
    kills: list[tuple[float, int, int | None, bool]] = []
    for _ in range(KILLS):
        offset = rng.uniform(*KILL_FRACTIONS) * duration
        proc = start_sync(crashed, log)
        try:
            proc.wait(timeout=offset)
            finished = True  # it ended by itself before the kill: note it, go on
        except subprocess.TimeoutExpired:
            finished = False
        kill_group(proc)
        records, rows, done = progress(db_url, data)
        kills.append((round(offset, 2), records, rows, done))
        if finished:
            print(f"[{engine}] a run finished before its kill at {offset:.2f}s "
                  f"(exit {proc.returncode})")
    started = time.monotonic()
    final = start_sync(crashed, log)
    assert final.wait(timeout=RUN_TIMEOUT) == 0, log.read_text(errors="replace")[-5000:]
    print(f"[{engine}] kills (offset s, source records, cursor rows, done): {kills}; "
          f"final run {time.monotonic() - started:.1f}s")

    # The kills landed mid-run: at least one left some batches committed, not all.
    assert any(0 < records < expected.good and not done for _, records, _, done in kills), \
        f"no kill left a partial import: {kills}"
    # Progress is monotonic: a restart resumes, it never goes back.
    assert [k[1] for k in kills] == sorted(k[1] for k in kills), kills

    # Same database: the same golden records, the same rows in every table.
    exported = export(crashed, tmp_path / "crashed.jsonl")
    actual_rows = comparable(exported)
    if actual_rows != expected_rows:
        missing = sorted(set(expected_rows) - set(actual_rows))
        extra = sorted(set(actual_rows) - set(expected_rows))
        pytest.fail(f"exports differ: {len(expected_rows)} contacts in the reference, "
                    f"{len(actual_rows)} after the crashes; only in the reference "
                    f"({len(missing)}): {missing[:3]}; only after the crashes "
                    f"({len(extra)}): {extra[:3]}")
    assert census(db_url) == expected_census
    assert duplicate_points(db_url) == []
    emails = Counter(e["value"].lower() for row in exported for e in row["emails"])
    assert [e for e, n in emails.items() if n > 1] == []

    status = json.loads(crmhub(crashed, "status", "--json").stdout)
    (connector,) = status["connectors"]
    assert connector["name"] == CONNECTOR
    assert connector["state"] == "ok", connector
    assert connector["last_error"] is None and connector["held"] is None
    assert status["quarantine_open"] == expected.bad
    assert status["contacts"] == len(expected_rows)
