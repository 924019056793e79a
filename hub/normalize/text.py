"""Text cleaning and folding shared by every normaliser.

`clean_text` produces display text; `fold` produces a comparison key that ignores case,
accents and punctuation, so "Ørsted", "ORSTED" and "orsted" meet in one blocking key.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["clean_text", "fold"]

_WHITESPACE = re.compile(r"\s+")
_ASCII_PUNCT = re.compile(r"[^a-z0-9]+")

# Letters that NFKD leaves whole (they are not "letter + combining mark").
_FOLD_TABLE = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "ss",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ø": "o",
        "Ø": "o",
        "ł": "l",
        "Ł": "l",
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "Ð": "d",
        "þ": "th",
        "Þ": "th",
        "ħ": "h",
        "Ħ": "h",
        "ı": "i",
        "ŀ": "l",
        "Ŀ": "l",
        "ŉ": "n",
        "ŧ": "t",
        "Ŧ": "t",
        "ĸ": "k",
    }
)


def _clean_char(char: str) -> str:
    """Control, format, surrogate, private-use and unassigned code points carry no text;
    control characters that separate (tab, line breaks, NEL) become a space."""
    if unicodedata.category(char)[0] != "C":
        return char
    return " " if char.isspace() else ""


def clean_text(value: str | None) -> str | None:
    """Return `value` in NFC with control characters removed and whitespace collapsed.

    Tabs and line breaks become single spaces; a value that is empty afterwards is None.
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value)
    if not text.isascii() or not text.isprintable():
        text = "".join(_clean_char(ch) for ch in text)
        # Dropping a code point can bring a base and a combining mark together.
        text = unicodedata.normalize("NFC", text)
    text = _WHITESPACE.sub(" ", text).strip()
    return text or None


def _fold_once(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.translate(_FOLD_TABLE)).casefold()
    return "".join(
        ch if unicodedata.category(ch)[0] in "LN" else " "
        for ch in unicodedata.normalize("NFKD", text.translate(_FOLD_TABLE))
        if unicodedata.category(ch)[0] != "M"
    )


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    """Fold one character. Every step is per character, so folding a string is the join of
    its folded characters; iterating to a fixed point makes `fold` idempotent even for the
    few compatibility characters that need two passes ("ℌ" -> "H" -> "h")."""
    folded = _fold_once(char)
    for _ in range(3):
        again = _fold_once(folded)
        if again == folded:
            break
        folded = again
    return folded


@lru_cache(maxsize=65536)
def fold(value: str) -> str:
    """Return an accent-free, lower-case key with punctuation turned into single spaces."""
    if value.isascii():
        folded = _ASCII_PUNCT.sub(" ", value.lower())
    else:
        folded = "".join(map(_fold_char, value))
    return _WHITESPACE.sub(" ", folded).strip()
