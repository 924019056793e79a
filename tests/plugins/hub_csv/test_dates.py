"""Birthdays in a known order become ISO dates; anything else is passed on as written."""

from __future__ import annotations

import pytest

from hub_csv.dates import DateOrder, iso_birthday


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2/4/1964", "mdy", "1964-02-04"),
        ("2/4/1964", "dmy", "1964-04-02"),
        ("1964/2/4", "ymd", "1964-02-04"),
        ("04.02.1964", "dmy", "1964-02-04"),
        ("4-2-1964", "dmy", "1964-02-04"),
        ("1964-02-04", "dmy", "1964-02-04"),  # year first is ISO, whatever the order
        ("1964-02-04", "mdy", "1964-02-04"),
        ("7/15", "mdy", "--07-15"),
        ("15/7", "dmy", "--07-15"),
        ("2/29", "mdy", "--02-29"),
        ("--0412", "mdy", "--04-12"),
        ("--04-12", "dmy", "--04-12"),
        ("5/3/85", "mdy", "1985-05-03"),
        ("5/3/24", "mdy", "2024-05-03"),  # the latest year not after the file's (2025)
        ("5/3/26", "mdy", "1926-05-03"),
        (" 7/15/1990 ", "mdy", "1990-07-15"),
    ],
)
def test_a_date_in_a_known_order_becomes_iso(text: str, order: DateOrder, expected: str) -> None:
    assert iso_birthday(text, order, 2025) == expected


@pytest.mark.parametrize(
    "text",
    [
        "15/7/1990",  # no month 15
        "2/30/1990",
        "2/29/1990",
        "7/15/1990 0:00:00",
        "7/15-1990",  # mixed separators
        "1990-07",
        "715/1990",
        "7/15/990",
        "--1304",
        "someday",
        "",
    ],
)
def test_a_value_that_is_not_a_date_in_that_order_stays_as_written(text: str) -> None:
    assert iso_birthday(text, "mdy", 2025) == text
