"""Bad input gets a clear reason in quarantine, never an exception; good rows still go."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hub_csv.person import PAYLOAD_LIMIT
from tests.plugins.hub_csv.support import (
    SAMPLES,
    connector,
    observations,
    person,
    read,
    rejected,
    run,
)

HEADER = "First Name,Last Name,E-mail Address,Notes\n"


def test_a_truncated_file_yields_its_good_rows_and_one_rejected_tail(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    path.write_text(
        HEADER + "Ada,Lovelace,ada@example.com,fine\n"
        "Bob,Ray,bob@example.com,\"this note was cut\nin the midd",
        encoding="utf-8",
    )
    batches = read(path)
    assert [o.external_id for o in observations(batches)] != []
    assert len(observations(batches)) == 1
    [tail] = rejected(batches)
    assert "ends inside a quoted field" in tail.reason
    assert tail.location == f"{path}:3"
    assert "in the midd" in tail.payload
    # A cut-short file is not the whole truth: nothing may be tombstoned because of it.
    assert batches[-1].snapshot_end is None


def test_binary_garbage_is_one_rejected_file_and_the_other_files_still_go(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 64 + os.urandom(4096))
    good = tmp_path / "google.csv"
    shutil.copy(SAMPLES / "google.csv", good)
    batches = run(connector(paths=[garbage, good]))
    [only] = rejected(batches)
    assert "not text" in only.reason and only.location == str(garbage)
    assert len(observations(batches)) == 12
    assert batches[0].snapshot_end is None and batches[-1].snapshot_end is not None


def test_one_binary_line_in_a_good_file_is_one_quarantined_row_and_the_rest_is_stored(
        tmp_path: Path) -> None:
    header, *rows = [line for line in (SAMPLES / "outlook.csv").read_bytes().split(b"\r\n")
                     if line.strip()][:5]
    damaged = b"\x00" * 30 + b"\x81\x9f\xff\xfe\x01\x02\x03garbage,\x00\x00\x07\x08"
    path = tmp_path / "outlook.csv"
    path.write_bytes(b"\r\n".join([header, rows[0], rows[1], damaged, rows[2], rows[3]])
                     + b"\r\n")
    batches = read(path)
    assert len(observations(batches)) == 4
    [bad] = rejected(batches)
    assert bad.location == f"{path}:4" and "cells" in bad.reason


def test_a_file_with_a_damaged_header_or_mostly_damaged_lines_is_not_text(
        tmp_path: Path) -> None:
    header = HEADER.encode()
    for name, data in (("header.csv", b"\x00\x01\x02\x03" + header + b"Ada,L,a@b.fr,\n"),
                       ("mostly.csv", header + b"\x00\x01\x02\x03\x04\n" * 5 +
                        b"Ada,L,a@b.fr,\n")):
        path = tmp_path / name
        path.write_bytes(data)
        [only] = rejected(read(path))
        assert "not text" in only.reason, name


def test_a_rejected_file_is_not_rejected_again_until_it_changes(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(os.urandom(8192))
    conn = connector(paths=[garbage])
    first = run(conn)
    assert len(rejected(first)) == 1
    assert run(conn, first[-1].cursor) == []


def test_an_empty_file_is_rejected_with_a_reason(tmp_path: Path) -> None:
    for name, data in (("empty.csv", b""), ("blank.csv", b"\xef\xbb\xbf\r\n\r\n")):
        (tmp_path / name).write_bytes(data)
        [only] = rejected(read(tmp_path / name))
        assert only.reason == "the file is empty"


def test_an_unrecognised_header_is_rejected_with_a_hint_about_mapping(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("foo,bar\n1,2\n", encoding="utf-8")
    [only] = rejected(read(path))
    assert "no recognisable header" in only.reason and "`mapping`" in only.reason


def test_a_cp1252_file_forced_as_utf8_rejects_only_the_undecodable_rows(tmp_path: Path) -> None:
    path = tmp_path / "ansi.csv"
    path.write_bytes(
        (HEADER + "Ada,Lovelace,ada@example.com,plain\nHélène,Dupré,h@example.fr,accents\n")
        .encode("cp1252")
    )
    batches = read(path, encoding="utf-8")
    assert [o.person.given_name for o in observations(batches) if o.person] == ["Ada"]
    [bad] = rejected(batches)
    assert "not utf-8" in bad.reason and bad.location == f"{path}:3"
    assert "H\\xe9l\\xe8ne" in bad.payload  # the bytes, shown, not mangled


def test_a_ten_megabyte_field_is_rejected_and_the_next_rows_are_read(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as stream:
        stream.write(HEADER)
        stream.write("Big,Cell,big@example.com," + "x" * (10 * 1024 * 1024) + "\n")
        stream.write('Quoted,Big,qb@example.com,"' + "y" * (10 * 1024 * 1024) + '"\n')
        stream.write("Ada,Lovelace,ada@example.com,after\n")
    batches = read(path)
    assert [o.person.given_name for o in observations(batches) if o.person] == ["Ada"]
    reasons = [r.reason for r in rejected(batches)]
    assert len(reasons) == 2
    assert all("larger than max_field_bytes (1048576 bytes)" in r for r in reasons)
    assert all(len(r.payload.encode()) <= PAYLOAD_LIMIT for r in rejected(batches))


def test_a_cell_over_the_byte_limit_in_multibyte_characters_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "euro.csv"
    path.write_text(HEADER + "Eu,Ro,eu@example.com," + "€" * 400_000 + "\n", encoding="utf-8")
    [bad] = rejected(read(path))  # 400,000 characters but 1.2 MB
    assert bad.reason == "cell 'Notes' is larger than max_field_bytes (1048576 bytes)"


def test_a_row_with_more_cells_than_the_header_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(
        HEADER + "Ada,Lovelace,ada@example.com,ok,EXTRA\nBob,Ray,bob@example.com,ok,,\n",
        encoding="utf-8",
    )
    batches = read(path)
    [bad] = rejected(batches)
    assert bad.reason == "the row has 5 cells but the header has 4 columns"
    assert bad.payload == "Ada,Lovelace,ada@example.com,ok,EXTRA\n"
    # Trailing empty cells (Excel's habit) are not extra data.
    assert [o.person.given_name for o in observations(batches) if o.person] == ["Bob"]


def test_a_row_that_identifies_nobody_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "anon.csv"
    path.write_text(HEADER + ",,,just a note\nAda,,,\n", encoding="utf-8")
    batches = read(path)
    [bad] = rejected(batches)
    assert "nothing identifies anyone" in bad.reason and bad.location == f"{path}:2"
    assert len(observations(batches)) == 1


def test_an_id_longer_than_the_model_allows_is_rejected_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("ref,email\n" + "r" * 600 + ",a@example.com\n2,b@example.com\n", "utf-8")
    batches = read(path, mapping={"email": "person.emails"}, id_column="ref")
    [bad] = rejected(batches)
    assert bad.reason.startswith("invalid record: external_id")
    assert [o.external_id for o in observations(batches)] == ["2"]


def test_a_rejected_payload_is_truncated_to_64_kib(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(HEADER + ",,," + "n" * 200_000 + "\n", encoding="utf-8")
    [bad] = rejected(read(path))
    assert len(bad.payload) == PAYLOAD_LIMIT


def test_malformed_rows_in_a_preamble_do_not_stop_header_search(tmp_path: Path) -> None:
    path = tmp_path / "Connections.csv"
    path.write_text(
        'Notes:\n"a stray quote"x\n\n'
        "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
        "Theo,Grant,https://www.linkedin.com/in/theogrant,,,,14 Mar 2025\n",
        encoding="utf-8",
    )
    batches = read(path)
    assert len(observations(batches)) == 1 and rejected(batches) == []


def test_an_excel_workbook_is_rejected_with_a_hint_to_save_as_csv(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"PK\x03\x04" + os.urandom(2048))
    [only] = rejected(read(path))
    assert "Excel .xlsx" in only.reason and "save it as CSV" in only.reason


def test_a_quote_left_open_until_the_end_swallows_the_rest_and_ends_no_snapshot(
    tmp_path: Path,
) -> None:
    path = tmp_path / "open.csv"
    rows = "".join(f"P{n},Q,p{n}@example.com,note\n" for n in range(30_000))
    path.write_text(
        HEADER + 'Ada,Lovelace,ada@example.com,"never closed\n' + rows, encoding="utf-8"
    )
    batches = read(path, max_field_bytes=64 * 1024)
    # Nothing tells a quote left open from a long quoted note: the rest of the file is one
    # cell running into the end of the file, and no line inside it becomes a contact.
    assert observations(batches) == []
    [tail] = rejected(batches)
    assert "ends inside a quoted field" in tail.reason and "line 2" in tail.reason
    assert tail.location == f"{path}:2"
    assert batches[-1].snapshot_end is None


def test_an_oversized_cell_holding_lines_like_rows_ends_no_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "stray.csv"
    rows = "".join(f"P{n},Q,p{n}@example.com,note\n" for n in range(30_000))
    path.write_text(
        HEADER
        + 'Ada,Lovelace,ada@example.com,"opened here\n'
        + rows
        + 'Bob,Ray,bob@example.com,"closed" here\n'
        + "Cy,Day,cy@example.com,after\n",
        encoding="utf-8",
    )
    batches = read(path, max_field_bytes=64 * 1024)
    [bad] = rejected(batches)
    assert "larger than max_field_bytes" in bad.reason and "quote left open" in bad.reason
    assert [o.person.given_name for o in observations(batches) if o.person] == ["Cy"]
    # The rows swallowed were not read: deleting them would be wrong.
    assert batches[-1].snapshot_end is None


ADDRESS_HEADER = (
    "First Name,Last Name,E-mail Address,Notes,Home Street,Home Postal Code,Home City,"
    "Home Country/Region\n"
)


def test_a_ten_megabyte_multiline_cell_before_a_multiline_address_makes_no_phantom_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as stream:
        stream.write(ADDRESS_HEADER)
        stream.write('Big,Cell,big@example.com,"' + ("x" * 1023 + "\n") * 10240 + '",,,,\n')
        stream.write(
            'Paul,Moreau,paul@example.com,,"27 rue du Faubourg Saint-Antoine\n75011 Paris\n'
            'France",75011,Paris,France\n'
        )
        stream.write("Ada,Lovelace,ada@example.com,after,,,London,United Kingdom\n")
    batches = read(path)
    [bad] = rejected(batches)
    assert bad.location == f"{path}:2"
    assert bad.reason == "cell 'Notes' is larger than max_field_bytes (1048576 bytes)"
    obs = observations(batches)
    assert [o.person.given_name for o in obs if o.person] == ["Paul", "Ada"]
    paul = person(obs, "Paul Moreau")
    assert paul.address is not None
    assert paul.address.street == "27 rue du Faubourg Saint-Antoine\n75011 Paris\nFrance"
    assert obs[0].raw["Home City"] == "Paris" and obs[1].raw["Notes"] == "after"
    assert batches[-1].snapshot_end is not None  # the file was complete


def test_a_file_cut_outside_a_quote_rejects_its_short_last_row_and_ends_no_snapshot(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cut.csv"
    path.write_text(
        "First Name,Last Name,E-mail Address,Company,Job Title\n"
        "Ada,Lovelace,ada@example.com,Analytical,Engineer\n"
        "Zoe,Martin,zoe@example.com,Orange",  # "Orange Bleue,Designer" was cut off
        encoding="utf-8",
    )
    batches = read(path)
    assert [o.person.given_name for o in observations(batches) if o.person] == ["Ada"]
    [tail] = rejected(batches)
    assert tail.reason == "the row has 4 cells, the header has 5"
    assert tail.location == f"{path}:3"
    assert batches[-1].scope is not None and batches[-1].snapshot_end is None


def test_a_short_row_mid_file_is_rejected_and_blank_rows_are_skipped_silently(
    tmp_path: Path,
) -> None:
    path = tmp_path / "short.csv"
    path.write_text(
        HEADER + "Ada,Lovelace\n,,,\n\nBob,Ray,bob@example.com,ok\n", encoding="utf-8"
    )
    batches = read(path)
    [bad] = rejected(batches)
    assert bad.reason == "the row has 2 cells, the header has 4" and bad.location == f"{path}:2"
    assert [o.person.given_name for o in observations(batches) if o.person] == ["Bob"]
    assert batches[-1].snapshot_end is not None  # the last row is whole: the file is too


def test_allow_short_rows_accepts_rows_that_omit_trailing_empty_cells(tmp_path: Path) -> None:
    path = tmp_path / "hand.csv"
    path.write_text(HEADER + "Ada,Lovelace\nBob,Ray,bob@example.com\n", encoding="utf-8")
    batches = read(path, allow_short_rows=True)
    assert rejected(batches) == []
    assert [o.person.given_name for o in observations(batches) if o.person] == ["Ada", "Bob"]
    assert batches[-1].snapshot_end is not None
