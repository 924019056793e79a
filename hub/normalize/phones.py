"""Telephone number normalisation to E.164 (via phonenumbers) and line-label classification."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from hub.normalize.text import clean_text, fold

__all__ = ["PhoneResult", "is_mobile", "is_shared_label", "normalize_phone"]


@dataclass(frozen=True)
class PhoneResult:
    """One normalised number; `e164` is None and `error` set when the number is not valid."""

    e164: str | None
    extension: str | None
    raw: str
    valid: bool
    region: str | None
    kind: str | None
    error: str | None = None

    @property
    def value(self) -> str:
        """The stored form: E.164 plus an RFC 3966 ";ext=" suffix, or the raw text if invalid."""
        if self.e164 is None:
            return self.raw
        return f"{self.e164};ext={self.extension}" if self.extension else self.e164


_KINDS: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}

# An extension at the end: "x123", "ext. 123", ";ext=123", "poste 123" (fr), "Durchwahl 12" (de).
_EXTENSION = re.compile(
    r"(?:;\s*ext=|[\s,;(]*(?<![^\W\d_])"
    r"(?:ext(?:ension|n)?\.?|x|\#|poste|durchwahl|dw\.?|interno|int\.?)\s*[:.]?\s*)"
    r"(\d{1,10})\)?\s*$",
    re.IGNORECASE,
)
_LETTERS = re.compile(r"[^\W\d_]+")


def _split_extension(text: str) -> tuple[str, str | None]:
    match = _EXTENSION.search(text)
    if match is None or not re.search(r"\d", text[: match.start()]):
        return text, None
    return text[: match.start()], match.group(1)


def _split_number(text: str) -> tuple[str, str | None]:
    """Split the number from its extension; a "tel:" URI (RFC 3966) keeps only its ";ext="
    parameter ("phone-context", "isub" and the like are dropped)."""
    if text[:4].lower() != "tel:":
        return _split_extension(text)
    number, *params = text[4:].split(";")
    for param in params:
        name, _, param_value = param.partition("=")
        if name.strip().lower() == "ext" and param_value.strip().isdigit():
            return number, param_value.strip()
    return _split_extension(number)


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber:
    """Parse, preferring the number with any words ("Zentrale", "(perso)") removed; keep the
    letters only when that is what makes the number valid (vanity "1-800-FLOWERS")."""
    if _LETTERS.search(text):
        without_words = _LETTERS.sub(" ", text)
        try:
            number = phonenumbers.parse(without_words, region)
        except NumberParseException:
            pass
        else:
            if phonenumbers.is_valid_number(number):
                return number
    return phonenumbers.parse(text, region)


def _invalid(raw: str, extension: str | None, error: str) -> PhoneResult:
    return PhoneResult(
        e164=None, extension=extension, raw=raw, valid=False, region=None, kind=None, error=error
    )


@lru_cache(maxsize=65536)
def normalize_phone(value: str, default_region: str | None = None) -> PhoneResult | None:
    """Normalise one number; `default_region` (ISO alpha-2) applies to national notation.

    None for blank input; an unparseable or invalid number gives `valid=False` with `error`.
    """
    raw = clean_text(value)
    if raw is None:
        return None
    region = default_region.upper() if default_region else None
    text, extension = _split_number(raw)
    text = text.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = _parse(text, region)
    except NumberParseException as exc:
        return _invalid(raw, extension, str(exc.args[0]) if exc.args else "not a phone number")
    # number_type() is UNKNOWN exactly when is_valid_number() is False (both match the
    # national number against the region's patterns): one pass instead of two.
    number_type = phonenumbers.number_type(number)
    if number_type == PhoneNumberType.UNKNOWN:
        return _invalid(raw, extension, "not a valid phone number")
    extension = extension or number.extension or None
    return PhoneResult(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        extension=extension,
        raw=raw,
        valid=True,
        region=phonenumbers.region_code_for_number(number),
        kind=_KINDS.get(number_type),
    )


@lru_cache(maxsize=65536)
def is_mobile(value: str) -> bool:
    """Whether a stored number (E.164, maybe with ``;ext=``) is a mobile line, which one
    person carries (not a ``fixed_line_or_mobile`` number: North America cannot tell)."""
    result = normalize_phone(value.partition(";")[0])
    return result is not None and result.kind == "mobile"


_SHARED_LABELS = frozenset(
    {
        "main",
        "main line",
        "main office",
        "office main",
        "company",
        "company main",
        "companymain",
        "switchboard",
        "standard",
        "accueil",
        "reception",
        "headquarters",
        "head office",
        "hq",
        "siege",
        "siege social",
        "zentrale",
        "centralino",
        "centralita",
    }
)
_FAX_WORDS = frozenset({"fax", "telefax", "telecopie"})


def is_shared_label(label: str | None) -> bool:
    """True when a phone label names a line shared by many people (switchboard, fax...),
    which must never be used to match two people together."""
    if not label:
        return False
    key = fold(label)
    return key in _SHARED_LABELS or not _FAX_WORDS.isdisjoint(key.split())
