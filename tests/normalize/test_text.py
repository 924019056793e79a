from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.normalize.text import clean_text, fold


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ada   Lovelace ", "Ada Lovelace"),
        ("Ada\tLovelace\r\nLondon", "Ada Lovelace London"),
        ("a\x00b\x07c", "abc"),
        ("zero\u200bwidth", "zerowidth"),
        ("Cafe\u0301", "Café"),
        ("line\u2028break", "line break"),
        ("next\x85line", "next line"),
    ],
)
def test_clean_text_normalises_unicode_and_whitespace(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n", "\x00\x01"])
def test_clean_text_returns_none_for_blank(raw: str | None) -> None:
    assert clean_text(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ørsted", "orsted"),
        ("Straße", "strasse"),
        ("ŁÓDŹ", "lodz"),
        ("Æsir", "aesir"),
        ("Œuvre", "oeuvre"),
        ("Đorđe", "dorde"),
        ("Þór", "thor"),
        ("Jean-Pierre  d'Ávila", "jean pierre d avila"),
        ("İstanbul", "istanbul"),
        ("ﬁne", "fine"),
        ("ACME, Inc.", "acme inc"),
        ("  ", ""),
    ],
)
def test_fold_removes_accents_case_and_punctuation(raw: str, expected: str) -> None:
    assert fold(raw) == expected


def test_fold_treats_ascii_and_unicode_punctuation_alike() -> None:
    assert fold("a_b-c.d") == fold("a_b–c·d") == "a b c d"


@given(st.text())
def test_clean_text_never_raises_and_is_idempotent(value: str) -> None:
    once = clean_text(value)
    assert clean_text(once) == once


@given(st.text())
def test_clean_text_output_has_no_control_characters_or_edge_spaces(value: str) -> None:
    cleaned = clean_text(value)
    if cleaned is not None:
        assert cleaned == cleaned.strip()
        assert "  " not in cleaned
        assert all(ch.isprintable() or ch == " " for ch in cleaned)


@given(st.text())
def test_fold_is_idempotent(value: str) -> None:
    once = fold(value)
    assert fold(once) == once


@given(st.text())
def test_fold_ignores_case(value: str) -> None:
    assert fold(value.upper()) == fold(value.lower()) or not value.isascii()
