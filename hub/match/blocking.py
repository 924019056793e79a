"""Match keys: which stored records could be the same person as a new one (blocking).

Keys are computed once at ingest from the normalised record and stored in the indexed
``match_keys`` table; the matcher looks candidates up through them and never scans.

Two families of keys:

* **identity keys** (e-mail key, E.164 phone, social handles, configured identifiers,
  strength ``strong``/``weak``) come from :mod:`hub.match.canonical`;
* **name keys** (strength ``block``): the accent-folded family name with the first
  initial; a phonetic code of the family name (NYSIIS, via ``jellyfish``) with the company
  or postcode; the family name's first three letters with the city or birth date (a typo
  late in the name); given name with birth date (a married name) or postcode; birth date
  with postcode or city, and house number + street with postcode or birth date (typos in
  both names; the postcode keys with a street or a given name only for someone without a
  company, since a company's address is shared by its whole staff).
  They narrow the search; on their own they prove nothing.

A key shared by too many records (a switchboard number, a role address, ``smith|j``) stops
producing candidates: the matcher caps it in ``shared_points`` with the count and the reason
(``crmhub match keys`` lists them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jellyfish

from hub.store.model import KEY_MAX

BLOCK = "block"  # narrows the search; never identifies

# Key kinds, in the order they are computed; a kind is the stored ``match_keys.kind``.
NAME_KINDS = ("fi", "ph_co", "ph_pc", "f3_city", "f3_dob", "gn_dob", "gn_pc", "dob_pc",
              "dob_city", "st_pc", "dob_st")
# Kinds holding the family name: a record linked by one of them alone is a namesake until
# the given names agree, so their rows carry the record's given-name key (``given``).
FAMILY_KINDS = frozenset({"fi", "ph_co", "ph_pc", "f3_city", "f3_dob"})
GIVEN_MAX = 320  # longer given-name keys are not stored (``None``: never pruned on)


def phonetic(text: str) -> str:
    """NYSIIS of the first word of a folded name: ``muller`` and ``mueller`` agree."""
    word = "".join(ch for ch in text.split(" ")[0] if ch.isalpha())
    return jellyfish.nysiis(word) if word else ""


def _postcode(data: dict[str, Any]) -> str:
    address = data.get("address") or {}
    return "".join(str(address.get("postcode") or "").split()).lower()


def _city(data: dict[str, Any]) -> str:
    address = data.get("address") or {}
    return " ".join(str(address.get("city") or "").lower().split())


def street_head(data: dict[str, Any]) -> str:
    """House number and first word of the street: ``13, loch street`` -> ``13 loch``."""
    address = data.get("address") or {}
    words = "".join(ch if ch.isalnum() else " " for ch in
                    str(address.get("street") or "").lower()).split()
    number = next((w for w in words if w.isdigit()), "")
    word = next((w for w in words if w.isalpha() and len(w) > 2), "")
    return f"{number} {word}" if number and word else ""


def _company(data: dict[str, Any]) -> str:
    company = data.get("company") or {}
    return str(company.get("domain") or company.get("name_key") or "")


def name_keys(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The name-based blocking keys of one normalised person record."""
    family = data.get("family_key") or ""
    given = data.get("given_key") or ""
    birthday = data.get("birthday") or ""
    postcode, city, company = _postcode(data), _city(data), _company(data)
    keys: list[tuple[str, str]] = []
    code = phonetic(family) if family else ""
    # The first three letters of the family name survive a typo further on (morrison,
    # morrisn), which its phonetic code does not.
    head = family[:3]
    if family and given:
        keys.append(("fi", f"{family}|{given[0]}"))
    if code:
        for kind, value in (("ph_co", company), ("ph_pc", postcode)):
            if value:
                keys.append((kind, f"{code}|{value}"))
    if head:
        for kind, value in (("f3_city", city), ("f3_dob", birthday)):
            if value:
                keys.append((kind, f"{head}|{value}"))
    street = street_head(data)
    if given and birthday:
        keys.append(("gn_dob", f"{given}|{birthday}"))
    if given and postcode and not company:  # a company's postcode: see st_pc
        keys.append(("gn_pc", f"{given}|{postcode}"))
    if birthday and postcode:
        keys.append(("dob_pc", f"{birthday}|{postcode}"))
    if birthday and city:  # a typo in the postcode
        keys.append(("dob_city", f"{birthday}|{city}"))
    if street and postcode and not company:  # a company's address is its staff's, all
        keys.append(("st_pc", f"{street}|{postcode}"))  # of them: ph_co blocks those
    if street and birthday:
        keys.append(("dob_st", f"{birthday}|{street}"))
    return [(kind, key[:320]) for kind, key in keys]


def lookup_only_keys(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Keys looked up but never stored: the name with given and family swapped."""
    family = data.get("family_key") or ""
    given = data.get("given_key") or ""
    if family and given and family != given:
        return [("name", f"{given}|{family}"[:320])]
    return []


def key_given(kind: str, data: dict[str, Any]) -> str | None:
    """What ``match_keys.given`` holds for a key of ``kind`` of this record: its given-name
    key ("" when it has none) on family-name kinds, else ``None``."""
    if kind not in FAMILY_KINDS:
        return None
    given = str(data.get("given_key") or "")
    return given if len(given) <= GIVEN_MAX else None


def stored_keys(keys: Iterable[tuple[str, str]],
                data: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """A record's keys as ``match_keys`` stores them: (kind, key, given), each key cut to
    the column's length and stored once (it is part of the primary key)."""
    return [(kind, key, key_given(kind, data))
            for kind, key in dict.fromkeys((kind, key[:KEY_MAX]) for kind, key in keys)]


def unique(keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(keys))
