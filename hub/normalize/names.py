"""Person-name normalisation: case repair, splitting a full name, and matching keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from nameparser import HumanName

from hub.normalize.text import clean_text, fold

__all__ = ["NameResult", "normalize_name", "person_name_key", "repair_case"]


@dataclass(frozen=True)
class NameResult:
    """Display parts of a person's name and their folded keys ("" when a part is missing)."""

    given: str | None
    family: str | None
    full: str | None
    given_key: str
    family_key: str


# Particles written in lower case inside a name ("Ludwig van Beethoven", "de la Fontaine").
_PARTICLES = frozenset({"de", "du", "des", "van", "von", "da", "dos", "das", "zu", "ter", "ten"})
# Articles that follow a particle ("de la", "van der") and are lower case only there.
_ARTICLES = frozenset({"la", "le", "les", "der", "den", "het", "l'", "d'"})
_ELIDED = ("d'", "l'", "d’", "l’")
_TITLE_PREFIX = re.compile(
    r"^(?:(?:m|mm|mr|mrs|ms|mme|mmes|mlle|messrs|dr|pr|prof|me|herr|frau|sr|sra|srta)\."
    r"|(?:mr|mrs|ms|mme|mmes|mlle|dr|prof|herr|frau)(?=\s))\s*",
    re.IGNORECASE,
)


def _lower(text: str) -> str:
    """Lower-case without changing length ("İ" -> "i", not "i" + combining dot)."""
    if text.isascii():
        return text.lower()
    return "".join("i" if ch == "İ" else ch.lower() if len(ch.lower()) == 1 else ch for ch in text)


def _capitalize(word: str) -> str:
    """Upper-case the first letter and lower-case the rest; leave letters whose case mapping
    changes length ("ß" -> "SS") as they are."""
    if not word:
        return word
    first = word[0].upper()
    return (first if len(first) == 1 else word[0]) + _lower(word[1:])


def _capitalize_word(word: str) -> str:
    """Capitalise each hyphenated segment, handling O'Brien and McDonald."""
    segments: list[str] = []
    for segment in word.split("-"):
        for sep in ("'", "’"):
            head, found, tail = segment.partition(sep)
            if found and head and tail:
                segment = _capitalize(head) + sep + _capitalize_word(tail)
                break
        else:
            if len(segment) > 3 and segment[:2] == "mc":
                segment = "Mc" + _capitalize(segment[2:])
            else:
                segment = _capitalize(segment)
        segments.append(segment)
    return "-".join(segments)


def repair_case(part: str, *, family: bool = False) -> str:
    """Title-case a name part written all in capitals or all in lower case; leave mixed case
    alone, since someone chose it ("McKenna", "van der Berg", "DeShawn").

    Particles ("de", "van") are lower case when more of the name follows them; in a family
    name they may open the part ("DE LA FONTAINE" -> "de la Fontaine"), elsewhere the first
    word is always capitalised.
    """
    if not (part.isupper() or part.islower()):
        return part
    words = _lower(part).split(" ")
    out: list[str] = []
    after_particle = False
    for index, word in enumerate(words):
        may_lower = (index > 0 or family) and index + 1 < len(words)
        if may_lower and (word in _PARTICLES or (after_particle and word in _ARTICLES)):
            out.append(word)
            after_particle = True
            continue
        after_particle = False
        if index > 0 and word.startswith(_ELIDED) and len(word) > 2:
            out.append(word[:2] + _capitalize_word(word[2:]))
        else:
            out.append(_capitalize_word(word))
    return " ".join(out)


def _clean_part(value: str | None, *, family: bool = False) -> str | None:
    text = clean_text(value)
    return repair_case(text, family=family) if text else None


def _split_full(full: str) -> tuple[str | None, str | None]:
    """Split a full name into (given, family) with nameparser, after removing titles."""
    text = full
    while True:
        stripped = _TITLE_PREFIX.sub("", text, count=1)
        if stripped == text or not stripped:
            break
        text = stripped
    parsed = HumanName(text)
    given = clean_text(" ".join(p for p in (parsed.first, parsed.middle) if p))
    family = clean_text(parsed.last)
    return given, family


def _join(given: str | None, family: str | None) -> str | None:
    return " ".join(p for p in (given, family) if p) or None


@lru_cache(maxsize=65536)
def normalize_name(given: str | None, family: str | None, full: str | None) -> NameResult:
    """Clean and case-repair the name parts; split `full` only when both parts are missing
    (nameparser is slow), and build `full` from the parts when it is missing."""
    given_c, family_c = _clean_part(given), _clean_part(family, family=True)
    full_c = clean_text(full)
    if given_c is None and family_c is None and full_c is not None:
        given_c, family_c = _split_full(full_c)
        given_c = repair_case(given_c) if given_c else None
        family_c = repair_case(family_c, family=True) if family_c else None
        full_c = _join(given_c, family_c) or repair_case(full_c)
    elif full_c is None:
        full_c = _join(given_c, family_c)
    elif fold(full_c) == fold(_join(given_c, family_c) or ""):
        # The full name only repeats the parts: take their spelling, so the three agree.
        full_c = _join(given_c, family_c)
    else:
        full_c = repair_case(full_c)
    return NameResult(
        given=given_c,
        family=family_c,
        full=full_c,
        given_key=fold(given_c) if given_c else "",
        family_key=fold(family_c) if family_c else "",
    )


def person_name_key(given: str | None, family: str | None) -> str:
    """Blocking key "family|first initial" ("dupont|j"), folded."""
    return fold(family or "") + "|" + fold(given or "")[:1]
