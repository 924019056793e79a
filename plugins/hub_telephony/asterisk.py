"""The ``asterisk_cdr`` kind: Asterisk's call detail records (cdr_csv, ``Master.csv``).

The file has no header; each line is one call, strings double-quoted (a quote doubled),
16 to 18 columns::

    accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata,
    start, answer, end, duration, billsec, disposition, amaflags[, uniqueid[, userfield]]

Dates are ``%Y-%m-%d %H:%M:%S`` in the PBX's local time (``timezone``; ``utc = true``
when Asterisk runs with ``usegmtime=yes``). ``disposition`` ANSWERED, NO ANSWER, BUSY,
FAILED or CONGESTION becomes the status ``answered``, ``missed``, ``busy`` or ``failed``;
the duration is ``billsec`` (the time talked).

**Following the file.** The cursor is the file's inode and the offset after the last
complete line read. Asterisk appends, and logrotate renames the file and starts a new one:
when the inode changed, the rest of the old file is read first (found by its inode among
the rotated files beside it, ``Master.csv.1``, ``Master.csv-20260301``...), then the new
file from its start, so no line is read twice or skipped. A last line without its newline
is being written: it is left for the next run. A file shorter than the offset was
truncated in place (``copytruncate``): it is read from its start.

**Who called whom.** A number in ``extensions`` (extension -> owner id), or any number of
at most ``extension_digits`` digits, is one of ours. A call from an extension to an outside
number is outbound (its agent: that extension), from outside to us inbound (the agent is
the extension that answered, from ``dstchannel`` such as ``PJSIP/201-0000002a``, else
``dst``); a call between two extensions is internal and skipped. The outside party is
linked to its contact by number; an unknown one becomes a lead or stays unlinked
(``unknown_callers``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from hub.connectors import (
    Batch,
    CheckResult,
    Connector,
    ConnectorSettings,
    Rejected,
    RetriableError,
)
from hub.records import Observation
from hub.routing.calendar import zone
from hub_telephony.calls import call_observation

COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
           "lastapp", "lastdata", "start", "answer", "end", "duration", "billsec",
           "disposition", "amaflags", "uniqueid", "userfield")
STATUS = {"ANSWERED": "answered", "NO ANSWER": "missed", "BUSY": "busy", "FAILED": "failed",
          "CONGESTION": "failed"}
_CHANNEL = re.compile(r"^[A-Za-z0-9]+/([^-@/]+)")  # PJSIP/201-0000002a -> 201


class AsteriskSettings(ConnectorSettings):
    path: Path = Field(description="Master.csv, as cdr_csv writes it")
    extensions: dict[str, str] = Field(default_factory=dict,
                                       description="extension -> owner id")
    extension_digits: int = Field(default=4, ge=1, le=8,
                                  description="a number this short is an extension")
    timezone: str = Field(default="UTC", description="the PBX's local time zone")
    utc: bool = Field(default=False, description="Asterisk runs with usegmtime=yes")
    unknown_callers: Literal["lead", "ignore"] = "lead"
    batch_size: int = Field(default=500, ge=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)  # an unknown name: a ValueError saying what to write
        return value


class AsteriskCdrConnector(Connector):
    """Calls from Asterisk's cdr-csv log, followed across rotations."""

    kind: ClassVar[str] = "asterisk_cdr"
    Settings: ClassVar[type[ConnectorSettings]] = AsteriskSettings
    channels: ClassVar[frozenset[str]] = frozenset({"call"})

    @property
    def options(self) -> AsteriskSettings:
        return self.settings  # type: ignore[return-value]

    @property
    def can_reread(self) -> bool:
        return False  # rotated files go away: what was read cannot be read again

    # -- following the file --------------------------------------------------------------

    def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        path = self.options.path
        try:
            current = path.stat()
        except FileNotFoundError:
            raise RetriableError(f"{path}: no such file (is cdr_csv loaded?)") from None
        state = {} if full else dict(cursor or {})
        inode, offset = state.get("inode"), int(state.get("offset", 0))
        if inode is not None and inode != current.st_ino:
            rotated = self._rotated(path, int(inode))
            if rotated is None:
                self.log.warning("%s was rotated and its previous file (inode %s) is gone; "
                                 "lines written after offset %d were not read", path,
                                 inode, offset)
            else:
                yield from self._read(rotated, int(inode), offset, final=True)
            offset = 0
        elif offset > current.st_size:
            self.log.warning("%s is shorter than what was read (truncated in place); "
                             "reading it from the start", path)
            offset = 0
        yield from self._read(path, current.st_ino, offset, final=False)

    @staticmethod
    def _rotated(path: Path, inode: int) -> Path | None:
        """The rotated file that still has ``inode`` (logrotate renames, never copies)."""
        for sibling in sorted(path.parent.glob(path.name + "*")):
            if sibling != path and not sibling.name.endswith((".gz", ".bz2", ".xz", ".zst")):
                try:
                    if sibling.stat().st_ino == inode:
                        return sibling
                except FileNotFoundError:
                    continue
        return None

    def _read(self, path: Path, inode: int, offset: int, *, final: bool) -> Iterator[Batch]:
        """Complete lines of ``path`` from ``offset``, a batch per ``batch_size`` lines,
        each batch's cursor the offset after its last line. A rotated file (``final``) is
        read to its end and its last batch moves the cursor to the new file's start (a
        line it left unfinished will never be finished: it is dropped, with a warning)."""
        chunks = self._chunks(path, offset)
        pending = next(chunks, None)
        while pending is not None:
            lines, position = pending
            pending = next(chunks, None)
            last = pending is None
            cursor = {"inode": inode, "offset": position}
            if final and last:
                cursor = {"inode": self.options.path.stat().st_ino, "offset": 0}
                if position < path.stat().st_size:
                    self.log.warning("%s: an unfinished last line was left behind at the "
                                     "rotation (offset %d)", path, position)
            if lines or cursor["offset"] != offset or final:
                yield self._batch(path, lines, cursor)

    def _chunks(self, path: Path, offset: int) -> Iterator[tuple[list[tuple[int, bytes]], int]]:
        """Up to ``batch_size`` complete lines at a time (with the offset where each ends),
        and the offset after them; at least one (possibly empty) chunk."""
        size = self.options.batch_size
        with path.open("rb") as stream:
            stream.seek(offset)
            chunk: list[tuple[int, bytes]] = []
            position = offset
            for line in stream:
                if not line.endswith(b"\n"):
                    break  # being written: the next run reads it whole
                position += len(line)
                chunk.append((position, line))
                if len(chunk) >= size:
                    yield chunk, position
                    chunk = []
            yield chunk, position

    def _batch(self, path: Path, lines: list[tuple[int, bytes]],
               cursor: dict[str, Any]) -> Batch:
        batch = Batch(cursor=cursor)
        for end, line in lines:
            try:
                observation = self._call(line)
            except ValueError as exc:
                batch.rejected.append(Rejected(
                    reason=str(exc), payload=line.decode("utf-8", "backslashreplace"),
                    location=f"{path}:@{end - len(line)}"))
                continue
            if observation is not None:
                batch.observations.append(observation)
        return batch

    # -- one line ------------------------------------------------------------------------

    def _call(self, line: bytes) -> Observation | None:
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        try:
            [cells] = list(csv.reader(io.StringIO(text)))
        except (csv.Error, ValueError):
            raise ValueError("not a CSV line") from None
        if not 16 <= len(cells) <= 18:
            raise ValueError(f"{len(cells)} columns; a cdr-csv line has 16 to 18")
        row = dict(zip(COLUMNS, cells, strict=False))
        src, dst = row["src"].strip(), row["dst"].strip()
        ours_src, ours_dst = self._ours(src), self._ours(dst)
        if ours_src and ours_dst:
            return None  # internal: nobody outside to link
        inbound = not ours_src
        agent = (self._extension(row["dstchannel"]) or (dst if ours_dst else None)) \
            if inbound else (self._extension(row["channel"]) or src)
        status = STATUS.get(row["disposition"].strip().upper())
        if status is None:
            raise ValueError(f"disposition {row['disposition']!r} is not ANSWERED, NO ANSWER, "
                             "BUSY, FAILED or CONGESTION")
        started = self._time(row["start"])
        call_id = row.get("uniqueid", "").strip() or "cdr:" + hashlib.sha1(
            "|".join((row["start"], src, dst, row["channel"])).encode()).hexdigest()[:20]
        billsec = row["billsec"].strip()
        return call_observation(
            call_id=call_id, started_at=started, direction="inbound" if inbound else "outbound",
            external=src if inbound else dst, line=None, agent=agent,
            duration_s=int(billsec) if billsec.isdigit() else None, status=status,
            observed_at=self.context.clock(),
            create_contacts=self.options.unknown_callers == "lead",
            raw={name: value for name, value in row.items() if value})

    def _ours(self, number: str) -> bool:
        digits = "".join(ch for ch in number if ch.isdigit())
        return number in self.options.extensions or \
            (bool(digits) and len(digits) <= self.options.extension_digits)

    def _extension(self, channel: str) -> str | None:
        found = _CHANNEL.match(channel.strip())
        if found is None:
            return None
        name = found.group(1)
        return name if self._ours(name) else None

    def _time(self, value: str) -> datetime:
        try:
            naive = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ValueError(f"start {value!r} is not YYYY-MM-DD HH:MM:SS") from None
        zone = UTC if self.options.utc else ZoneInfo(self.options.timezone)
        return naive.replace(tzinfo=zone).astimezone(UTC)

    def check(self) -> CheckResult:
        path = self.options.path
        if not path.is_file():
            return CheckResult(ok=False, message=f"{path}: no such file")
        if not os.access(path, os.R_OK):
            return CheckResult(ok=False, message=f"{path}: not readable")
        return CheckResult(ok=True, message=f"{path}: {path.stat().st_size} bytes")
