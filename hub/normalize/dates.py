"""Birthdays from the many ways sources write them, to ISO 8601 ("1984-03-07", "--03-07")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from hub.normalize.text import clean_text, fold

__all__ = ["DateResult", "normalize_birthday"]


@dataclass(frozen=True)
class DateResult:
    """A normalised birthday: "YYYY-MM-DD", or "--MM-DD" when the source gave no year."""

    value: str | None
    raw: str
    valid: bool
    error: str | None = None


_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan janvier janv januar janner jaenner",
        "february feb fevrier fevr fev februar",
        "march mar mars marz maerz",
        "april apr avril avr",
        "may mai",
        "june jun juin juni",
        "july jul juillet juil juli",
        "august aug aout",
        "september sep sept septembre",
        "october oct octobre oktober okt",
        "november nov novembre",
        "december dec decembre dezember dez",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number

_WEEKDAYS = frozenset(
    word
    for line in (
        "monday tuesday wednesday thursday friday saturday sunday",
        "mon tue tues wed thu thur thurs fri sat sun",
        "lundi mardi mercredi jeudi vendredi samedi dimanche",
        "montag dienstag mittwoch donnerstag freitag samstag sonntag",
    )
    for word in line.split()
)
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_VCARD_NO_YEAR = re.compile(r"--(\d{2})-?(\d{2})")
_NUMERIC = re.compile(r"(\d{1,2})([./\- ])(\d{1,2})(?:\2(\d{4}|\d{2}))?(?:[T ]\d{1,2}:\d{2}.*)?")
_DAY = re.compile(r"(\d{1,2})(?:er|st|nd|rd|th)?")
# Values that systems write for "no date": Windows FILETIME zero, Outlook's "None"
# (4501-01-01), .NET's MinValue and the common 1900-01-01 default.
_SENTINELS = frozenset({(1601, 1, 1), (4501, 1, 1), (1, 1, 1), (1900, 1, 1)})
_NO_YEAR = 0


class _Empty(Exception):
    """The value is a placeholder meaning "no date"."""


def _full_year(year: int, digits: int, today: date) -> int:
    if digits != 2:
        return year
    century = 2000 if 2000 + year <= today.year else 1900
    return century + year


def _day_month(first: int, second: int, day_first: bool) -> tuple[int, int]:
    """(day, month) from two numbers, using `day_first` only when both could be a month."""
    if first > 12 >= second:
        return first, second
    if second > 12 >= first:
        return second, first
    return (first, second) if day_first else (second, first)


def _with_month_name(text: str, today: date) -> tuple[int, int, int] | None:
    """Dates written with a month name: "14 mars 1984", "March 14, 2025", "14-Mar-25"."""
    tokens = [t for t in fold(text).split() if t not in _WEEKDAYS and t not in ("de", "of")]
    month = day = year = None
    for token in tokens:
        if month is None and token in _MONTHS:
            month = _MONTHS[token]
        elif token.isdigit() and len(token) == 4 and year is None:
            year = int(token)
        elif (match := _DAY.fullmatch(token)) and day is None:
            day = int(match.group(1))
        elif token.isdigit() and len(token) == 2 and year is None and day is not None:
            year = _full_year(int(token), 2, today)
        else:
            return None
    if month is None or day is None:
        return None
    return (_NO_YEAR if year is None else year), month, day


def _parse(text: str, day_first: bool, today: date) -> tuple[int, int, int] | None:
    """(year, month, day) with year 0 when unknown; None when the format is not recognised."""
    if match := _ISO.fullmatch(text):
        return int(match[1]), int(match[2]), int(match[3])
    if match := _COMPACT.fullmatch(text):
        return int(match[1]), int(match[2]), int(match[3])
    if match := _VCARD_NO_YEAR.fullmatch(text):
        return _NO_YEAR, int(match[1]), int(match[2])
    if match := _NUMERIC.fullmatch(text):
        first, second = int(match[1]), int(match[3])
        if first == 0 and second == 0:
            raise _Empty
        # Dotted dates are day-first wherever they are written (7.3.1984).
        day, month = _day_month(first, second, day_first or match[2] == ".")
        if match[4] is None:
            # Without a year only "7/3" and "7.3" are dates; "7 3" or "7-3" could be anything.
            return (_NO_YEAR, month, day) if match[2] in "/." else None
        return _full_year(int(match[4]), len(match[4]), today), month, day
    return _with_month_name(text, today)


@lru_cache(maxsize=16384)
def _normalize(raw: str, day_first: bool, today: date) -> DateResult | None:
    try:
        parts = _parse(raw, day_first, today)
    except _Empty:
        return None
    if parts is None:
        return DateResult(value=None, raw=raw, valid=False, error="unrecognised date format")
    year, month, day = parts
    if parts in _SENTINELS or parts == (0, 0, 0):
        return None
    try:
        # 2000 is a leap year, so "--02-29" stays possible when the year is unknown.
        parsed = date(year or 2000, month, day)
    except ValueError:
        return DateResult(value=None, raw=raw, valid=False, error="impossible date")
    if year == _NO_YEAR:
        return DateResult(value=f"--{month:02d}-{day:02d}", raw=raw, valid=True)
    if year < 1900:
        return DateResult(value=None, raw=raw, valid=False, error="year before 1900")
    if parsed > today:
        return DateResult(value=None, raw=raw, valid=False, error="date in the future")
    return DateResult(value=parsed.isoformat(), raw=raw, valid=True)


def normalize_birthday(
    value: str | None, day_first: bool = True, today: date | None = None
) -> DateResult | None:
    """Normalise a birthday; None for blank input and for "no date" placeholders
    ("0/0/00", "1/1/1601", "4501-01-01"); `valid=False` with `error` when unusable.

    `day_first` settles "07/03/1984" (7 March when True); dates where one number exceeds 12
    are read the only way they can be. Two-digit years fall in the last hundred years.
    """
    raw = clean_text(value)
    if raw is None:
        return None
    return _normalize(raw, day_first, today or date.today())
