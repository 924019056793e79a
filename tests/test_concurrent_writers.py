"""Concurrent writers on PostgreSQL create nobody twice, and a crash cannot change decisions.

Two connectors carrying the same people (the crash-safety generator's file, read by both),
synced at the same moment by two ``crmhub sync`` processes, or by two daemons sharing the
database, must give exactly what syncing them one after the other gives. SQLite serialises
writers by its write lock; PostgreSQL does not, so matching would miss the people a
concurrent batch is creating.

The matcher's decisions must not depend on anything a rolled-back batch leaves behind: an
id sequence advanced far ahead (as rollbacks leave it) gives the same export, merges and
events as a plain import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from hub.store.model import SourceRecord, SyncState
from tests.crash_support import (
    MAPPING,
    census,
    comparable,
    connect,
    count,
    duplicate_points,
    export,
    write_input,
)
from tests.daemon_process import Daemon
from tests.postgres import PG_ADMIN_URL, pg_admin, sibling_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROWS = 5_000
SEED = 271_828
CONNECTORS = ("left", "right")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("concurrent-input") / "people.csv"
    write_input(path, ROWS, SEED)
    return path


def connectors(data: Path) -> str:
    mapping = "\n".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in MAPPING.items())
    return "".join(f'''
[[connectors]]
name = "{name}"
kind = "csv"
every = "1h"
[connectors.settings]
paths = [{json.dumps(str(data))}]
mode = "snapshot"
batch_size = 250
[connectors.settings.mapping]
{mapping}
''' for name in CONNECTORS)


def write_config(root: Path, db_url: str, data: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "crmhub.toml"
    config.write_text(f'[hub]\ndatabase_url = "{db_url}"\ndefault_region = "FR"\n'
                      f'log_level = "WARNING"\n' + connectors(data))
    return config


def cli(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hub.cli", *args, "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def run(config: Path, *args: str) -> None:
    proc = cli(config, *args)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:]


def result(config: Path, db_url: str, tmp: Path) -> dict[str, Any]:
    """What must not depend on how the syncs met: golden records and table counts."""
    counts = census(db_url)
    counts.pop("records_counter")  # per connector; the pair is compared through the rest
    return {"export": comparable(export(config, tmp / f"{db_url.rsplit('/', 1)[1]}.jsonl")),
            "census": counts, "duplicates": duplicate_points(db_url)}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory, data: Path) -> dict[str, Any]:
    """The reference: one connector after the other, in a database of its own."""
    tmp = tmp_path_factory.mktemp("sequential")
    pg_admin().dispose()  # fails under CI=true, skips elsewhere, when the server is away
    with sibling_database(PG_ADMIN_URL, tmp) as url:
        config = write_config(tmp, url, data)
        run(config, "db", "upgrade")
        for name in CONNECTORS:
            run(config, "sync", name)
        return result(config, url, tmp)


def test_two_syncs_at_once_on_postgresql_give_exactly_the_sequential_result(
        pg_url: str, tmp_path: Path, data: Path, sequential: dict[str, Any]) -> None:
    config = write_config(tmp_path / "concurrent", pg_url, data)
    run(config, "db", "upgrade")
    procs = [cli(config, "sync", name) for name in CONNECTORS]
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
    got = result(config, pg_url, tmp_path)
    assert got["duplicates"] == []
    assert got["census"]["live_contacts"] == sequential["census"]["live_contacts"]
    assert got == sequential


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[[str, str, str], Daemon]]:
    made: list[Daemon] = []

    def make(name: str, config: str, db_url: str) -> Daemon:
        daemon = Daemon(tmp_path / name, config, "", database_url=db_url,
                        hub_settings='workers = 2\ndefault_region = "FR"\n'
                                     'log_level = "WARNING"\n')
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.close()


def test_two_daemons_on_one_postgresql_give_exactly_the_sequential_result(
        pg_url: str, tmp_path: Path, data: Path, sequential: dict[str, Any],
        daemons: Callable[[str, str, str], Daemon]) -> None:
    config = write_config(tmp_path / "daemons", pg_url, data)
    run(config, "db", "upgrade")
    pair = [daemons(name, connectors(data), pg_url) for name in ("one", "two")]
    for daemon in pair:
        daemon.start(wait=False)
    pair[0].wait_for(lambda: all(daemon_done(pg_url, name) for name in CONNECTORS),
                     "both connectors synced", timeout=240)
    for daemon in pair:
        assert daemon.stop() == 0
    got = result(config, pg_url, tmp_path)
    assert got["duplicates"] == []
    assert got == sequential


def daemon_done(db_url: str, name: str) -> bool:
    with connect(db_url) as c:
        return c.scalar(select(SyncState.last_success).where(SyncState.connector == name)) \
            is not None


def test_ids_left_behind_by_rolled_back_batches_do_not_change_any_decision(
        pg_url: str, tmp_path: Path, data: Path, sequential: dict[str, Any]) -> None:
    advance = 5_000_000
    config = write_config(tmp_path / "advanced", pg_url, data)
    run(config, "db", "upgrade")
    with connect(pg_url) as c:  # as thousands of rolled-back inserts would leave them
        for table in ("source_records", "contacts", "merge_events", "outbox"):
            c.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :n)"),
                      {"n": advance})
        c.commit()
    for name in CONNECTORS:
        run(config, "sync", name)
    with connect(pg_url) as c:
        first = c.scalar(select(func.min(SourceRecord.id)))
        assert first > advance
        assert count(c, SourceRecord) == sequential["census"]["source_records"]
    assert result(config, pg_url, tmp_path) == sequential
