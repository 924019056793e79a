"""Reading one CSV/TSV export: find the header, then turn each row into an observation.

The header is the first record (within the first 100) that a preset recognises, or that
names a column of the generic mapping; whatever comes before it (LinkedIn's ``Notes:``
preamble, Excel's ``sep=;``) is skipped. Rows of empty cells are skipped silently. A row
that cannot become an observation is rejected with its reason and line, and the rest of
the file goes on. Among the reasons:

* more non-empty cells than the header has columns;
* fewer cells than the header (unless ``allow_short_rows``): a file cut short outside a
  quote ends so, and when the *last* row is short the file is not the whole truth (no
  snapshot end);
* a cell larger than ``max_field_bytes``; parsing goes on at the true next record. When
  the oversized cell holds lines that look like rows, it is most likely a quote left open
  that swallowed them, and the file is not the whole truth either;
* the file ending inside a quoted field (a truncated export, or a quote left open).

A birthday is rewritten as ISO when the date order is known (``date_order``; Outlook's
``auto`` is month first): see :mod:`hub_csv.dates`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

from hub.connectors import Rejected
from hub.records import Observation
from hub_csv import mapping, presets
from hub_csv.dates import DateOrder, iso_birthday
from hub_csv.external_ids import ContentKeys
from hub_csv.person import (
    Item,
    RowContext,
    build_observation,
    payload_text,
    unidentifiable,
)
from hub_csv.presets import cell
from hub_csv.reading import Record, TextEncoding, parse_limit, read_records, sniff_delimiter
from hub_csv.settings import CsvSettings
from hub_csv.source import SourceFile

HEADER_SEARCH = 100  # records looked at for the header
SWALLOWED_ROWS = 2  # lines shaped like rows inside an oversized cell: a quote left open


def unique_names(header: Sequence[str]) -> list[str]:
    """Header names fit for dict keys: blanks named by position, repeats numbered."""
    names: list[str] = []
    seen: set[str] = set()
    for position, name in enumerate(header):
        base = name.replace("\ufeff", "").strip() or f"column {position + 1}"
        candidate, n = base, 1
        while candidate in seen:
            n += 1
            candidate = f"{base} ({n})"
        seen.add(candidate)
        names.append(candidate)
    return names


class CsvFile(SourceFile):
    """One delimited text file read with ``CsvSettings``."""

    settings: CsvSettings
    delimiter: str = ","  # the detected (or forced) delimiter, once the file is opened

    def items(self, skip: int) -> Generator[Item, None, None]:
        with self.path.open("rb") as stream:
            opened = self.open_checks(stream)
        if isinstance(opened, Rejected):
            yield 0, opened
            return
        encoding = opened.encoding
        delimiter = self.settings.delimiter or sniff_delimiter(opened.head_text)
        self.delimiter = delimiter
        with self.path.open(
            "r", encoding=encoding.codec, errors=encoding.errors, newline=""
        ) as text:
            records = read_records(text, delimiter, self.settings.max_field_bytes)
            layout = self._header(records, opened.head_text)
            if isinstance(layout, Rejected):
                yield 0, layout
                return
            yield from self._rows(records, layout, encoding, skip)

    def _header(self, records: Iterator[Record], head_text: str) -> Layout | Rejected:
        preset = self.settings.effective_preset
        for _, record in zip(range(HEADER_SEARCH), records, strict=False):
            cells = record.cells
            if cells is None or not "".join(cells).strip():
                continue
            if preset == "generic":
                if mapping.matches(cells, self.settings.mapping, self.settings.id_column):
                    return self._generic_layout(cells)
                continue
            detected = presets.detect(cells)
            if detected is None:
                continue
            google_family = {detected, preset} <= {"google", "google_legacy"}
            if preset in ("auto", detected) or google_family:
                return self._preset_layout(detected, cells)
        if preset == "generic":
            wanted = ", ".join(repr(name) for name in self.settings.mapping)
            reason = (
                f"no header row names any column of the mapping ({wanted}) in the first "
                f"{HEADER_SEARCH} records"
            )
        elif preset == "auto":
            reason = (
                "no recognisable header: not a Google, Outlook or LinkedIn export; for "
                "another layout set `mapping` (column -> field) in the connector settings"
            )
        else:
            reason = f"no {preset} export header in the first {HEADER_SEARCH} records"
        return self.reject_file(reason, head_text[:4096])

    def _preset_layout(self, preset: str, header: list[str]) -> Layout | Rejected:
        id_position = None
        if self.settings.id_column:
            id_position = presets.Columns(header).find(self.settings.id_column)
            if id_position is None:
                return self.reject_file(
                    f"id_column {self.settings.id_column!r} is not a column of the header",
                    ",".join(header),
                )
        self.log.debug("%s: %s export", self.name, preset)
        return Layout(
            header, presets.extractor(preset, header), id_position, self._date_order(preset)
        )

    def _generic_layout(self, header: list[str]) -> Layout | Rejected:
        bound = mapping.resolve(header, self.settings.mapping, self.settings.id_column)
        if self.settings.id_column and bound.id_position is None:
            return self.reject_file(
                f"id_column {self.settings.id_column!r} is not a column of the header",
                ",".join(header),
            )
        if bound.missing:
            self.log.warning(
                "%s: mapped columns not in the header: %s", self.name, ", ".join(bound.missing)
            )
        return Layout(header, bound.extract, bound.id_position, self._date_order("generic"))

    def _date_order(self, preset: str) -> DateOrder | None:
        """The birthday order of this file: the setting, else Outlook's month first."""
        order = self.settings.date_order
        if order != "auto":
            return order
        return "mdy" if preset == "outlook" else None

    def _rows(
        self, records: Iterator[Record], layout: Layout, encoding: TextEncoding, skip: int
    ) -> Iterator[Item]:
        keys = ContentKeys(self.key_scope)
        rows = 0
        short_tail = False  # the last row that is not blank has fewer cells than the header
        for record in records:
            rows += 1
            result = self._row(record, layout, encoding, keys, emit=rows > skip)
            cells = record.cells
            if cells is not None and "".join(cells).strip():
                short_tail = self._short(cells, layout)
            if result is not None and rows > skip:
                yield rows, result
        self.rows = rows
        if short_tail:
            # A file cut short outside a quote ends in a short row: whatever came after it
            # is missing, so the file is not the whole truth.
            self.complete = False

    def _short(self, cells: list[str], layout: Layout) -> bool:
        return len(cells) < len(layout.names) and not self.settings.allow_short_rows

    def _row(
        self,
        record: Record,
        layout: Layout,
        encoding: TextEncoding,
        keys: ContentKeys,
        emit: bool,
    ) -> Observation | Rejected | None:
        context = RowContext(f"{self.name}:{record.line}", record.text)
        cells = record.cells
        if cells is None:
            if record.truncated or record.lines > 1:
                # The file ends in an open quote, or a cell ran over several lines past
                # the parse limit (most likely a quote left open): the rows swallowed
                # were not read, so the file is not the whole truth.
                self.complete = False
            return self._reject(context, self._csv_reason(record))
        if not "".join(cells).strip():
            return None
        width = len(layout.names)
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            return self._reject(
                context, f"the row has {len(cells)} cells but the header has {width} columns"
            )
        if self._short(cells, layout):
            return self._reject(context, f"the row has {len(cells)} cells, the header has {width}")
        limit = self.settings.max_field_bytes
        if max(map(len, cells)) > limit // 4:
            for position, value in enumerate(cells):
                if len(value.encode("utf-8", "surrogateescape")) > limit:
                    name = layout.names[position] if position < width else f"cell {position + 1}"
                    return self._reject(context, self._oversized(record, name, value, width))
        if encoding.may_mix_utf8:  # a UTF-8 row in a codepage file: read it as UTF-8
            cells = [encoding.utf8_inside(value) for value in cells]
            undecodable = any(map(encoding.undecodable, cells))
        else:
            undecodable = encoding.undecodable(record.text) or (
                record.clipped and any(map(encoding.undecodable, cells))
            )
        if undecodable:
            advice = (f"the `encoding` setting forces {encoding.codec}: check it"
                      if self.settings.encoding else
                      "set `encoding` if the detected one is wrong")
            return self._reject(
                context, f"the row holds bytes that are not {encoding.codec} ({advice})")
        return self._build(cells, layout, context, keys, emit)

    def _build(
        self, cells: list[str], layout: Layout, context: RowContext, keys: ContentKeys, emit: bool
    ) -> Observation | Rejected | None:
        """The observation of one well-formed row (``None`` when ``emit`` is false: a row
        before the resume point still takes its content key, so repeats number alike)."""
        person = layout.extract(cells)
        if layout.date_order is not None and person.birthday:
            person.birthday = iso_birthday(
                person.birthday, layout.date_order, self.observed_at.year
            )
        given_id = cell(cells, layout.id_position)
        if not person.identifies():
            return unidentifiable(context, given_id or None)
        external_id = given_id or keys.key_for(person)
        if external_id is None:  # e.g. a phone cell without a digit was all it had
            return unidentifiable(context)
        if not emit:
            return None
        return build_observation(
            person, external_id, self.observed_at, layout.raw(cells), context
        )

    def _oversized(self, record: Record, name: str, value: str, width: int) -> str:
        """Why a row with an oversized cell is rejected; a cell that swallowed rows (a quote
        left open, closed again by a later stray quote) also means the file is cut short."""
        limit = self.settings.max_field_bytes
        reason = f"cell {name!r} is larger than max_field_bytes ({limit} bytes)"
        if width < 2 or ("\n" not in value and "\r" not in value):
            return reason
        rowlike = (
            line for line in value.splitlines() if line.count(self.delimiter) >= width - 1
        )
        if sum(1 for _ in zip(range(SWALLOWED_ROWS), rowlike, strict=False)) < SWALLOWED_ROWS:
            return reason
        self.complete = False
        return (
            f"{reason} and holds lines shaped like rows: most likely a quote left open on "
            f"line {record.line}, which swallowed the {record.lines - 1} lines after it (they "
            "were not read, so nothing is deleted on account of this file)"
        )

    def _csv_reason(self, record: Record) -> str:
        error = record.error or "unreadable row"
        if record.truncated:
            return (
                f"the file ends inside a quoted field opened on line {record.line} (a "
                "truncated export, or a quote left open); the rows before it were read, "
                f"the {record.lines} line(s) from there on were not"
            )
        if "field larger than field limit" in error:
            limit = parse_limit(self.settings.max_field_bytes)
            return (
                f"a cell is larger than {limit} characters: most likely a quote left open; "
                "the file is not taken as the whole truth"
            )
        return f"malformed CSV: {error}"

    @staticmethod
    def _reject(context: RowContext, reason: str) -> Rejected:
        return Rejected(
            reason=reason, payload=payload_text(context.text), location=context.location
        )


class Layout:
    """A found header and how to read the rows under it."""

    def __init__(
        self,
        header: list[str],
        extract: Callable[[Sequence[str]], Any],
        id_position: int | None,
        date_order: DateOrder | None,
    ) -> None:
        self.names = unique_names(header)
        self.extract = extract
        self.id_position = id_position
        self.date_order = date_order

    def raw(self, cells: list[str]) -> dict[str, str]:
        """The row as the source wrote it, by column name (empty cells left out)."""
        return {
            name: value
            for name, value in zip(self.names, cells, strict=False)
            if value and not value.isspace()
        }
