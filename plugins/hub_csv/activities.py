"""The ``activities`` kind: an activity history (calls, meetings, e-mails exported from a
legacy CRM or a phone system), one interaction per row.

Each row becomes an ``interaction`` observation whose participants are the row's e-mails
and phones; the core links each participant to the contact with that address or number
(or records someone new), so ``[[activity]]`` scoring points and ``on = "interaction"``
transitions fire for a team whose history lives in files. Files are read like contact
files: cursor per file, drop folder, snapshot mode (an activity no longer in the file is
deleted), rejected rows quarantined with their reason and line.

A row without an id gets a content key from its time, channel, direction, participants
and subject (see :class:`ContentKeys`), so re-reading the file gives the same ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from hub.connectors import ConnectorSettings, Rejected
from hub.records import Observation, first_error
from hub_csv import activity_fields as fields
from hub_csv.connector import ContactFilesConnector
from hub_csv.csv_file import HEADER_SEARCH, CsvFile, Layout
from hub_csv.external_ids import ContentKeys
from hub_csv.files import FileJob
from hub_csv.person import RowContext, payload_text
from hub_csv.presets import Columns, cell, fold_header
from hub_csv.reading import Fingerprint, Record
from hub_csv.settings import ActivitySettings
from hub_csv.source import SourceFile


@dataclass
class ActivityCells:
    """The cells of one row, by target (each target's non-empty text)."""

    found: dict[str, str] = field(default_factory=dict)

    def get(self, target: str) -> str:
        return self.found.get(target, "")


def _extractor(positions: dict[str, int]) -> Callable[[Sequence[str]], ActivityCells]:
    def extract(cells: Sequence[str]) -> ActivityCells:
        row = ActivityCells()
        for target, position in positions.items():
            value = cell(cells, position)
            if value:
                row.found[target] = value
        return row

    return extract


class ActivityFile(CsvFile):
    """One activity-history file: the CSV reading of :class:`CsvFile`, rows built as
    interactions."""

    settings: ActivitySettings  # type: ignore[assignment]
    _minutes = False  # a bare duration is minutes (the setting, or the column's name)

    def _header(self, records: Iterator[Record], head_text: str) -> Layout | Rejected:
        for _, record in zip(range(HEADER_SEARCH), records, strict=False):
            cells = record.cells
            if cells is None or not "".join(cells).strip():
                continue
            positions = self._positions(cells)
            if positions is None:
                continue
            if self.settings.id_column:
                id_position = Columns(cells).find(self.settings.id_column)
                if id_position is None:
                    return self.reject_file(
                        f"id_column {self.settings.id_column!r} is not a column of the header",
                        ",".join(cells),
                    )
                positions["external_id"] = id_position
            self._minutes = self._duration_in_minutes(cells, positions)
            return Layout(cells, _extractor(positions), positions.get("external_id"), None)
        if self.settings.mapping:
            wanted = ", ".join(repr(name) for name in self.settings.mapping)
            reason = (
                f"no header row names the mapping's date and participant columns ({wanted}) "
                f"in the first {HEADER_SEARCH} records"
            )
        else:
            reason = (
                "no activity-history header: a row naming a date column (Date, Timestamp, "
                "Start time...) and an e-mail or phone column (Email, Phone...) was not found; "
                "for another layout set `mapping` (column -> occurred_at, "
                "participants.email...)"
            )
        return self.reject_file(reason, head_text[:4096])

    def _positions(self, header: list[str]) -> dict[str, int] | None:
        """Each target's column, when ``header`` is this file's header row."""
        if self.settings.mapping:
            columns = Columns(header)
            positions: dict[str, int] = {}
            for name, target in self.settings.mapping.items():
                position = columns.find(name)
                if position is not None:
                    positions.setdefault(target.strip(), position)
        else:
            positions = fields.find_columns(header)
        people = positions.keys() & {"participants.email", "participants.phone"}
        return positions if "occurred_at" in positions and people else None

    def _duration_in_minutes(self, header: list[str], positions: dict[str, int]) -> bool:
        unit = self.settings.duration_unit
        if unit != "auto":
            return unit == "minutes"
        position = positions.get("duration")
        return position is not None and "min" in fold_header(header[position])

    def _build(
        self,
        cells: list[str],
        layout: Layout,
        context: RowContext,
        keys: ContentKeys,
        emit: bool,
    ) -> Observation | Rejected | None:
        row: ActivityCells = layout.extract(cells)
        given_id = cell(cells, layout.id_position)
        try:
            interaction = self._interaction(row)
        except ValueError as exc:
            return self._rejection(context, str(exc), given_id or None)
        external_id = given_id or keys.key_for_text(_content_text(interaction))
        if not emit:
            return None
        try:
            return Observation.model_validate({
                "kind": "interaction", "external_id": external_id,
                "observed_at": self.observed_at, "raw": layout.raw(cells),
                "interaction": interaction})
        except ValidationError as exc:
            return self._rejection(context, f"invalid record: {first_error(exc)}",
                                   external_id[:512])

    def _interaction(self, row: ActivityCells) -> dict[str, Any]:
        """The interaction of one row; ``ValueError`` says why the row cannot be one."""
        settings = self.settings
        when = row.get("occurred_at")
        if not when:
            raise ValueError("the row has no date: an activity needs the time it happened")
        if row.get("time"):
            when = f"{when} {row.get('time')}"
        occurred_at = fields.moment(when, settings.date_order, ZoneInfo(settings.timezone))
        channel = self._channel(row.get("channel"))
        direction = settings.direction
        if row.get("direction"):
            named = fields.word(row.get("direction"), settings.directions,
                                fields.DIRECTION_WORDS)
            if named is None:
                raise ValueError(
                    f"{row.get('direction')!r} is not a direction (inbound, outbound, "
                    "internal); name the file's words in `directions`, e.g. "
                    f'directions = {{ "{row.get("direction")}" = "inbound" }}'
                )
            direction = cast(Any, named)
        inbound = direction == "inbound"
        participants = self._participants(row, "from" if inbound else "to")
        if not participants:
            raise ValueError(
                "no participant's e-mail or phone: the activity cannot be linked to a contact"
            )
        agent = {key: row.get(f"agent.{key}") for key in ("email", "phone")}
        if any(agent.values()):
            participants.append({**{k: v for k, v in agent.items() if v},
                                 "role": "to" if inbound else "from"})
        duration = row.get("duration")
        return {
            "channel": channel, "direction": direction, "occurred_at": occurred_at,
            "subject": row.get("subject") or None, "summary": row.get("summary") or None,
            "status": row.get("status") or None, "participants": participants,
            "duration_s": fields.seconds(duration, self._minutes) if duration else None,
        }

    def _channel(self, text: str) -> str:
        settings = self.settings
        if not text:
            if settings.channel is None:
                raise ValueError(
                    "the row names no channel: map a channel column, or set `channel` for a "
                    "file of one kind of activity (e.g. channel = \"call\")"
                )
            return settings.channel
        named = fields.word(text, settings.channels, fields.CHANNEL_WORDS)
        if named is None:
            raise ValueError(
                f"{text!r} is not a known activity type ({', '.join(fields.CHANNELS)}); name "
                f'the file\'s words in `channels`, e.g. channels = {{ "{text}" = "meeting" }}'
            )
        return named

    @staticmethod
    def _participants(row: ActivityCells, role: str) -> list[dict[str, str]]:
        """One participant per e-mail, then per phone; names are paired in order when
        there are as many names as addresses (or one of each)."""
        emails = fields.values(row.get("participants.email"))
        phones = fields.values(row.get("participants.phone"), phones=True)
        names = fields.values(row.get("participants.name"), phones=True)
        people = [{"email": e} for e in emails] or [{"phone": p} for p in phones]
        if emails and len(phones) == len(emails):
            for person, phone in zip(people, phones, strict=True):
                person["phone"] = phone
        elif emails:
            people += [{"phone": p} for p in phones]
        if names and len(names) == len(people):
            for person, name in zip(people, names, strict=True):
                person["name"] = name
        return [{**person, "role": role} for person in people]

    @staticmethod
    def _rejection(context: RowContext, reason: str, external_id: str | None) -> Rejected:
        return Rejected(reason=reason, payload=payload_text(context.text),
                        external_id=external_id, location=context.location)


def _content_text(interaction: dict[str, Any]) -> str:
    """What a row without an id is known by: the same activity re-exported gets the same
    key, two activities differ in at least one of these."""
    people = sorted(
        p.get("email", "").lower() + "|" + "".join(c for c in p.get("phone", "") if c.isdigit())
        for p in interaction["participants"])
    return "|".join([interaction["occurred_at"].isoformat(), interaction["channel"],
                     interaction["direction"], *people, interaction["subject"] or ""])


class ActivitiesConnector(ContactFilesConnector):
    """Activity histories: calls, meetings, e-mails, one interaction per row."""

    kind: ClassVar[str] = "activities"
    Settings: ClassVar[type[ConnectorSettings]] = ActivitySettings
    channels: ClassVar[frozenset[str]] = frozenset(fields.CHANNELS)

    @classmethod
    def channels_brought(cls, settings: ConnectorSettings) -> frozenset[str]:
        """Any channel a row names; only ``channel`` when the mapping maps no channel
        column (a call log)."""
        options = cast(ActivitySettings, settings)
        mapped = set(options.mapping.values())
        if options.channel is not None and options.mapping and "channel" not in mapped:
            return frozenset({options.channel})
        return cls.channels

    def reader(self, job: FileJob, fp: Fingerprint, mtime_ns: int) -> SourceFile:
        settings = cast(ActivitySettings, self.settings)
        return ActivityFile(job.path, job.key, settings, fp, mtime_ns, self.log,
                            dropped=job.dropped)
