"""Birthdays written in a known field order, rewritten as ISO 8601 for the core.

The core reads an ambiguous date such as ``2/4/1964`` day first; an export whose order is
known (Outlook writes US-style ``M/D/YYYY``; ``date_order`` says so for any file) is
rewritten here, before the observation is built:

* ``D/M/YYYY``, ``M/D/YYYY`` or ``YYYY/M/D`` (``/``, ``-`` or ``.`` between the parts)
  -> ``YYYY-MM-DD``; a two-digit year is the latest year not after the file's own year;
* two parts, without a year -> ``--MM-DD``; ``--MMDD`` -> ``--MM-DD``;
* a value whose first part has four digits is year-first whatever the order (ISO already);
* anything else, or a day the month does not have, is returned exactly as written, so the
  core judges (and flags) it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

DateOrder = Literal["dmy", "mdy", "ymd"]

_PARTS = re.compile(r"(\d{1,4})([/.-])(\d{1,2})(?:\2(\d{1,4}))?")
_NO_YEAR = re.compile(r"--(\d{2})-?(\d{2})")
_LEAP_YEAR = 2000  # validates 29 February when no year is given


def iso_birthday(text: str, order: DateOrder, this_year: int) -> str:
    """``text`` as ``YYYY-MM-DD`` or ``--MM-DD`` read in ``order``; else ``text`` unchanged."""
    value = text.strip()
    if found := _NO_YEAR.fullmatch(value):
        return _iso(None, int(found.group(1)), int(found.group(2))) or text
    found = _PARTS.fullmatch(value)
    if found is None:
        return text
    first, second, third = found.group(1), found.group(3), found.group(4)
    year: str | None
    if len(first) == 4:  # year first, whatever the order
        if third is None:
            return text  # a year and a month: no birthday
        year, month, day = first, second, third
    elif third is None:
        if len(first) > 2:
            return text
        month, day = (first, second) if order in ("mdy", "ymd") else (second, first)
        year = None
    elif order == "ymd":
        year, month, day = first, second, third
    elif order == "mdy":
        month, day, year = first, second, third
    else:
        day, month, year = first, second, third
    if len(month) > 2 or len(day) > 2:
        return text
    full_year = None if year is None else _full_year(year, this_year)
    if year is not None and full_year is None:
        return text
    return _iso(full_year, int(month), int(day)) or text


def _full_year(year: str, this_year: int) -> int | None:
    if len(year) == 4:
        return int(year)
    if len(year) == 2:
        candidate = this_year - this_year % 100 + int(year)
        return candidate if candidate <= this_year else candidate - 100
    return None


def _iso(year: int | None, month: int, day: int) -> str | None:
    try:
        date(_LEAP_YEAR if year is None else year, month, day)
    except ValueError:
        return None
    if year is None:
        return f"--{month:02d}-{day:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}"
