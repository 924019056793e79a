"""Encodings and delimiters are detected, not assumed; quoted newlines survive."""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.plugins.hub_csv.support import observations, read, rejected

HEADER = ["First Name", "Last Name", "E-mail Address", "Mobile Phone", "Company", "Notes"]
ROWS = [
    ["Hélène", "Dupré", "helene@example.fr", "+33 6 00 00 00 01", "Crème & Cie", "one\ntwo"],
    ["Zoë", "Œuvray", "zoe@example.fr", "", "Société Générale", "€ 100; \"quoted\""],
    ["Bruno", "Lefèvre", "", "01 45 67 89 10", "", ""],
]


def render(delimiter: str, rows: list[list[str]] = ROWS, header: list[str] = HEADER) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def comparable(path: Path, **settings: Any) -> list[tuple[str, Any, Any]]:
    """What a file gives, its name left out of the content keys (they name the file)."""
    batches = read(path, **settings)
    assert rejected(batches) == []
    own = f"k:{path.name}:"
    return [
        (o.external_id.replace(own, "k:", 1), o.person, o.raw) for o in observations(batches)
    ]


def test_utf8_bom_utf16le_tabs_and_cp1252_semicolons_give_identical_observations(
    tmp_path: Path,
) -> None:
    variants = {
        "utf8bom.csv": codecs.BOM_UTF8 + render(",").encode("utf-8"),
        "utf16.txt": codecs.BOM_UTF16_LE + render("\t").encode("utf-16-le"),
        "ansi.csv": render(";").encode("cp1252"),
        "plain.csv": render("|").encode("utf-8"),
        "utf16be.txt": codecs.BOM_UTF16_BE + render(",").encode("utf-16-be"),
    }
    results = {}
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        results[name] = comparable(tmp_path / name)
    reference = results.pop("utf8bom.csv")
    assert len(reference) == 3
    assert reference[1][1].company.name == "Société Générale"
    for name, result in results.items():
        assert result == reference, name


def test_utf16_without_a_bom_is_recognised_by_its_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "nobom.txt"
    path.write_bytes(render("\t").encode("utf-16-le"))
    (tmp_path / "ref.csv").write_text(render(","), encoding="utf-8")
    assert comparable(path) == comparable(tmp_path / "ref.csv")


def test_cp1252_detection_looks_past_an_ascii_head(tmp_path: Path) -> None:
    filler = [[f"P{n}", "Ascii", f"p{n}@example.com", "", "", ""] for n in range(3000)]
    path = tmp_path / "late.csv"
    path.write_bytes(render(";", filler + ROWS).encode("cp1252"))
    obs = observations(read(path))
    assert len(obs) == 3003
    assert obs[-2].person is not None and obs[-2].person.family_name == "Œuvray"


def test_a_file_mixing_utf8_and_cp1252_rows_reads_each_row_right(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    text = render(",", ROWS[:1] + ROWS[2:])
    head, first, last = text.split("\r\n", 2)  # header, Hélène's row (one line), the rest
    path.write_bytes(head.encode() + b"\r\n" + first.encode("utf-8") + b"\r\n"
                     + last.encode("cp1252"))
    batches = read(path)
    assert rejected(batches) == []
    names = [(o.person.given_name, o.person.family_name) for o in observations(batches)
             if o.person]
    assert names == [("Hélène", "Dupré"), ("Bruno", "Lefèvre")]


def test_a_row_a_forced_encoding_cannot_read_says_the_setting_forces_it(
        tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(render(",").encode("cp1252"))
    [first, *_] = rejected(read(path, encoding="utf-8"))
    assert "the `encoding` setting forces utf-8: check it" in first.reason
    assert "detected" not in first.reason


def test_forced_encoding_and_delimiter_are_used_as_given(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes(render("|").encode("cp1252"))
    (tmp_path / "ref.csv").write_text(render(","), encoding="utf-8")
    forced = comparable(path, encoding="cp1252", delimiter="|")
    assert forced == comparable(tmp_path / "ref.csv")


def test_quoted_newlines_stay_in_the_cell_and_line_numbers_count_physical_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        'First Name,Last Name,E-mail Address,Notes\n'
        'Ada,Lovelace,ada@example.com,"first\nsecond\nthird"\n'
        ',,,"only a note"\n',
        encoding="utf-8",
    )
    batches = read(path)
    [ada] = observations(batches)
    assert ada.person is not None and ada.person.custom["notes"] == "first\nsecond\nthird"
    [bad] = rejected(batches)
    assert bad.location == f"{path}:5"


def test_excel_sep_line_names_the_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("sep=;\n" + render(";"), encoding="utf-8")
    (tmp_path / "ref.csv").write_text(render(","), encoding="utf-8")
    assert comparable(path) == comparable(tmp_path / "ref.csv")


def test_a_delimiter_inside_quoted_cells_does_not_fool_detection(tmp_path: Path) -> None:
    rows = [[f"N{n}", "X", f"n{n}@example.com", "", "A, B, C, D", "x,y,z"] for n in range(5)]
    path = tmp_path / "c.csv"
    path.write_text(render(";", rows), encoding="utf-8")
    obs = observations(read(path))
    assert len(obs) == 5 and obs[0].person is not None
    assert obs[0].person.company is not None and obs[0].person.company.name == "A, B, C, D"


_CELL = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(list(',;|\t"\n\r\'')),
    max_size=12,
)
_NAME = st.text(st.characters(whitelist_categories=("L",)), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.tuples(_NAME, _CELL, _CELL), min_size=1, max_size=6),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
)
def test_any_cell_text_round_trips_into_raw_whatever_the_encoding(
    rows: list[tuple[str, str, str]], encoding: str, delimiter: str
) -> None:
    header = ["name", "email", "note"]
    text = render(delimiter, [list(r) for r in rows], header)
    mapping = {"name": "person.full_name", "email": "person.emails", "note": "person.custom.note"}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.csv"
        path.write_bytes(text.encode(encoding))
        batches = read(path, mapping=mapping, delimiter=delimiter)
    assert rejected(batches) == []
    raws = [o.raw for o in observations(batches)]
    expected = [
        {k: v for k, v in zip(header, row, strict=True) if v.strip()} for row in rows
    ]
    assert raws == expected
