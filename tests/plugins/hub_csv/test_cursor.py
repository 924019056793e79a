"""The cursor: unchanged files are not re-read, changed ones are, a crash resumes mid-file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from hub.connectors import RetriableError
from tests.plugins.hub_csv.support import (
    SAMPLES,
    connector,
    final_cursor,
    observations,
    rejected,
    run,
)


@pytest.fixture
def google(tmp_path: Path) -> Path:
    path = tmp_path / "google.csv"
    shutil.copy(SAMPLES / "google.csv", path)
    return path


def test_resync_with_the_returned_cursor_yields_nothing(google: Path) -> None:
    conn = connector(paths=[google], batch_size=5)
    first = run(conn)
    assert len(observations(first)) == 12
    assert run(conn, final_cursor(first)) == []


def test_cursor_is_json_and_records_hash_size_mtime_rows_and_done(google: Path) -> None:
    batches = run(connector(paths=[google], batch_size=5))
    cursors = [b.cursor for b in batches]
    assert json.loads(json.dumps(cursors)) == cursors
    states = [c["files"][str(google)] for c in cursors if c is not None]
    assert [(s["rows"], s["done"]) for s in states] == [(5, False), (10, False), (12, True)]
    stat = google.stat()
    assert states[-1]["sha256"] == hashlib.sha256(google.read_bytes()).hexdigest()
    assert (states[-1]["size"], states[-1]["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)


def test_a_changed_file_is_read_again(google: Path) -> None:
    conn = connector(paths=[google])
    first = run(conn)
    with google.open("a", encoding="utf-8") as stream:
        # A whole row: 38 cells, as many as the header has columns.
        stream.write("Zed,,Zulu,,,,,,,,,,,,,,,* Work,zed@example.com" + "," * 19 + "\n")
    second = run(conn, final_cursor(first))
    assert len(observations(second)) == 13
    assert second[-1].token != first[-1].token


def test_a_touched_file_with_the_same_content_is_not_read_again(google: Path) -> None:
    conn = connector(paths=[google])
    first = run(conn)
    os.utime(google, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    second = run(conn, final_cursor(first))
    assert [len(b) for b in second] == [0]  # only the new stat is recorded
    assert final_cursor(second)["files"][str(google)]["mtime_ns"] == 1_600_000_000_000_000_000
    assert run(conn, final_cursor(second)) == []


def test_full_reads_an_unchanged_file_again(google: Path) -> None:
    conn = connector(paths=[google])
    first = run(conn)
    again = run(conn, final_cursor(first), full=True)
    assert [o.external_id for o in observations(again)] == [
        o.external_id for o in observations(first)
    ]


def test_snapshot_mode_tags_every_batch_and_ends_the_last_with_snapshot_end(google: Path) -> None:
    batches = run(connector(paths=[google], batch_size=5, max_delete_ratio=0.5))
    token = hashlib.sha256(google.read_bytes()).hexdigest()
    assert [(b.scope, b.token) for b in batches] == [(str(google), token)] * 3
    assert [b.snapshot_end for b in batches[:-1]] == [None, None]
    end = batches[-1].snapshot_end
    assert end is not None
    assert (end.scope, end.token, end.max_delete_ratio) == (str(google), token, 0.5)


def test_append_mode_has_no_snapshot_markers(google: Path) -> None:
    batches = run(connector(paths=[google], batch_size=5, mode="append"))
    assert len(observations(batches)) == 12
    assert all(b.scope is None and b.token is None and b.snapshot_end is None for b in batches)


def test_a_header_only_file_still_ends_its_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("First Name,Last Name,E-mail Address\n", encoding="utf-8")
    [batch] = run(connector(paths=[path]))
    assert len(batch) == 0 and batch.snapshot_end is not None


def test_resume_from_a_mid_file_cursor_continues_after_the_committed_rows(google: Path) -> None:
    conn = connector(paths=[google], batch_size=5)
    whole = run(conn)
    crashed_after = whole[0].cursor  # the core committed batch 1, then the process died
    resumed = run(conn, crashed_after)
    assert [o.external_id for o in observations(resumed)] == [
        o.external_id for o in observations(whole)[5:]
    ]
    assert resumed[-1].snapshot_end is not None
    assert {b.token for b in resumed} == {whole[0].token}  # the same snapshot goes on


def test_resume_keeps_repeat_numbering_of_content_keys(tmp_path: Path) -> None:
    path = tmp_path / "dups.csv"
    rows = "".join(f"Ann,Lee,ann@example.com,{n}\n" for n in range(4))
    path.write_text("First Name,Last Name,E-mail Address,Notes\n" + rows, encoding="utf-8")
    conn = connector(paths=[path], batch_size=2)
    whole = run(conn)
    resumed = run(conn, whole[0].cursor)
    assert [o.external_id for o in observations(resumed)] == [
        o.external_id for o in observations(whole)[2:]
    ]


def test_a_file_changed_since_the_crash_is_read_from_the_start(google: Path) -> None:
    conn = connector(paths=[google], batch_size=5)
    crashed_after = run(conn)[0].cursor
    google.write_bytes(google.read_bytes().replace(b"Alice", b"Alicia"))
    assert len(observations(run(conn, crashed_after))) == 12


def test_external_ids_are_stable_across_reads_and_unique_within_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "First Name,Last Name,E-mail Address,Mobile Phone,Company\n"
        "Ann,Lee,Ann.Lee@Example.com,,\n"
        "Ann,Lee,ann.lee@example.com,,\n"
        "Bob,Ray,,+33 6 12 34 56 78,\n"
        "Cy,Day,,,Acme\n"
        "Ann,Lee,ann.lee@example.com,,\n",
        encoding="utf-8",
    )
    ids = [o.external_id for o in observations(run(connector(paths=[path])))]
    again = [o.external_id for o in observations(run(connector(paths=[path])))]
    assert ids == again
    assert len(set(ids)) == 5
    key = "k:c.csv:" + hashlib.sha1(b"ann.lee@example.com").hexdigest()[:16]
    assert [ids[0], ids[1], ids[4]] == [key, key + "#2", key + "#3"]
    assert ids[2] == "k:c.csv:" + hashlib.sha1(b"33612345678").hexdigest()[:16]
    assert ids[3] == "k:c.csv:" + hashlib.sha1(b"cy day|acme").hexdigest()[:16]


SNAPSHOT_HEADER = "First Name,Last Name,E-mail Address\n"


def test_the_same_person_in_two_snapshot_files_has_one_external_id_per_file(
    tmp_path: Path,
) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(SNAPSHOT_HEADER + "Alice,Martin,alice@example.com\n", encoding="utf-8")
    b.write_text(
        SNAPSHOT_HEADER + "Alice,Martin,alice@example.com\nBob,Ray,bob@example.com\n",
        encoding="utf-8",
    )
    conn = connector(paths=[a, b])
    first = run(conn)
    ids = {(batch.scope, o.external_id) for batch in first for o in batch.observations}
    alice_a = next(i for scope, i in ids if scope == str(a))
    alice_b, bob = sorted(i for scope, i in ids if scope == str(b))[::-1]
    assert len({alice_a, alice_b, bob}) == 3  # one source record per file
    assert alice_a.startswith("k:a.csv:") and alice_b.startswith("k:b.csv:")
    # Alice leaves b.csv: b's snapshot no longer holds her id, a's still does, so the core
    # tombstones only b's record of her.
    b.write_text(SNAPSHOT_HEADER + "Bob,Ray,bob@example.com\n", encoding="utf-8")
    second = run(conn, final_cursor(first))
    [end] = [batch.snapshot_end for batch in second if batch.snapshot_end is not None]
    assert end.scope == str(b)
    snapshot = [batch for batch in second if batch.token == end.token]
    seen = {o.external_id for o in observations(snapshot)}
    assert seen == {bob} and alice_b not in seen
    assert alice_a not in {o.external_id for o in observations(second)}  # a.csv not re-read
    assert all(batch.scope == str(b) for batch in second)


def test_content_keys_name_the_file_not_its_folder(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    for folder in (old, new):
        (folder / "c.csv").write_text(
            SNAPSHOT_HEADER + "Alice,Martin,alice@example.com\n", encoding="utf-8"
        )
    [before] = observations(run(connector(paths=[old / "c.csv"])))
    [after] = observations(run(connector(paths=[new / "c.csv"])))
    assert before.external_id == after.external_id


def test_glob_patterns_read_every_match_in_name_order(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv"):
        shutil.copy(SAMPLES / "google_legacy.csv", tmp_path / name)
    batches = run(connector(paths=[tmp_path / "*.csv"]))
    assert [b.scope for b in batches] == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]


def test_a_missing_file_fails_the_run_retriably_after_the_other_files(google: Path) -> None:
    conn = connector(paths=[google.parent / "gone.csv", google])
    batches = []
    with pytest.raises(RetriableError, match=r"gone\.csv: no such file"):
        for batch in conn.sync(None):
            batches.append(batch)
    assert len(observations(batches)) == 12


def test_files_no_longer_configured_leave_the_cursor(google: Path, tmp_path: Path) -> None:
    other = tmp_path / "legacy.csv"
    shutil.copy(SAMPLES / "google_legacy.csv", other)
    both = run(connector(paths=[google, other]))
    assert set(final_cursor(both)["files"]) == {str(google), str(other)}
    other.write_text(other.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    after = run(connector(paths=[other]), final_cursor(both))
    assert set(final_cursor(after)["files"]) == {str(other)}
    assert rejected(after) == []
