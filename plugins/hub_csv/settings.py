"""The ``[connectors.settings]`` tables of the ``csv``, ``vcard`` and ``activities`` kinds.

Relative paths are joined to the ``base_dir`` the config loader passes in the validation
context (the directory of the TOML file that names them), so a config means the same
thing whatever the daemon's working directory is.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hub.connectors import ConnectorSettings
from hub.records import Channel, Direction
from hub.routing.calendar import zone
from hub_csv.activity_fields import check_target
from hub_csv.mapping import parse_target
from hub_csv.presets import fold_header

Preset = Literal["auto", "google", "google_legacy", "outlook", "linkedin", "generic"]
DateOrderSetting = Literal["auto", "dmy", "mdy", "ymd"]


def _resolve(path: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir") if isinstance(info.context, dict) else None
    if base is not None and not path.is_absolute():
        return Path(base) / path
    return path


def _checked(mapping: dict[str, str], parse: Callable[[str], object]) -> dict[str, str]:
    """``mapping`` whose every target ``parse`` accepts; else the first refusal, keyed."""
    for column, target in mapping.items():
        try:
            parse(target)
        except ValueError as exc:
            raise ValueError(f"mapping[{column!r}]: {exc}") from None
    return mapping


class FileSettings(ConnectorSettings):
    """What every contact-file kind shares: where the files are and how they are read."""

    paths: list[Path] = Field(
        default_factory=list, description="files or glob patterns, each the full truth"
    )
    folder: Path | None = Field(
        default=None, description="drop folder: read each new file once, then move to done/"
    )
    mode: Literal["snapshot", "append"] = "snapshot"
    max_delete_ratio: float = Field(default=0.2, ge=0.0, le=1.0)
    encoding: str | None = Field(default=None, description="force an encoding (else detect)")
    batch_size: int = Field(default=1000, ge=1)
    settle_seconds: float = Field(
        default=2.0, ge=0.0, description="a drop-folder file modified this recently is skipped"
    )
    max_field_bytes: int = Field(default=1024 * 1024, ge=1024)
    default_region: str | None = None

    @field_validator("paths", mode="after")
    @classmethod
    def _resolve_paths(cls, value: list[Path], info: ValidationInfo) -> list[Path]:
        return [_resolve(path, info) for path in value]

    @field_validator("folder", mode="after")
    @classmethod
    def _resolve_folder(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            codecs.lookup(value)
            "".encode(value)  # refuses bytes-to-bytes codecs such as base64
        except LookupError:
            raise ValueError(
                f"{value!r} is not a known text encoding; try utf-8, utf-8-sig, utf-16, "
                "cp1252 or latin-1"
            ) from None
        return value

    @model_validator(mode="after")
    def _something_to_read(self) -> FileSettings:
        if not self.paths and self.folder is None:
            raise ValueError("set `paths` (files or glob patterns) and/or `folder` (a drop folder)")
        return self


class DelimitedSettings(FileSettings):
    """What the delimited-text kinds (``csv``, ``activities``) add: how rows are cut.

    ``allow_short_rows``: a data row with fewer cells than the header is rejected ("the
    row has N cells, the header has M"), because that is what a file cut short outside a
    quote looks like, and a file whose last row is short ends no snapshot. Set it for
    hand-made CSVs that leave out trailing empty cells. Blank rows are always skipped.
    """

    delimiter: str | None = Field(default=None, description="force a delimiter (else detect)")
    id_column: str | None = Field(default=None, description="the column holding the source id")
    allow_short_rows: bool = Field(
        default=False, description="accept rows with fewer cells than the header"
    )

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.lower() in ("tab", "\\t"):
            return "\t"
        if len(value) != 1:
            raise ValueError('a delimiter is one character, e.g. ";" or "\\t" (or "tab")')
        return value


class CsvSettings(DelimitedSettings):
    """Settings of the ``csv`` kind: CSV/TSV exports, plus vCard files by extension.

    * ``mapping`` (the generic preset) never marks a primary e-mail or phone: a mapped
      column carries a value and optionally a label (``person.phones.mobile``), nothing
      says which value is preferred, so every value has ``primary = false`` and the core's
      own rules choose. (The presets mark what their exports mark: Google's ``* `` label
      prefix, Outlook's first e-mail and ``Primary Phone``.)
    * ``date_order`` (``dmy``, ``mdy``, ``ymd``): the order of the birthday's parts; the
      birthday is rewritten as ISO ``YYYY-MM-DD`` (``--MM-DD`` without a year), and a value
      that is not a date in that order is passed on as written for the core to flag.
      ``auto`` is ``mdy`` for the Outlook preset (Outlook exports US-style ``M/D/YYYY``)
      and leaves the others as written (Google writes ISO already; the core reads other
      ambiguous dates day first). vCard ``BDAY`` is ISO by the standard and never rewritten.
    """

    preset: Preset = "auto"
    mapping: dict[str, str] = Field(
        default_factory=dict, description="generic mapping: column name -> Observation field"
    )
    date_order: DateOrderSetting = Field(
        default="auto", description="birthday order: auto (mdy for Outlook), dmy, mdy, ymd"
    )

    @field_validator("mapping")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        return _checked(value, parse_target)

    @model_validator(mode="after")
    def _mapping_needs_generic(self) -> CsvSettings:
        if self.mapping and self.preset not in ("auto", "generic"):
            raise ValueError(
                f'`mapping` applies to preset "generic" (or "auto"), not {self.preset!r}; '
                "remove the mapping or the preset"
            )
        if self.preset == "generic" and not self.mapping:
            raise ValueError('preset "generic" needs a `mapping` of columns to fields')
        return self

    @property
    def effective_preset(self) -> Preset:
        """``auto`` with a mapping means the generic mapping."""
        if self.preset == "auto" and self.mapping:
            return "generic"
        return self.preset


class ActivitySettings(DelimitedSettings):
    """Settings of the ``activities`` kind: an activity history, one interaction per row.

    Without ``mapping`` the columns are found by their usual names (``Date``, ``Type``,
    ``Direction``, ``Duration``, ``Subject``, ``Notes``, ``Email``, ``Phone``, ``Name``...);
    ``mapping`` names them instead (column -> ``occurred_at``, ``channel``,
    ``participants.email``...). A file of one kind of activity (a call log) sets
    ``channel``; ``direction`` is what a row without one is (``outbound``: activities the
    team logged). ``channels`` and ``directions`` add the file's own words, e.g.
    ``channels = { "Lunch" = "meeting" }``. A date and time without an offset is in
    ``timezone``.
    """

    mapping: dict[str, str] = Field(
        default_factory=dict, description="column name -> occurred_at, channel, direction, ..."
    )
    channel: Channel | None = Field(
        default=None, description="the channel of rows that name none (a call log: call)"
    )
    direction: Direction = Field(
        default="outbound", description="the direction of rows that name none"
    )
    channels: dict[str, Channel] = Field(
        default_factory=dict, description="the file's words for channels, e.g. Appel = call"
    )
    directions: dict[str, Direction] = Field(
        default_factory=dict, description="the file's words for directions"
    )
    timezone: str = Field(default="UTC", description="the zone of times without an offset")
    date_order: DateOrderSetting = Field(
        default="auto", description="auto (ISO 8601, else day first), dmy, mdy or ymd"
    )
    duration_unit: Literal["auto", "seconds", "minutes"] = Field(
        default="auto",
        description="unit of a bare number; auto: minutes when the column's name says so",
    )

    @field_validator("mapping")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        _checked(value, check_target)
        if value:
            targets = {target.strip() for target in value.values()}
            if "occurred_at" not in targets:
                raise ValueError("the mapping needs a column for `occurred_at` (the date)")
            if not targets & {"participants.email", "participants.phone"}:
                raise ValueError(
                    "the mapping needs a `participants.email` or `participants.phone` "
                    "column: an activity is linked to contacts by their e-mail or phone"
                )
        return value

    @field_validator("channels", "directions", mode="after")
    @classmethod
    def _folded(cls, value: dict[str, str]) -> dict[str, str]:
        return {fold_header(word): meaning for word, meaning in value.items()}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)  # an unknown name: a ValueError saying what to write
        return value
