"""Reading one CSV/TSV export: find the header, then turn each row into an observation.

The header is the first record (within the first 100) that a preset recognises, or that
names a column of the generic mapping; whatever comes before it (LinkedIn's ``Notes:``
preamble, Excel's ``sep=;``) is skipped. Rows of empty cells are skipped silently. A row
that cannot become an observation is rejected with its reason and line, and the rest of
the file goes on.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence

from hub.connectors import Rejected
from hub.records import Observation
from hub_csv import mapping, presets
from hub_csv.external_ids import ContentKeys
from hub_csv.person import (
    Item,
    RowContext,
    build_observation,
    payload_text,
    unidentifiable,
)
from hub_csv.presets import Extract, cell
from hub_csv.reading import Record, TextEncoding, read_records, sniff_delimiter
from hub_csv.settings import CsvSettings
from hub_csv.source import SourceFile

HEADER_SEARCH = 100  # records looked at for the header


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

    def items(self, skip: int) -> Generator[Item, None, None]:
        with self.path.open("rb") as stream:
            opened = self.open_checks(stream)
        if isinstance(opened, Rejected):
            yield 0, opened
            return
        encoding = opened.encoding
        delimiter = self.settings.delimiter or sniff_delimiter(opened.head_text)
        with self.path.open(
            "r", encoding=encoding.codec, errors=encoding.errors, newline=""
        ) as text:
            records = read_records(text, delimiter, self.settings.max_field_bytes)
            layout = self._header(records, opened.head_text)
            if isinstance(layout, Rejected):
                yield 0, layout
                return
            yield from self._rows(records, layout, encoding, skip)

    def _header(self, records: Iterator[Record], head_text: str) -> _Layout | Rejected:
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

    def _preset_layout(self, preset: str, header: list[str]) -> _Layout | Rejected:
        id_position = None
        if self.settings.id_column:
            id_position = presets.Columns(header).find(self.settings.id_column)
            if id_position is None:
                return self.reject_file(
                    f"id_column {self.settings.id_column!r} is not a column of the header",
                    ",".join(header),
                )
        self.log.debug("%s: %s export", self.name, preset)
        return _Layout(header, presets.extractor(preset, header), id_position)

    def _generic_layout(self, header: list[str]) -> _Layout | Rejected:
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
        return _Layout(header, bound.extract, bound.id_position)

    def _rows(
        self, records: Iterator[Record], layout: _Layout, encoding: TextEncoding, skip: int
    ) -> Iterator[Item]:
        keys = ContentKeys()
        rows = 0
        for record in records:
            rows += 1
            result = self._row(record, layout, encoding, keys, emit=rows > skip)
            if result is not None and rows > skip:
                yield rows, result
        self.rows = rows

    def _row(
        self,
        record: Record,
        layout: _Layout,
        encoding: TextEncoding,
        keys: ContentKeys,
        emit: bool,
    ) -> Observation | Rejected | None:
        context = RowContext(f"{self.name}:{record.line}", record.text)
        cells = record.cells
        if cells is None:
            if record.truncated or record.text.count("\n") > 1:
                # The file ends in an open quote, or a cell ran over several lines
                # past the size limit (most likely a quote left open): the rows
                # swallowed were not read, so the file is not the whole truth.
                self.complete = False
            return self._reject(context, self._csv_reason(record))
        if not "".join(cells).strip():
            return None
        width = len(layout.names)
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            return self._reject(
                context, f"the row has {len(cells)} cells but the header has {width} columns"
            )
        limit = self.settings.max_field_bytes
        if max(map(len, cells)) > limit // 4:
            for position, value in enumerate(cells):
                if len(value.encode("utf-8", "surrogateescape")) > limit:
                    name = layout.names[position] if position < width else f"cell {position + 1}"
                    return self._reject(
                        context, f"cell {name!r} is larger than max_field_bytes ({limit} bytes)"
                    )
        if encoding.undecodable(record.text):
            return self._reject(
                context,
                f"the row holds bytes that are not {encoding.codec} (set `encoding` if the "
                "detected one is wrong)",
            )
        person = layout.extract(cells)
        given_id = cell(cells, layout.id_position)
        if not person.identifies():
            return unidentifiable(context, given_id or None)
        external_id = given_id or keys.key_for(person)
        if external_id is None:  # e.g. a phone cell without a digit was all it had
            return unidentifiable(context)
        if not emit:
            return None
        raw = {
            name: value
            for name, value in zip(layout.names, cells, strict=False)
            if value and not value.isspace()
        }
        return build_observation(person, external_id, self.observed_at, raw, context)

    def _csv_reason(self, record: Record) -> str:
        error = record.error or "unreadable row"
        if record.truncated:
            return (
                "the file ends inside a quoted field (a truncated export?); the rows "
                "before this one were read"
            )
        if "field larger than field limit" in error:
            return (
                f"a cell is larger than max_field_bytes ({self.settings.max_field_bytes} "
                "bytes), or a quote was left open"
            )
        return f"malformed CSV: {error}"

    @staticmethod
    def _reject(context: RowContext, reason: str) -> Rejected:
        return Rejected(
            reason=reason, payload=payload_text(context.text), location=context.location
        )


class _Layout:
    """A found header and how to read the rows under it."""

    def __init__(self, header: list[str], extract: Extract, id_position: int | None) -> None:
        self.names = unique_names(header)
        self.extract = extract
        self.id_position = id_position
