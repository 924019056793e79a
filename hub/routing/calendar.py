"""Working hours, out-of-office periods and business-time arithmetic, in an owner's zone.

Working hours are written per day (``mon``...``sun``) or per range (``mon-fri``), each a
comma-separated list of ``HH:MM-HH:MM`` intervals; an empty string is a day off::

    working_hours = { mon-fri = "09:00-12:30, 13:30-18:00", sat = "" }

An SLA of ``4h`` counts only those hours (business time): a lead assigned on Friday at
17:00 to someone working 09:00-18:00 is due on Monday at 12:00 in their time zone.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
DEFAULT_HOURS = {"mon-fri": "09:00-18:00"}

Intervals = tuple[tuple[int, int], ...]  # minutes from midnight, [start, end)


class CalendarError(ValueError):
    """A working-hours table, a time zone or a period that cannot be read."""


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"unknown time zone {name!r}; write an IANA name such as "
                            "\"Europe/Paris\"") from None


def parse_hours(table: dict[str, str]) -> dict[int, Intervals]:
    """``{"mon-fri": "09:00-18:00"}`` -> ``{0: ((540, 1080),), ...}`` (weekday -> intervals)."""
    week: dict[int, Intervals] = {}
    for key, text in table.items():
        days = _days(key)
        intervals = _intervals(key, text)
        for day in days:
            if day in week:
                raise CalendarError(f"{key}: {DAYS[day]} is given twice")
            week[day] = intervals
    return week


def _days(key: str) -> list[int]:
    first, _, last = key.strip().lower().partition("-")
    if first not in DAYS or (last and last not in DAYS):
        raise CalendarError(f"{key!r} is not a day or a day range; write mon..sun or mon-fri")
    start, end = DAYS.index(first), DAYS.index(last or first)
    if end < start:
        raise CalendarError(f"{key!r}: the range runs backwards")
    return list(range(start, end + 1))


def _intervals(key: str, text: str) -> Intervals:
    if not isinstance(text, str):
        raise CalendarError(f"{key}: write the hours as text, e.g. \"09:00-18:00\"")
    out: list[tuple[int, int]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _INTERVAL.match(part)
        if match is None:
            raise CalendarError(f"{key}: {part!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or end > 24 * 60 or start >= end:
            raise CalendarError(f"{key}: {part!r} is not a valid interval within one day")
        out.append((start, end))
    out.sort()
    for (_, end), (start, _) in itertools.pairwise(out):
        if start < end:
            raise CalendarError(f"{key}: intervals overlap")
    return tuple(out)


@dataclass(frozen=True)
class Period:
    """An out-of-office period, half-open [start, end) in UTC."""

    start: datetime
    end: datetime

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def period(start: date | datetime, end: date | datetime, tz: ZoneInfo) -> Period:
    """Dates are whole days in the owner's zone (``to`` inclusive); datetimes are exact."""
    begin = _at(start, tz, end_of_day=False)
    finish = _at(end, tz, end_of_day=True)
    if finish <= begin:
        raise CalendarError("an out-of-office period ends before it starts")
    return Period(begin, finish)


def _at(value: date | datetime, tz: ZoneInfo, *, end_of_day: bool) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)
    day = value + timedelta(days=1) if end_of_day else value
    return datetime.combine(day, time(0), tz).astimezone(UTC)


@dataclass(frozen=True)
class Calendar:
    """One owner's week and zone."""

    tz: ZoneInfo
    week: dict[int, Intervals]

    def working(self, moment: datetime) -> bool:
        local = moment.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.week.get(local.weekday(), ()))

    def add_business(self, start: datetime, seconds: float) -> datetime:
        """``start`` plus ``seconds`` of working time (what an SLA of "4h" means)."""
        if not any(self.week.values()):
            return start + timedelta(seconds=seconds)  # no hours at all: plain clock time
        remaining = seconds
        local = start.astimezone(self.tz)
        day = local.date()
        minute = local.hour * 60 + local.minute + local.second / 60
        for _ in range(800):  # two years of days off at most
            for a, b in self.week.get(day.weekday(), ()):
                begin = max(float(a), minute)
                if begin >= b:
                    continue
                available = (b - begin) * 60
                if remaining <= available:
                    naive = datetime.combine(day, time(0)) + timedelta(minutes=begin,
                                                                       seconds=remaining)
                    return naive.replace(tzinfo=self.tz).astimezone(UTC)
                remaining -= available
            day += timedelta(days=1)
            minute = 0.0
        return start + timedelta(seconds=seconds)

    def day_key(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).date().isoformat()

    def month_key(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).strftime("%Y-%m")

    def day_start(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.tz).date()
        return datetime.combine(local, time(0), self.tz).astimezone(UTC)

    def month_start(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.tz).date().replace(day=1)
        return datetime.combine(local, time(0), self.tz).astimezone(UTC)
