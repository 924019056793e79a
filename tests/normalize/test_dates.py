from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.normalize.dates import normalize_birthday

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1984-03-07", "1984-03-07"),
        ("1984-3-7", "1984-03-07"),
        ("1984-03-07T00:00:00", "1984-03-07"),
        ("1984-03-07T00:00:00Z", "1984-03-07"),
        ("1984-03-07 00:00:00", "1984-03-07"),
        ("1984/03/07", "1984-03-07"),
        ("07/03/1984", "1984-03-07"),
        ("31/12/1980", "1980-12-31"),
        ("12/31/1980", "1980-12-31"),
        ("7.3.1984", "1984-03-07"),
        ("07-03-1984", "1984-03-07"),
        ("7/3/84", "1984-03-07"),
        ("7/3/05", "2005-03-07"),
        ("19840307", "1984-03-07"),
        ("14 Mar 2025", "2025-03-14"),
        ("14-Mar-2025", "2025-03-14"),
        ("March 14, 2025", "2025-03-14"),
        ("Friday, March 14, 2025", "2025-03-14"),
        ("14 mars 1984", "1984-03-14"),
        ("1er mars 1984", "1984-03-01"),
        ("14 février 1984", "1984-02-14"),
        ("3 août 1990", "1990-08-03"),
        ("14. März 1984", "1984-03-14"),
        ("--0307", "--03-07"),
        ("--03-07", "--03-07"),
        ("--02-29", "--02-29"),
        ("14 March", "--03-14"),
        ("14/03", "--03-14"),
    ],
)
def test_normalize_birthday_reads_common_formats(raw: str, value: str) -> None:
    result = normalize_birthday(raw, today=TODAY)
    assert result is not None
    assert (result.value, result.valid, result.error) == (value, True, None)
    assert result.raw == raw


@pytest.mark.parametrize(
    ("raw", "day_first", "value"),
    [
        ("07/03/1984", True, "1984-03-07"),
        ("07/03/1984", False, "1984-07-03"),
        ("31/12/1980", False, "1980-12-31"),
        ("12/31/1980", True, "1980-12-31"),
        ("7.3.1984", False, "1984-03-07"),
    ],
)
def test_day_first_decides_only_ambiguous_dates(raw: str, day_first: bool, value: str) -> None:
    result = normalize_birthday(raw, day_first=day_first, today=TODAY)
    assert result is not None and result.value == value


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "0/0/00", "00/00/0000", "0000-00-00", "1/1/1601", "1601-01-01",
     "4501-01-01", "1/1/4501", "0001-01-01", "1900-01-01", "--0000"],
)  # fmt: skip
def test_blank_and_placeholder_dates_give_none(raw: str | None) -> None:
    assert normalize_birthday(raw, today=TODAY) is None


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("1984-02-30", "impossible date"),
        ("31/02/1984", "impossible date"),
        ("--13-01", "impossible date"),
        ("1850-01-01", "year before 1900"),
        ("2025-06-02", "date in the future"),
        ("2999-01-01", "date in the future"),
        ("hello", "unrecognised date format"),
        ("7 3", "unrecognised date format"),
        ("32 mars 1984", "impossible date"),
        ("mars 1984", "unrecognised date format"),
    ],
)
def test_unusable_dates_are_flagged_with_the_raw_kept(raw: str, error: str) -> None:
    result = normalize_birthday(raw, today=TODAY)
    assert result is not None
    assert (result.value, result.valid, result.error, result.raw) == (None, False, error, raw)


def test_today_bounds_the_future() -> None:
    assert normalize_birthday("2025-06-01", today=TODAY) is not None
    result = normalize_birthday("2025-06-01", today=date(2025, 5, 31))
    assert result is not None and not result.valid


@given(st.text(), st.booleans())
def test_normalize_birthday_never_raises_and_is_idempotent(value: str, day_first: bool) -> None:
    result = normalize_birthday(value, day_first=day_first, today=TODAY)
    if result is not None and result.value is not None:
        again = normalize_birthday(result.value, day_first=day_first, today=TODAY)
        assert again == type(result)(result.value, result.value, True, None)


@given(st.dates(min_value=date(1900, 1, 2), max_value=TODAY), st.booleans())
def test_any_real_birthday_survives_common_renderings(birthday: date, day_first: bool) -> None:
    renderings = [
        birthday.isoformat(),
        birthday.strftime("%Y%m%d"),
        birthday.strftime("%d %B %Y"),
        birthday.strftime("%B %d, %Y"),
        f"{birthday.day}.{birthday.month}.{birthday.year}",
        birthday.strftime("%d/%m/%Y" if day_first else "%m/%d/%Y"),
    ]
    for text in renderings:
        result = normalize_birthday(text, day_first=day_first, today=TODAY)
        assert result is not None and result.value == birthday.isoformat(), text
