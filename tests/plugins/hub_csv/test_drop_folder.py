"""The drop folder: settled files are read once, then moved to done/ after their last batch."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.plugins.hub_csv.support import (
    SAMPLES,
    Clock,
    connector,
    final_cursor,
    observations,
    run,
)

MTIME = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def drop(folder: Path, sample: str, name: str | None = None) -> Path:
    path = folder / (name or sample)
    shutil.copy(SAMPLES / sample, path)
    stamp = int(MTIME.timestamp() * 1e9)
    os.utime(path, ns=(stamp, stamp))
    return path


def test_a_file_modified_within_settle_seconds_is_left_for_the_next_run(tmp_path: Path) -> None:
    path = drop(tmp_path, "google.csv")
    clock = Clock(MTIME + timedelta(seconds=1))
    assert run(connector(folder=tmp_path, clock=clock)) == []
    assert path.exists()
    clock.now = MTIME + timedelta(seconds=3)
    assert len(observations(run(connector(folder=tmp_path, clock=clock)))) == 12


def test_a_settled_file_is_moved_to_done_only_once_its_last_batch_is_committed(
    tmp_path: Path,
) -> None:
    path = drop(tmp_path, "google.csv")
    clock = Clock(MTIME + timedelta(minutes=1))
    sync = connector(folder=tmp_path, clock=clock, batch_size=5).sync(None)
    batches = [next(sync), next(sync), next(sync)]
    assert batches[-1].cursor is not None
    assert batches[-1].cursor["files"][str(path)]["done"] is True
    assert [b.on_commit is not None for b in batches] == [False, False, True]
    assert next(sync, None) is None  # the generator may finish before the commit
    assert path.exists()  # the core has not committed the last batch yet
    batches[-1].on_commit()  # type: ignore[misc]
    assert not path.exists()
    assert (tmp_path / "done" / "google.csv").exists()


def test_drop_folder_files_are_append_only_even_in_snapshot_mode(tmp_path: Path) -> None:
    drop(tmp_path, "google.csv")
    batches = run(connector(folder=tmp_path, mode="snapshot", clock=Clock(MTIME + timedelta(1))))
    assert all(b.scope is None and b.snapshot_end is None for b in batches)


def test_a_name_already_in_done_is_not_overwritten(tmp_path: Path) -> None:
    clock = Clock(MTIME + timedelta(minutes=1))
    drop(tmp_path, "google_legacy.csv", "export.csv")
    run(connector(folder=tmp_path, clock=clock))
    drop(tmp_path, "google.csv", "export.csv")
    run(connector(folder=tmp_path, clock=clock))
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["export.2.csv", "export.csv"]


def test_a_file_read_but_not_moved_before_a_crash_is_moved_without_reading_again(
    tmp_path: Path,
) -> None:
    path = drop(tmp_path, "google.csv")
    clock = Clock(MTIME + timedelta(minutes=1))
    sync = connector(folder=tmp_path, clock=clock).sync(None)
    committed = next(sync)  # then the process dies before resuming the generator
    sync.close()
    assert path.exists()
    assert run(connector(folder=tmp_path, clock=clock), committed.cursor) == []
    assert not path.exists() and (tmp_path / "done" / "google.csv").exists()


def test_only_contact_files_are_taken_from_the_folder(tmp_path: Path) -> None:
    clock = Clock(MTIME + timedelta(minutes=1))
    drop(tmp_path, "google_legacy.csv", "a.CSV")
    drop(tmp_path, "contacts.vcf")
    drop(tmp_path, "google.csv", ".hidden.csv")
    drop(tmp_path, "google.csv", "~$lock.csv")
    drop(tmp_path, "google.csv", "notes.xlsx")
    batches = run(connector(folder=tmp_path, clock=clock))
    assert len(observations(batches)) == 4 + 6
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["a.CSV", "contacts.vcf"]


def test_paths_and_folder_together_read_both(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop(inbox, "google_legacy.csv")
    fixed = tmp_path / "google.csv"
    shutil.copy(SAMPLES / "google.csv", fixed)
    conn = connector(paths=[fixed], folder=inbox, clock=Clock(MTIME + timedelta(minutes=1)))
    batches = run(conn)
    assert len(observations(batches)) == 16
    assert set(final_cursor(batches)["files"]) >= {str(fixed)}
    assert run(conn, final_cursor(batches)) == []


def test_a_dry_run_leaves_drop_folder_files_in_place(tmp_path: Path) -> None:
    path = drop(tmp_path, "google.csv")
    conn = connector(folder=tmp_path, clock=Clock(MTIME + timedelta(minutes=1)), batch_size=5)
    conn.context.dry_run = True
    before = sorted(p.name for p in tmp_path.rglob("*"))
    batches = run(conn)  # every batch consumed, as the core does
    assert len(observations(batches)) == 12
    assert path.exists()
    assert not (tmp_path / "done").exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_connector_reading_only_a_drop_folder_cannot_reread_its_input(tmp_path: Path) -> None:
    fixed = tmp_path / "google.csv"
    shutil.copy(SAMPLES / "google.csv", fixed)
    assert connector(folder=tmp_path).can_reread is False
    assert connector(paths=[fixed]).can_reread is True
    assert connector(paths=[fixed], folder=tmp_path).can_reread is True


def test_the_same_person_in_two_dropped_exports_keeps_one_external_id(tmp_path: Path) -> None:
    clock = Clock(MTIME + timedelta(minutes=1))
    drop(tmp_path, "google.csv", "export-2025-05.csv")
    first = observations(run(connector(folder=tmp_path, clock=clock)))
    drop(tmp_path, "google.csv", "export-2025-06.csv")
    second = observations(run(connector(folder=tmp_path, clock=clock)))
    # Dropped files are successive deliveries of one feed: the later one updates the same
    # source records, whatever the file is called.
    assert [o.external_id for o in first] == [o.external_id for o in second]
    assert all(":" not in o.external_id[2:] for o in first if o.external_id.startswith("k:"))
