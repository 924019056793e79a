"""Logging for the daemon: one JSON object per line, with personal data and secrets masked.

The journal (or any log shipper) gets ``{"ts", "level", "logger", "msg", ...extra, "exc"}``
lines; a terminal can ask for plain text instead. Both go through the same masking step,
because logs travel further than the database: e-mail addresses and phone numbers are
partly hidden and every registered secret value is replaced by ``***``, in the message,
its arguments, the extra fields and the traceback alike.

Phone rule (chosen to leave timestamps, durations and ids alone): a run of digits with
optional ``+``, spaces, dots, dashes and parentheses, holding at least 8 digits, is masked
when it starts with ``+`` or ``0``, or holds at least 9 digits and a separator. It is left
alone when glued to a word (``12345678-aaaa``, ``id_0612345678``), when it is a date
(``2026-11-22``), an IPv4 address, a decimal number (``0.123456789``) or a digits-only
UUID. So ``+33 6 12 34 56 10`` becomes ``+336******10`` and ``took 123456789 ms`` stays.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import IO, Any

__all__ = [
    "ContextAdapter",
    "Masker",
    "add_secret",
    "configure_logging",
    "get_logger",
    "mask_text",
]

MIN_SECRET_LENGTH = 4

# -- masking --------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])([A-Za-z0-9_%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
)
# A candidate phone: not glued to a word before or after (directly or through one of - . /).
_PHONE = re.compile(
    r"(?<!\w)(?<!\w[-./])"
    r"(?:\+|\()?\d[\d \u00a0().-]*\d"
    r"(?!\w)(?![-./]\w)"
)
_DATE_PREFIX = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_UUID_DIGITS = re.compile(r"\d{8}-\d{4}-\d{4}-\d{4}-\d{12}")
_DECIMAL = re.compile(r"\d+\.\d+")


def _mask_email(match: re.Match[str]) -> str:
    return f"{match.group(1)}***@{match.group(2)}"


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group()
    date = _DATE_PREFIX.match(text)
    if date:
        # Keep the date, but a phone number may follow it in the same run.
        return text[: date.end()] + _PHONE.sub(_mask_phone, text[date.end() :])
    if _IPV4.fullmatch(text) or _UUID_DIGITS.fullmatch(text) or _DECIMAL.fullmatch(text):
        return text
    digits = re.sub(r"\D", "", text)
    if len(digits) < 8:
        return text
    plus = text.startswith("+")
    leading = plus or digits.startswith("0")
    separated = len(digits) != len(text)
    if not leading and not (len(digits) >= 9 and separated):
        return text
    return ("+" if plus else "") + digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


class Masker:
    """Replaces secrets by ``***`` and, when ``pii`` is set, masks e-mails and phones.

    Secrets go first, so a secret made of digits is not half-masked as a phone number.
    """

    def __init__(self, *, pii: bool = True, secrets: Iterable[str] = ()) -> None:
        self.pii = pii
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, value: str) -> None:
        """Mask ``value`` from now on (ignored when shorter than 4 characters)."""
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value in self._secrets:
                return
            self._secrets.add(value)
            # Longest first, so a secret containing another is replaced whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub("***", text)
        if self.pii:
            text = _EMAIL.sub(_mask_email, text)
            text = _PHONE.sub(_mask_phone, text)
        return text

    def mask_value(self, value: Any) -> Any:
        """Mask every string inside ``value`` (dicts, lists and tuples are walked)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {k: self.mask_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.mask_value(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self(str(value))


# The process-wide masker: secrets resolved after start-up are added to it.
_masker = Masker()


def add_secret(value: str) -> None:
    """Register a secret value resolved at run time; it is replaced by ``***`` in logs."""
    _masker.add_secret(value)


def mask_text(text: str) -> str:
    """``text`` as the configured log handler would write it (for other outputs, e.g. CLI)."""
    return _masker(text)


# -- formatting -----------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS}


def _timestamp(record: logging.LogRecord) -> str:
    when = datetime.fromtimestamp(record.created, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, extra fields, exc."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": self.masker(record.getMessage()),
        }
        for key, value in _extra_fields(record).items():
            if key not in entry:
                entry[key] = self.masker.mask_value(value)
        if record.exc_info:
            entry["exc"] = self.masker(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = self.masker(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.masker(self.formatStack(record.stack_info))
        return jsonlib.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger: msg key=value ...`` and the traceback, for a terminal."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        extra = _extra_fields(record)
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return self.masker(line)


class _CrmhubHandler(logging.StreamHandler[IO[str]]):
    """Marks the handler configure_logging owns, so a reconfiguration replaces it."""


def configure_logging(
    level: str = "INFO",
    *,
    json: bool = True,
    mask_pii: bool = True,
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> None:
    """Install crmhub's single log handler on the root logger (replacing a previous one).

    Other handlers (pytest's capture, for one) are left in place. Secrets accumulate
    across calls: a value once masked stays masked after a reload.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    _masker.pii = mask_pii
    for secret in secrets:
        _masker.add_secret(secret)
    handler = _CrmhubHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(_masker) if json else TextFormatter(_masker))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CrmhubHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)


# -- context --------------------------------------------------------------------------------


class ContextAdapter(logging.LoggerAdapter[logging.Logger]):
    """A LoggerAdapter whose bound fields merge with (not replace) a call's ``extra``."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs

    def bind(self, **context: Any) -> ContextAdapter:
        """A new adapter with ``context`` added to the fields already bound."""
        return ContextAdapter(self.logger, {**(self.extra or {}), **context})


def get_logger(name: str, **context: Any) -> ContextAdapter:
    """A logger that adds ``context`` (e.g. ``connector="gmail-sales"``) to every record."""
    return ContextAdapter(logging.getLogger(name), context)
