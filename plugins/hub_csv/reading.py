"""Reading contact text files: fingerprint, encoding and delimiter detection, records.

Encoding, in order: a byte-order mark decides (UTF-8, UTF-16 LE/BE); else the file is
UTF-8 when all of it decodes strictly (checked during the hashing pass, so it costs no
extra read); else charset-normalizer's best guess among cp1252, latin-1 and UTF-16 on a
sample around the first non-UTF-8 byte; else cp1252. A forced encoding is used as given.
When the whole file was not proven to decode, each record is checked and an undecodable
one is rejected on its own.

Delimiter: ``csv.Sniffer`` on the head of the file restricted to ``, ; TAB |``, falling back
to counting which candidate appears the same number of times on most lines. Excel's
``sep=;`` first line is honoured.

Records stream from an ``io.TextIOWrapper`` through ``csv.reader`` (quoted newlines work);
each carries its first line number and its raw text for the quarantine. The csv module
parses cells far larger than ``max_field_bytes`` (see :func:`parse_limit`), so a record with
an oversized cell ends where it really ends and the next record is read from its true start;
rejecting the oversized row is the reader's job.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import charset_normalizer

HEAD_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
_CHUNK = 1024 * 1024
_PARSE_LIMIT = 64 * 1024 * 1024  # characters: see parse_limit
_TEXT_KEPT = 1024 * 1024  # characters of a record's raw text kept (quarantine payloads)
_GUESSABLE = {
    "cp1252": "cp1252",
    "latin_1": "latin-1",
    "utf_16_le": "utf-16-le",
    "utf_16_be": "utf-16-be",
}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SEP_LINE = re.compile(r"^sep=(.)\s*$", re.IGNORECASE)
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
_UNDECODED = re.compile(r"[\udc80-\udcff\ufffd]")
_SINGLE_BYTE = frozenset({"cp1252", "iso8859-1", "iso8859-15", "cp1250", "cp850"})


@dataclass(frozen=True)
class Fingerprint:
    """What one full pass over a file learns: its hash, and whether its text decodes."""

    sha256: str
    size: int
    bom_codec: str | None  # the codec a byte-order mark names
    decodes: bool  # the whole file decodes with bom_codec, or UTF-8 without a BOM
    first_bad_offset: int | None  # where UTF-8 decoding failed


@dataclass(frozen=True)
class TextEncoding:
    codec: str
    verified: bool  # every byte of the file decodes: records need no check
    errors: str  # the decoding error handler that keeps bad bytes visible

    def undecodable(self, text: str) -> bool:
        """Whether a record read with this encoding holds bytes it could not decode."""
        return not self.verified and _UNDECODED.search(text) is not None

    @property
    def may_mix_utf8(self) -> bool:
        """Whether rows may be UTF-8 inside a file read with a single-byte codepage (a file
        that mixes the two: one export appended to another)."""
        return not self.verified and codecs.lookup(self.codec).name in _SINGLE_BYTE

    def utf8_inside(self, text: str) -> str:
        """``text`` decoded again as UTF-8 when its bytes are UTF-8 ("HÃ©lÃ¨ne" read as
        cp1252 is "Hélène"); else as it was. Text in the codepage itself almost never forms
        valid UTF-8 sequences, so this does not touch it."""
        if text.isascii():
            return text
        try:
            return text.encode(self.codec, "surrogateescape").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return text


def bom_codec(head: bytes) -> str | None:
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    return None


def fingerprint(path: Path) -> Fingerprint:
    """Hash the file and check that its text decodes, in one streaming pass."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        head = stream.read(_CHUNK)
        codec = bom_codec(head)
        decoder = codecs.getincrementaldecoder(codec or "utf-8")("strict")
        decodes = True
        bad_offset: int | None = None
        chunk = head
        while chunk:
            digest.update(chunk)
            if decodes:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    decodes = False
                    bad_offset = size + exc.start
            size += len(chunk)
            chunk = stream.read(_CHUNK)
        if decodes:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                decodes = False
                bad_offset = size
    return Fingerprint(digest.hexdigest(), size, codec, decodes, bad_offset)


def _guess(sample: bytes) -> str:
    match = charset_normalizer.from_bytes(sample, cp_isolation=list(_GUESSABLE)).best()
    if match is not None and match.encoding in _GUESSABLE:
        return _GUESSABLE[match.encoding]
    return "cp1252"


def _bomless_utf16(head: bytes) -> str | None:
    """UTF-16 without a BOM shows as NUL bytes on every other position."""
    pairs = len(head) // 2
    if pairs < 8:
        return None
    even = head[0 : pairs * 2 : 2].count(0)
    odd = head[1 : pairs * 2 : 2].count(0)
    if odd > 0.3 * pairs and even < 0.05 * pairs:
        return "utf-16-le"
    if even > 0.3 * pairs and odd < 0.05 * pairs:
        return "utf-16-be"
    return None


def choose_encoding(path: Path, fp: Fingerprint, head: bytes, forced: str | None) -> TextEncoding:
    """The codec to read ``path`` with (see the module docstring for the order)."""
    if forced is not None:
        codec = forced
        if codecs.lookup(forced).name == "utf-8" and fp.bom_codec == "utf-8-sig":
            codec = "utf-8-sig"
        same = (
            fp.bom_codec is not None
            and codecs.lookup(codec).name == codecs.lookup(fp.bom_codec).name
        )
        plain_utf8 = fp.bom_codec is None and codecs.lookup(codec).name == "utf-8"
        return _encoding(codec, verified=fp.decodes and (same or plain_utf8))
    if fp.bom_codec is not None:
        return _encoding(fp.bom_codec, verified=fp.decodes)
    if fp.decodes:
        return _encoding("utf-8", verified=True)
    utf16 = _bomless_utf16(head)
    if utf16 is not None:
        return _encoding(utf16, verified=False)
    sample = head
    if fp.first_bad_offset is not None and fp.first_bad_offset >= len(head):
        with path.open("rb") as stream:
            stream.seek(max(0, fp.first_bad_offset - 4096))
            sample = head[:16384] + b"\n" + stream.read(HEAD_BYTES)
    return _encoding(_guess(sample), verified=False)


def _encoding(codec: str, verified: bool) -> TextEncoding:
    # surrogateescape keeps undecodable bytes recoverable for the quarantine; the UTF-16
    # codecs cannot escape a lone byte, so they mark bad input with U+FFFD instead.
    errors = "replace" if codecs.lookup(codec).name.startswith("utf-16") else "surrogateescape"
    return TextEncoding(codec, verified, errors)


def decode_head(head: bytes, encoding: TextEncoding) -> str:
    """The head of the file as text (a character cut at the end of the sample is dropped)."""
    decoder = codecs.getincrementaldecoder(encoding.codec)(encoding.errors)
    return decoder.decode(head, final=False)


def looks_binary(text: str) -> bool:
    """Not a text export: a first line (the header) with control characters or undecodable
    bytes beyond a trace, or most lines damaged. A text file with a damaged line or two
    is read: those rows go to quarantine, the others are stored."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return False

    def damaged(line: str) -> bool:
        return len(_BAD_CHARS.findall(line)) > max(2, len(line) // 100)

    return damaged(lines[0]) or 2 * sum(map(damaged, lines)) > len(lines)


def sniff_delimiter(head_text: str) -> str:
    """The delimiter of a delimited text, from its first lines (module docstring)."""
    lines = head_text.splitlines()
    if lines and (sep := _SEP_LINE.match(lines[0])):
        return sep.group(1)
    if len(head_text) == HEAD_BYTES or len(lines) > 1:
        lines = lines[:-1] if len(lines) > 1 else lines  # the last line may be cut short
    region = "\n".join(lines[:60])
    try:
        found = csv.Sniffer().sniff(region, delimiters=DELIMITERS).delimiter
    except csv.Error:
        found = ""
    if found and found in DELIMITERS:
        return found
    return _count_delimiter(lines[:60])


def _count_delimiter(lines: list[str]) -> str:
    best, best_score = ",", 0
    for candidate in DELIMITERS:
        counts = Counter(line.count(candidate) for line in lines if line.strip())
        modal = [(n, count) for count, n in counts.most_common() if count > 0]
        score = modal[0][0] if modal else 0
        if score > best_score:
            best, best_score = candidate, score
    return best


@dataclass(frozen=True)
class Record:
    """One CSV record: the line it starts on, its cells (``None`` if malformed), its text."""

    line: int
    cells: list[str] | None
    text: str  # the raw text; only its first _TEXT_KEPT characters when ``clipped``
    error: str | None = None
    truncated: bool = False  # the file ends inside this record's open quote
    lines: int = 1  # physical lines the record spans
    clipped: bool = False


def parse_limit(field_limit: int) -> int:
    """The cell size, in characters, at which the csv module gives up on a record.

    Far above ``max_field_bytes`` (which the reader checks per cell) so that an oversized
    cell is parsed whole and the record after it starts at its true beginning; bounded all
    the same, because a quote left open makes one cell of the rest of the file, and the csv
    module holds a cell in memory (four bytes a character). Past this bound the reader
    resumes at the next physical line, which may lie inside a quoted cell: the file is then
    not taken as the whole truth.
    """
    return max(_PARSE_LIMIT, 16 * field_limit)


class _Consumed:
    """The text of the record being read, as ``csv.reader`` pulls its lines."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.parts: list[str] = []
        self.size = 0
        self.clipped = False
        self.eof = False  # the reader asked for a line past the end of the file

    def take(self) -> tuple[str, bool]:
        """The text of the record just read, and whether it was clipped; then start anew."""
        text, clipped = "".join(self.parts), self.clipped
        self.parts.clear()
        self.size, self.clipped = 0, False
        return text, clipped


def _lines(stream: TextIO, consumed: _Consumed) -> Iterator[str]:
    parts, keep = consumed.parts, consumed.keep
    for line in stream:
        size = consumed.size
        if size + len(line) <= keep:
            parts.append(line)
        else:
            consumed.clipped = True
            if size < keep:
                parts.append(line[: keep - size])
        consumed.size = size + len(line)
        yield line
    consumed.eof = True


def read_records(stream: TextIO, delimiter: str, field_limit: int) -> Iterator[Record]:
    """Stream the records of ``stream``; a malformed one is yielded with its error.

    ``csv.field_size_limit`` is process-wide state: it is raised (never lowered, which
    other readers in the process may rely on) to :func:`parse_limit` of this file's limit.

    A record the csv module had to finish at the end of the file is one that ends inside
    an open quote (csv.reader only asks for a line past a record's last one when the record
    is not over): it is yielded as ``truncated``, without cells.
    """
    csv.field_size_limit(max(csv.field_size_limit(), parse_limit(field_limit)))
    lines = _Consumed(_TEXT_KEPT)
    reader = csv.reader(
        _lines(stream, lines), delimiter=delimiter, quotechar='"', doublequote=True
    )
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            text, clipped = lines.take()
            span = reader.line_num - start + 1
            yield Record(start, None, text, str(exc), lines=span, clipped=clipped)
        else:
            text, clipped = lines.take()
            span = reader.line_num - start + 1
            if lines.eof:
                error = "the file ends inside a quoted field"
                yield Record(start, None, text, error, True, span, clipped)
            else:
                yield Record(start, cells, text, lines=span, clipped=clipped)
        start = reader.line_num + 1
