"""Field comparators: how alike two person records are, field by field, as *levels*.

A comparator turns a pair of records into one level of a small ordered scale (``exact``,
``jw92`` ...); level 0 is always ``missing`` (either side has no value) and weighs nothing.
:mod:`hub.match.score` turns levels into Fellegi-Sunter weights (m/u probabilities).

Records are compared through a :class:`Profile`, the few normalised values matching reads,
built once per record from ``source_records.data``. Plugins add comparators through
``crmhub_register_comparators``: a class with a unique ``name``, its ``levels`` (first one
``missing``), default ``m``/``u`` per level, and ``compare(a, b) -> int`` reading
``a.data`` (the normalised record, see :mod:`hub.match.canonical`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler, Levenshtein

HOUSE_NUMBER = re.compile(r"\b\d+[a-z]?\b")
PACK_VERSION = 1  # bump when Profile.of or pack() change what a stored profile holds


def _street_name(street: str, houses: frozenset[str]) -> str:
    """The street without its house numbers: "12, rue neuve" -> "rue neuve"."""
    return " ".join(HOUSE_NUMBER.sub(" ", street).replace(",", " ").split()) if houses \
        else street


@dataclass(slots=True)
class Profile:
    """The values matching compares, from one normalised person record."""

    data: dict[str, Any]
    given: str = ""
    family: str = ""
    emails: frozenset[str] = frozenset()
    email_domains: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    handles: frozenset[str] = frozenset()
    identifiers: dict[str, str] = field(default_factory=dict)
    birthday: str = ""
    postcode: str = ""
    city: str = ""
    street: str = ""
    street_name: str = ""  # the street without its house numbers
    houses: frozenset[str] = frozenset()  # house numbers: "12", "12b"
    region: str = ""
    companies: frozenset[str] = frozenset()

    @classmethod
    def of(cls, data: dict[str, Any], identifiers: Sequence[str] = (), *,
           keep_data: bool = True) -> Profile:
        """``keep_data=False`` leaves ``data`` empty: only plugin comparators read it, and a
        cached profile without it is a few hundred bytes instead of kilobytes."""
        emails, domains = set(), set()
        for item in data.get("emails") or ():
            flags = item.get("flags") or ()
            key = item.get("key")
            if key and "invalid" not in flags and "role" not in flags:
                emails.add(key)
                if "freemail" not in flags:
                    domains.add(key.rpartition("@")[2])
        phones = {p["value"] for p in data.get("phones") or ()
                  if p.get("value") and not (set(p.get("flags") or ()) & {"invalid", "shared"})
                  and ";" not in p["value"]}
        handles = {f"{k}:{v}" for k, v in (data.get("handles") or {}).items() if v}
        ids = data.get("identifiers") or {}
        address = data.get("address") or {}
        company = data.get("company") or {}
        companies = {v for v in (company.get("domain"), company.get("name_key")) if v}
        street = " ".join(str(address.get("street") or "").lower().split())
        houses = frozenset(HOUSE_NUMBER.findall(street))
        return cls(
            data=data if keep_data else {},
            given=data.get("given_key") or "",
            family=data.get("family_key") or "",
            emails=frozenset(emails), email_domains=frozenset(domains),
            phones=frozenset(phones), handles=frozenset(handles),
            identifiers={n: str(ids[n]).strip().lower() for n in identifiers if ids.get(n)},
            birthday=data.get("birthday") or "",
            postcode="".join(str(address.get("postcode") or "").split()).lower(),
            city=" ".join(str(address.get("city") or "").lower().split()),
            street=street,
            street_name=_street_name(street, houses),
            houses=houses,
            region=str(address.get("region") or "").strip().lower(),
            companies=frozenset(companies),
        )


    def pack(self) -> list[Any]:
        """The profile as a short JSON list (stored as ``source_records.match_profile``);
        ``data`` is left out. :meth:`unpack` reads it back."""
        return [PACK_VERSION, self.given, self.family, sorted(self.emails),
                sorted(self.email_domains), sorted(self.phones), sorted(self.handles),
                self.identifiers, self.birthday, self.postcode, self.city, self.street,
                self.region, sorted(self.companies)]

    @classmethod
    def unpack(cls, packed: Any, identifiers: Sequence[str] = ()) -> Profile | None:
        """A packed profile, or None when it is missing or of another version; only the
        ``identifiers`` configured now are kept."""
        if not isinstance(packed, list) or not packed or packed[0] != PACK_VERSION:
            return None
        (_, given, family, emails, domains, phones, handles, ids, birthday, postcode,
         city, street, region, companies) = packed
        wanted = set(identifiers)
        houses = frozenset(HOUSE_NUMBER.findall(street))
        return cls(
            data={}, given=given, family=family, emails=frozenset(emails),
            email_domains=frozenset(domains), phones=frozenset(phones),
            handles=frozenset(handles),
            identifiers={k: v for k, v in ids.items() if k in wanted},
            birthday=birthday,
            postcode=postcode, city=city, street=street,
            street_name=_street_name(street, houses), houses=houses, region=region,
            companies=frozenset(companies))


class Comparator(Protocol):
    name: ClassVar[str]
    levels: ClassVar[tuple[str, ...]]
    m: ClassVar[tuple[float, ...]]
    u: ClassVar[tuple[float, ...]]

    def compare(self, a: Profile, b: Profile) -> int: ...


def _jw(a: str, b: str) -> float:
    return float(JaroWinkler.normalized_similarity(a, b))


def _sets(a: frozenset[str], b: frozenset[str]) -> int:
    if not a or not b:
        return 0
    return 1 if a & b else 2


def given_differs(a: Profile, b: Profile) -> bool:
    """Both given names known and plainly different (not a typo, not an initial)."""
    return givens_differ(a.given, b.given)


def givens_differ(x: str, y: str) -> bool:
    """:func:`given_differs` on two given-name keys."""
    if not x or not y or x == y:
        return False
    if x[0] == y[0] and (len(x) == 1 or len(y) == 1):
        return False
    return _jw(x, y) < 0.80


def _point_level(x: frozenset[str], y: frozenset[str], a: Profile, b: Profile) -> int:
    """E-mails or phones: 1 exact, 2 shared by two plainly different given names (a team or
    household point, no evidence), 3 different, 0 missing."""
    level = _sets(x, y)
    if level == 1 and given_differs(a, b):
        return 2
    return 3 if level == 2 else level


class Email:
    """Any shared e-mail key; different keys say little (people have several). An address
    shared by two plainly different given names is a family or team address: no evidence."""

    name = "email"
    levels = ("missing", "exact", "shared", "different")
    m = (0.0, 0.70, 1e-6, 0.299999)
    u = (0.0, 1e-7, 1e-6, 0.999999)

    def compare(self, a: Profile, b: Profile) -> int:
        return _point_level(a.emails, b.emails, a, b)


class Phone:
    """A shared number; shared by two different given names it is a switchboard or a
    household line, which proves nothing."""

    name = "phone"
    levels = ("missing", "exact", "shared", "different")
    m = (0.0, 0.60, 2e-6, 0.399998)
    u = (0.0, 1e-6, 2e-6, 0.999997)

    def compare(self, a: Profile, b: Profile) -> int:
        return _point_level(a.phones, b.phones, a, b)


class Handle:
    name = "handle"
    levels = ("missing", "exact", "different")
    m = (0.0, 0.80, 0.20)
    u = (0.0, 1e-7, 0.9999999)

    def compare(self, a: Profile, b: Profile) -> int:
        if not a.handles or not b.handles:
            return 0
        if a.handles & b.handles:
            return 1
        kinds_a = {h.partition(":")[0] for h in a.handles}
        kinds_b = {h.partition(":")[0] for h in b.handles}
        return 2 if kinds_a & kinds_b else 0  # different networks say nothing


class Identifier:
    """Configured identifiers (a customer number): equal, one typo apart, or different."""

    name = "identifier"
    levels = ("missing", "exact", "typo", "different")
    m = (0.0, 0.90, 0.06, 0.04)
    u = (0.0, 1e-8, 1e-6, 0.999999)

    def compare(self, a: Profile, b: Profile) -> int:
        if not a.identifiers or not b.identifiers:
            return 0
        shared = a.identifiers.keys() & b.identifiers.keys()
        if not shared:
            return 0
        best = 3
        for key in shared:
            x, y = a.identifiers[key], b.identifiers[key]
            if x == y:
                return 1
            if len(x) > 3 and Levenshtein.distance(x, y, score_cutoff=1) <= 1:
                best = 2
        return best


def _name_level(x: str, y: str, initials: bool) -> int:
    """exact, jw>=0.92, jw>=0.80, [initial], different; 0 missing."""
    if not x or not y:
        return 0
    if x == y:
        return 1
    similarity = _jw(x, y)
    if similarity >= 0.92:
        return 2
    if similarity >= 0.80:
        return 3
    if initials and x[0] == y[0] and (len(x) == 1 or len(y) == 1):
        return 4
    return 5 if initials else 4


class GivenName:
    name = "given"
    levels = ("missing", "exact", "jw92", "jw80", "initial", "different")
    m = (0.0, 0.86, 0.06, 0.03, 0.02, 0.03)
    u = (0.0, 0.01, 0.005, 0.02, 0.02, 0.945)

    def compare(self, a: Profile, b: Profile) -> int:
        return _name_level(a.given, b.given, initials=True)


class FamilyName:
    name = "family"
    levels = ("missing", "exact", "jw92", "jw80", "different")
    m = (0.0, 0.86, 0.07, 0.03, 0.04)
    u = (0.0, 0.003, 0.003, 0.01, 0.984)

    def compare(self, a: Profile, b: Profile) -> int:
        return _name_level(a.family, b.family, initials=False)


def _digits_near(x: str, y: str) -> bool:
    """One substitution, or two adjacent characters transposed."""
    if len(x) != len(y):
        return Levenshtein.distance(x, y, score_cutoff=1) <= 1
    diff = [i for i, (p, q) in enumerate(zip(x, y, strict=True)) if p != q]
    if len(diff) == 1:
        return True
    return len(diff) == 2 and diff[1] == diff[0] + 1 and \
        x[diff[0]] == y[diff[1]] and x[diff[1]] == y[diff[0]]


class Birthday:
    """Same date; a near miss (one digit, two swapped, day and month swapped); close (two
    digits apart: typing slips, never a parent and a child); different."""

    name = "birthday"
    levels = ("missing", "exact", "near", "close", "different")
    m = (0.0, 0.86, 0.07, 0.03, 0.04)
    u = (0.0, 0.0001, 0.002, 0.01, 0.9879)

    def compare(self, a: Profile, b: Profile) -> int:
        x, y = a.birthday, b.birthday
        if not x or not y:
            return 0
        if x.startswith("--") or y.startswith("--"):
            # A birthday without its year (Google's and vCard's `--04-02`) agrees on the
            # day and month at most, as two people in 365 do: a near miss when they
            # agree, nothing when they do not (never "different", so no veto fires).
            return 2 if x[-5:] == y[-5:] else 0
        if x == y:
            return 1
        dx, dy = x.replace("-", ""), y.replace("-", "")
        if _digits_near(dx, dy):
            return 2
        if x[:4] == y[:4] and x[5:7] == y[8:10] and x[8:10] == y[5:7]:
            return 2
        if Levenshtein.distance(dx, dy, score_cutoff=2) <= 2:
            return 3
        return 4


def _neighbours(x: str, y: str) -> bool:
    """Postcodes of one length that differ in their last character only."""
    return len(x) == len(y) > 1 and x[:-1] == y[:-1]


def _street_level(a: Profile, b: Profile) -> int:
    """1 the same house, 2 a similar street (a rougher spelling), 3 a different street,
    4 the same street with another house number; 0 when a street is missing on either side.

    Street names are compared as sets of words too, so a part left out or moved
    ("4, bynoe place, rhosewyn" / "4, rhosewyn, bynoe place") is still the same street.
    """
    if not a.street or not b.street:
        return 0
    x, y = a.street_name, b.street_name
    alike = x == y or _jw(x, y) >= 0.92 or fuzz.token_set_ratio(x, y) >= 90
    if a.houses and b.houses and not a.houses & b.houses:
        return 4 if alike or _jw(x, y) >= 0.90 else 3
    if alike:
        return 1
    return 2 if _jw(a.street, b.street) >= 0.85 else 3


class Place:
    """Where someone works or lives, as one comparison: company and address together.

    Colleagues share a company *and* its address, relatives a home: scored as separate
    fields, those would count one fact three or four times (the street implies the postcode
    and the city) and outweigh two plainly different names. So the levels are one scale,
    best first: the same company at the same address; the same company; the same house
    (no company in common); the same postcode (and no other street or house); the same
    city, the same postcode with another street or house, or a neighbouring postcode; known
    and different companies; different addresses.
    """

    name = "place"
    levels = ("missing", "company_street", "company", "street", "postcode", "city",
              "other_company", "different")
    m = (0.0, 0.45, 0.15, 0.20, 0.06, 0.04, 0.05, 0.05)
    u = (0.0, 0.0005, 0.0005, 0.0003, 0.003, 0.05, 0.50, 0.4457)

    def compare(self, a: Profile, b: Profile) -> int:
        street = _street_level(a, b)
        postcode = 0
        if a.postcode and b.postcode:
            postcode = 1 if a.postcode == b.postcode else 2 if _digits_near(a.postcode,
                                                                             b.postcode) else 3
        # A neighbouring postcode is a real proximity: the same district and the last
        # digit apart (69002, 69003), never a difference further up (4220, 4120: another
        # town, perhaps another state). A typo elsewhere only counts at the same house.
        neighbour = postcode == 1 or (postcode == 2 and _neighbours(a.postcode, b.postcode))
        city = 0
        if a.city and b.city:
            city = 1 if a.city == b.city or _jw(a.city, b.city) >= 0.88 else 3
        # The same house needs its locality to agree somewhere (a typo in the postcode or
        # the town is common) and nowhere plainly to disagree on both.
        same_house = street == 1 and (postcode in (1, 2) or city == 1)
        if a.companies and b.companies:
            if a.companies & b.companies:
                return 1 if same_house else 2
            if not same_house:
                return 6
        if same_house:
            return 3
        if (postcode == 1 and street in (0, 2)) or (street == 1 and not postcode and not city):
            return 4
        if neighbour or (city == 1 and postcode != 3):
            return 5
        if street or postcode or city:
            return 7
        return 0


BUILTIN: tuple[type[Any], ...] = (
    Email, Phone, Handle, Identifier, GivenName, FamilyName, Birthday, Place,
)


def comparator_problem(cls: type[Any]) -> str | None:
    """Why a plugin's comparator class cannot be used (``None``: it can)."""
    try:
        instance = cls()
        name, levels, m, u = instance.name, instance.levels, instance.m, instance.u
    except Exception as exc:
        return (f"comparator {cls.__name__} cannot be built (it needs name, levels, m, u): "
                f"{type(exc).__name__}: {exc}")
    if name in {c.name for c in BUILTIN}:
        return f"comparator {name!r} is built in: a plugin may not replace it"
    if not levels or levels[0] != "missing" or len(m) != len(levels) or len(u) != len(levels):
        return (f"comparator {name!r}: levels must start with 'missing' and m/u give one "
                "probability per level")
    return None


def comparators(extra: Iterable[type[Any]] = ()) -> list[Comparator]:
    """The built-in comparators and the plugins' ones (a plugin may not replace a built-in)."""
    out: list[Comparator] = [cls() for cls in BUILTIN]
    for cls in extra:
        problem = comparator_problem(cls)
        if problem is not None:
            raise ValueError(problem)
        out.append(cls())
    return out


def swapped(a: Profile) -> Profile:
    """The same record with given and family names swapped (a common data-entry slip)."""
    return replace(a, given=a.family, family=a.given)
