"""Logging for the daemon: one JSON object per line, with personal data and secrets masked.

The journal (or any log shipper) gets ``{"ts", "level", "logger", "msg", ...extra, "exc"}``
lines; a terminal can ask for plain text instead. Both go through the same masking step,
because logs travel further than the database: e-mail addresses and phone numbers are
partly hidden and every registered secret value is replaced by ``***``, in the message,
its arguments, the extra fields and the traceback alike.

Secrets: a value is registered (:func:`add_secret`) when it is resolved, by
:meth:`hub.secrets.SecretRef.resolve`, which every resolution goes through (config
load, a connector's or a sink's ``context.resolve_secret`` at run time, the database
URL), before the value is returned; so a ``{ file = ... }`` secret rotated on disk is
masked from the run that first reads the new value. The registry is the one piece of
process-wide state in this module: it only grows (a rotated-out value stays masked) and
is shared by the installed handler's masker, :func:`describe_error` and
:func:`mask_text`. Whether personal data is masked is the handler's own setting, not a
global one.

Phone rule (chosen to leave timestamps, durations and ids alone): a run of digits with
optional ``+``, spaces, dots, dashes and parentheses, holding at least 8 digits, is a
phone number when

* it starts with ``+`` or ``0`` (``+33 6 12 34 56 10``, ``0612345678``);
* or it holds at least 9 digits and a separator (``612 345 678``);
* or it is a bare run of 9 to 15 digits (the length of an E.164 number), a national
  number without its leading 0 or an international one without its ``+``
  (``612345678``, ``33612345678``, ``4915198765432``), except a compact ISO 8601
  date-time (``20261122154835``, ``202611221548``) and a Unix time in seconds or
  milliseconds (10 or 13 digits starting with 1: ``1732290515``, 2001 to 2033).

A number of the last two kinds followed by a unit (``ms``, ``s``, ``min``, ``bytes``,
``KiB``, ``rows``, ``records``...) is a quantity and is left alone (``took 123456789 ms``).
Any run is left alone when glued to a word (``12345678-aaaa``, ``id_0612345678``,
``export-612345678.csv``), except through ``.``, ``-`` or ``/`` to a phone label
(``Tel.0612345678``, ``Mob-33612345678``: tel, tél, phone, ph, mob, mobile, fax, gsm,
cell, handy, port), and when it is a date (``2026-11-22``), an IPv4 address, a decimal
number (``0.123456789``) or a digits-only UUID. A masked number keeps its ``+``, first
three and last two digits: ``+33 6 12 34 56 10`` becomes ``+336******10``, ``612345678``
``612****78``. An extension written after the number (``x123``, ``ext. 12``,
``poste 12``, ``;ext=5``, ``#12``) is taken with it and its digits are starred too. So an
id of 9 to 15 digits written alone (``contact 123456789``) is masked: the price of not
leaking a phone number written without separators.

E-mail rule: a local part and a domain of Unicode letters, digits and combining marks
(plus ``._%+-`` in the local part and ``-`` in domain labels), ending in a dot and a
top-level domain of at least two letters or a ``xn--`` punycode label. So
``zoé@mercier-traiteur.fr`` becomes ``z***@mercier-traiteur.fr``, while ``@decorator``,
``user@``, ``a@b`` and ``pkg@1.2.3`` stay.

Database errors: SQLAlchemy puts the bound values of a failed statement in its message
(``[parameters: ...]``); that block is dropped from every masked text, whatever ``pii``
says. :func:`describe_error` gives the one-line, personal-data-free summary of an error
that may be stored or shown.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy.exc import StatementError

__all__ = [
    "ContextAdapter",
    "Masker",
    "SecretValues",
    "add_secret",
    "configure_logging",
    "describe_error",
    "get_logger",
    "mask_personal_data",
    "mask_text",
]

MIN_SECRET_LENGTH = 4
MAX_ERROR_LENGTH = 500

# -- masking --------------------------------------------------------------------------------


def _combining_marks() -> str:
    """A character-class body of the Basic Multilingual Plane's combining marks.

    ``\\w`` covers Unicode letters and digits but not marks (the accent of a decomposed
    ``é``, Indic vowel signs), which e-mail addresses may contain.
    """
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


_M = _combining_marks()
_EMAIL = re.compile(
    rf"(?<![\w{_M}.%+-])([\w%+-])[\w{_M}.%+-]*@"
    rf"((?:[\w{_M}-]+\.)+(?:(?i:xn--[a-z0-9-]*[a-z0-9])|[^\W\d_](?:[^\W\d_]|[{_M}])+))"
)
# A candidate phone: not glued to a word before or after (directly or through one of - . /)
# unless the word is a phone label (Tel.0612345678), with an optional extension.
_PHONE = re.compile(
    r"(?:(?P<label>(?<!\w)(?i:t[eé]l|phone|ph|mob|mobile|fax|gsm|cell|handy|port)[-./])"
    r"|(?<!\w)(?<!\w[-./]))"
    r"(?:\+|\()?\d[\d \u00a0().-]*\d"
    r"(?P<ext>[ \u00a0]*(?:[xX#]|(?i:ext(?:ension)?|poste)[.:]?|;(?i:ext)=)[ \u00a0]*\d{1,6})?"
    r"(?!\w)(?![-./]\w)"
)
_DATE_PREFIX = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_UUID_DIGITS = re.compile(r"\d{8}-\d{4}-\d{4}-\d{4}-\d{12}")
_DECIMAL = re.compile(r"\d+\.\d+")
# A unit after a number makes it a quantity (``took 123456789 ms``, ``1234567890 bytes``).
_UNIT_AFTER = re.compile(
    r"[ \u00a0]?(?:[nuµm]?s|secs?|seconds?|mins?|minutes?|hours?|days?|[kKMGTP]i?B|B|bytes?"
    r"|rows?|records?|items?|events?|lines?|objects?|calls?|requests?)(?![\w'’-])"
)
# Compact ISO 8601 date-times: YYYYMMDDhhmm or YYYYMMDDhhmmss.
_COMPACT_DATETIME = re.compile(
    r"(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:[01]\d|2[0-3])[0-5]\d(?:[0-5]\d)?"
)


def _mask_email(match: re.Match[str]) -> str:
    return f"{match.group(1)}***@{match.group(2)}"


def _mask_phone(match: re.Match[str]) -> str:
    label = match.group("label") or ""
    text = match.group()[len(label):]
    date = _DATE_PREFIX.match(text)
    if date:
        # Keep the date, but a phone number may follow it in the same run.
        return label + text[: date.end()] + _PHONE.sub(_mask_phone, text[date.end() :])
    ext = match.group("ext") or ""
    number = text[: len(text) - len(ext)]
    masked = _mask_number(number, match.string[match.end() :])
    if masked is None:
        return match.group()
    return label + masked + re.sub(r"\d", "*", ext)


def _mask_number(text: str, after: str) -> str | None:
    """``text`` masked when it is a phone number, else None; ``after`` is what follows it."""
    if _IPV4.fullmatch(text) or _UUID_DIGITS.fullmatch(text) or _DECIMAL.fullmatch(text):
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) < 8:
        return None
    plus = text.startswith("+")
    if not (plus or digits.startswith("0")):
        if _UNIT_AFTER.match(after):
            return None
        if len(digits) == len(text):  # a bare run of digits
            if not 9 <= len(digits) <= 15 or _COMPACT_DATETIME.fullmatch(digits):
                return None
            if len(digits) in (10, 13) and digits.startswith("1"):
                return None  # Unix time in seconds or milliseconds (2001 to 2033)
        elif len(digits) < 9:
            return None
    return ("+" if plus else "") + digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


# SQLAlchemy's "[parameters: ...]" block: it ends with the "]" that closes the line before
# the "(Background on this error at: ...)" link, a blank line (a chained traceback) or
# the end of the text; its repr may span lines. Left unterminated, it runs to the line end.
_SQL_PARAMETERS = re.compile(
    r"\[parameters: .*?\](?=[ \t]*(?:\n\(Background on this error at|\n[ \t]*\n|\n?\Z))",
    re.DOTALL,
)
_SQL_PARAMETERS_LINE = re.compile(r"\[parameters: [^\n]*")
_HIDDEN_PARAMETERS = "[parameters hidden]"


def _strip_sql_parameters(text: str) -> str:
    """``text`` without SQLAlchemy's ``[parameters: ...]`` blocks (bound values)."""
    if "[parameters: " not in text:
        return text
    text = _SQL_PARAMETERS.sub(_HIDDEN_PARAMETERS, text)
    return _SQL_PARAMETERS_LINE.sub(_HIDDEN_PARAMETERS, text)


class SecretValues:
    """The secret values to replace by ``***``: a thread-safe set that only grows.

    Values are never removed, so a secret rotated out stays masked in later lines (an old
    log line may be quoted again, e.g. in an error).
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        """Mask ``value`` from now on (ignored when shorter than 4 characters)."""
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            # Longest first, so a secret containing another is replaced whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def replace(self, text: str) -> str:
        """``text`` with every known value replaced by ``***``."""
        pattern = self._pattern  # one read: a concurrent add swaps in a whole new pattern
        return text if pattern is None else pattern.sub("***", text)


class Masker:
    """Replaces secrets by ``***`` and, when ``pii`` is set, masks e-mails and phones.

    SQL parameter blocks are dropped first (always), then secrets, so a secret made of
    digits is not half-masked as a phone number. ``secrets`` is either a list of values
    (the masker's own) or a :class:`SecretValues` shared with others, such as the
    process's registry of resolved secrets.
    """

    def __init__(self, *, pii: bool = True,
                 secrets: Iterable[str] | SecretValues = ()) -> None:
        self.pii = pii
        self.secrets = secrets if isinstance(secrets, SecretValues) else SecretValues(secrets)

    def add_secret(self, value: str) -> None:
        """Mask ``value`` from now on (ignored when shorter than 4 characters)."""
        self.secrets.add(value)

    def __call__(self, text: str, *, pii: bool | None = None) -> str:
        """``text`` masked; ``pii`` overrides the masker's own setting for this call."""
        text = self.secrets.replace(_strip_sql_parameters(text))
        if self.pii if pii is None else pii:
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


# Every secret value this process has resolved. The one piece of process-wide state here,
# and it only grows; add_secret is its only writer (hub.secrets calls it for each value it
# resolves). Whether personal data is masked belongs to the installed handler's masker.
_SECRETS = SecretValues()
_ERROR_MASKER = Masker(pii=True, secrets=_SECRETS)


def add_secret(value: str) -> None:
    """Register a resolved secret value: ``***`` in every log line, error text and
    :func:`mask_text` output from now on, whichever masker writes them."""
    _SECRETS.add(value)


def mask_text(text: str) -> str:
    """``text`` as the configured log handler would write it (for other outputs, e.g. CLI);
    e-mails and phones masked too when no handler is configured."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _CrmhubHandler):
            return handler.masker(text)
    return _ERROR_MASKER(text)


def mask_personal_data(text: str) -> str:
    """``text`` with e-mails, phones and secrets masked whatever ``mask_pii`` says, for
    output that shows stored personal data (``crmhub quarantine``)."""
    return _ERROR_MASKER(text)


# Values some drivers quote on the first line of their message: PostgreSQL's
# 'invalid input syntax for type integer: "..."', MySQL's "Duplicate entry '...' for key".
_DRIVER_VALUES = re.compile(
    r"""(?<=: )"[^"]*"$|(?<=entry )'.*?'(?= for key )|(?<=value: )'.*?'(?= for )"""
)


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # a broken __str__ must not break error reporting
        return f"<unprintable {type(value).__name__}>"


def describe_error(exc: BaseException) -> str:
    """A one-line description of ``exc`` free of personal data, to store or show.

    For a SQLAlchemy statement error: its class name and the first line of the driver's
    message, without the SQL, the bound parameters or values the driver quotes
    (``DataError: value too long for type character varying(2)``). Otherwise
    ``"<class name>: <message>"`` without SQL parameters. Either way e-mails and phones
    are masked (whatever ``mask_pii`` says), registered secrets replaced by ``***`` and
    the result cut to 500 characters.
    """
    name = type(exc).__name__
    if isinstance(exc, StatementError):
        source: object = exc.orig if exc.orig is not None else (exc.args[0] if exc.args else "")
        lines = (line.strip() for line in _safe_str(source).splitlines())
        first = next((line for line in lines if line), "")
        detail = _DRIVER_VALUES.sub(lambda m: f"{m.group()[0]}***{m.group()[0]}", first)
    else:
        detail = " ".join(_strip_sql_parameters(_safe_str(exc)).split())
    text = _ERROR_MASKER(f"{name}: {detail}" if detail else name)
    if len(text) > MAX_ERROR_LENGTH:
        text = text[: MAX_ERROR_LENGTH - 1] + "…"
    return text


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


_CONTEXT: ContextVar[Mapping[str, Any] | None] = ContextVar("crmhub_log_context", default=None)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (``connector``, ``run_id``) to every record logged inside the block,
    from any module (the HTTP layer's retry warnings, a connector's own lines), unless a
    call names the field itself."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def _add_context(record: logging.LogRecord) -> bool:
    for key, value in (_CONTEXT.get() or {}).items():
        record.__dict__.setdefault(key, value)
    return True


class _CrmhubHandler(logging.StreamHandler[IO[str]]):
    """The handler configure_logging owns (a reconfiguration replaces it), with its masker."""

    def __init__(self, stream: IO[str], masker: Masker) -> None:
        super().__init__(stream)
        self.masker = masker
        self.addFilter(_add_context)


def configure_logging(
    level: str = "INFO",
    *,
    json: bool = True,
    mask_pii: bool = True,
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> None:
    """Install crmhub's single log handler on the root logger (replacing a previous one).

    Other handlers (pytest's capture, for one) are left in place. ``secrets`` are
    registered like resolved ones (:func:`add_secret`); they accumulate across calls, so a
    value once masked stays masked after a reload.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    for secret in secrets:
        add_secret(secret)
    masker = Masker(pii=mask_pii, secrets=_SECRETS)
    handler = _CrmhubHandler(stream if stream is not None else sys.stderr, masker)
    handler.setFormatter(JsonFormatter(masker) if json else TextFormatter(masker))
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
