"""One contact file being read: what every format checks first, and what a reader yields.

A reader yields :data:`~hub_csv.person.Item` pairs ``(rows consumed, result)``; ``rows``
counts the file's data records (a CSV row after the header, a vCard) whatever became of
them, so a cursor can say "skip this many" after a crash. A file that cannot be read at
all yields one :class:`Rejected` and is marked ``rejected``.
"""

from __future__ import annotations

import codecs
import logging
from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from hub.connectors import Rejected
from hub_csv.person import Item, payload_text
from hub_csv.reading import (
    HEAD_BYTES,
    Fingerprint,
    TextEncoding,
    choose_encoding,
    decode_head,
    looks_binary,
)
from hub_csv.settings import FileSettings

_WORKBOOKS = (
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx or LibreOffice .ods workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 .xls workbook"),
)

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


def mtime_utc(mtime_ns: int) -> datetime:
    """A file's modification time, exactly (no float rounding), in UTC."""
    seconds, nanos = divmod(mtime_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=nanos // 1000)


@dataclass(frozen=True)
class Opened:
    """A file that passed the first checks: how to decode it, and its decoded head."""

    encoding: TextEncoding
    head_text: str


class SourceFile(ABC):
    """Base of the per-format readers; ``name`` is the path as shown in locations."""

    def __init__(
        self,
        path: Path,
        name: str,
        settings: FileSettings,
        fp: Fingerprint,
        mtime_ns: int,
        log: Logger,
        *,
        dropped: bool = False,
    ) -> None:
        self.path = path
        self.name = name
        self.settings = settings
        self.fp = fp
        self.observed_at = mtime_utc(mtime_ns)
        self.log = log
        self.complete = True  # False: the file is cut short, it is not the full truth
        self.rejected = False  # True: nothing could be read from the file
        self.rows = 0
        # Content keys name the file (see hub_csv.external_ids), except in a drop folder,
        # whose files are successive deliveries of one feed.
        self.key_scope: str | None = None if dropped else path.name

    @abstractmethod
    def items(self, skip: int) -> Generator[Item, None, None]:
        """Observations and rejections, after the first ``skip`` data records."""

    def reject_file(self, reason: str, text: str = "") -> Rejected:
        """The one rejection of a file nothing can be read from (logged as a warning)."""
        self.rejected = True
        self.complete = False
        self.log.warning("%s: %s", self.name, reason)
        return Rejected(reason=reason, payload=payload_text(text[:4096]), location=self.name)

    def open_checks(self, stream: BinaryIO) -> Opened | Rejected:
        """The encoding and decoded head of the file, or the file's rejection."""
        head = stream.read(HEAD_BYTES)
        body = head
        for bom in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            if body.startswith(bom):
                body = body[len(bom) :]
                break
        if not body.strip(b"\x00 \t\r\n"):
            return self.reject_file("the file is empty")
        for magic, kind in _WORKBOOKS:
            if head.startswith(magic):
                return self.reject_file(
                    f"this is {kind}, not a text export: save it as CSV (UTF-8) first"
                )
        encoding = choose_encoding(self.path, self.fp, head, self.settings.encoding)
        text = decode_head(head, encoding)
        if looks_binary(text):
            return self.reject_file(
                "the file is not text (control characters or undecodable bytes in its "
                f"first {len(head)} bytes read as {encoding.codec}): not a contact export",
                text.encode("ascii", "backslashreplace").decode("ascii")[:1024],
            )
        return Opened(encoding, text)
