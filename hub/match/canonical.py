"""An Observation turned into its normalised, stored form and its identity keys.

The normalised form is what ``source_records.data`` holds and what survivorship reads: it
is computed once at ingest, so rebuilding a golden record never normalises again. A field
that fails normalisation is kept raw and flagged, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hub.match.blocking import BLOCK, name_keys
from hub.normalize import (
    clean_company_name,
    clean_text,
    company_name_key,
    domain_from_website,
    handle_from_url,
    is_not_employer,
    is_shared_label,
    normalize_birthday,
    normalize_country,
    normalize_email,
    normalize_handle,
    normalize_name,
    normalize_phone,
    parse_amount,
    parse_headcount,
)
from hub.records import Address, ContactValue, PersonData

STRONG = "strong"  # one shared key means the same person
WEAK = "weak"  # a shared key means the same person only when the names agree
NAME = "name"  # never identifies; stored so name checks and blocking need no JSON


@dataclass(frozen=True)
class IdentityKey:
    kind: str  # "email", "phone", "linkedin", "id:customer_number", ...
    key: str
    strength: str


@dataclass
class Policy:
    """What the core knows about us: our domains and lines, the default region."""

    own_domains: frozenset[str] = frozenset()
    own_numbers: frozenset[str] = frozenset()
    default_region: str | None = None
    identifiers: tuple[str, ...] = ()


@dataclass
class CanonicalPerson:
    data: dict[str, Any]
    keys: list[IdentityKey] = field(default_factory=list)
    own: bool = False  # one of our own people: never a contact

    @property
    def identifiable(self) -> bool:
        d = self.data
        return bool(self.keys or d.get("given_name") or d.get("family_name")
                    or d.get("full_name"))


# Column sizes of the central model: longer input is cut and flagged, never a failed batch.
LIMITS = {"given_name": 200, "family_name": 200, "full_name": 400, "title": 300,
          "language": 35, "label": 60, "point": 320, "company": 300, "website": 500}


def _clip(value: str | None, field: str, flags: list[str]) -> str | None:
    limit = LIMITS[field]
    if value is None or len(value) <= limit:
        return value
    flags.append(f"truncated:{field}")
    return value[:limit]


def _label(value: str | None) -> str | None:
    text = clean_text(value)
    return text.removeprefix("* ").lower()[:LIMITS["label"]] if text else None


def canonical_person(person: PersonData, policy: Policy, region: str | None) -> CanonicalPerson:
    """A person's normalised data, its identity keys and whether it is one of our own.

    ``flags`` collect what was clipped or invalid, in the order the fields are read:
    e-mails, phones, company, address, birthday, then the names.
    """
    region = region or policy.default_region
    flags: list[str] = []
    keys: list[IdentityKey] = []
    name = normalize_name(person.given_name, person.family_name, person.full_name)
    emails, work_domains, own = _emails(person, policy, keys, flags)
    phones = _phones(person, policy, region, keys, flags)
    handles = _handles(person, keys)
    identifiers = _identifiers(person, policy, keys)
    company = _company(person, work_domains, flags)
    address, country = _address(person.address, flags)
    birthday = _birthday(person, flags)
    flags.extend(f"phone_invalid:{p['value']}" for p in phones if "invalid" in p["flags"])
    flags.extend(f"email_invalid:{e['value']}" for e in emails if "invalid" in e["flags"])

    if name.family_key or name.given_key:
        keys.append(IdentityKey("name", f"{name.family_key}|{name.given_key}", NAME))
    data = {
        "given_name": _clip(name.given, "given_name", flags),
        "family_name": _clip(name.family, "family_name", flags),
        "full_name": _clip(name.full, "full_name", flags),
        "given_key": name.given_key, "family_key": name.family_key,
        "title": _clip(clean_text(person.title), "title", flags), "birthday": birthday,
        "language": _clip(clean_text(person.language), "language", flags),
        "emails": emails, "phones": phones, "handles": handles,
        "company": company, "address": address,
        "country": country,
        "tags": sorted({t for t in (clean_text(t) for t in person.tags) if t}),
        "custom": person.custom, "identifiers": identifiers, "flags": flags,
    }
    flags.extend(_mojibake(data))
    keys.extend(IdentityKey(kind, key, BLOCK) for kind, key in name_keys(data))
    return CanonicalPerson(data=data, keys=_unique(keys), own=own)


# UTF-8 read as Windows-1252 or Latin-1: "HÃ©lÃ¨ne", "lâ€™atelier", "Â " for a no-break space.
_MOJIBAKE = re.compile("[\u00c2\u00c3][\u0080-\u00bf]|\u00e2\u20ac[\u0080-\u2122]")


def _mojibake(data: dict[str, Any]) -> list[str]:
    """``mojibake:FIELD`` for each text that looks like UTF-8 decoded as a single-byte
    codepage: kept as it came (a source's bytes are its own), flagged for a person to see."""
    texts = {name: data.get(name) for name in ("given_name", "family_name", "full_name",
                                                "title")}
    texts["company"] = (data.get("company") or {}).get("name")
    for part, value in (data.get("address") or {}).items():
        texts[f"address.{part}"] = value
    return [f"mojibake:{name}" for name, value in texts.items()
            if isinstance(value, str) and _MOJIBAKE.search(value)]


def _emails(person: PersonData, policy: Policy, keys: list[IdentityKey],
            flags: list[str]) -> tuple[list[dict[str, Any]], list[str], bool]:
    """The e-mail points; the domains of work addresses (where the employer may be);
    whether an address is in one of our own domains. Valid non-role addresses are keys."""
    emails: list[dict[str, Any]] = []
    work_domains: list[str] = []
    own = False
    for item in _dedupe(person.emails):
        result = normalize_email(item.value)
        if result is None:
            continue
        email_flags = []
        if not result.valid:
            email_flags.append("invalid")
        if result.is_role:
            email_flags.append("role")
        if result.is_freemail:
            email_flags.append("freemail")
        if result.valid and result.domain in policy.own_domains:
            own = True
        emails.append({"value": _clip(result.value, "point", flags),
                       "key": _clip(result.key, "point", flags) or None,
                       "label": _label(item.label), "primary": item.primary,
                       "flags": email_flags})
        if result.valid and not result.is_role:
            keys.append(IdentityKey("email", result.key, STRONG))
        if result.valid and not result.is_freemail:
            work_domains.append(result.domain)
    return emails, work_domains, own


def _phones(person: PersonData, policy: Policy, region: str | None,
            keys: list[IdentityKey], flags: list[str]) -> list[dict[str, Any]]:
    """The phone points; a valid number of one person (not shared, no extension) is a
    weak key."""
    phones: list[dict[str, Any]] = []
    for item in _dedupe(person.phones):
        parsed = normalize_phone(item.value, region)
        if parsed is None:
            continue
        label = _label(item.label)
        phone_flags = []
        if not parsed.valid:
            phone_flags.append("invalid")
        shared = is_shared_label(label) or (parsed.e164 in policy.own_numbers)
        if shared:
            phone_flags.append("shared")
        phones.append({"value": _clip(parsed.value, "point", flags), "label": label,
                       "primary": item.primary,
                       "flags": phone_flags})
        if parsed.valid and parsed.e164 and not shared and not parsed.extension:
            keys.append(IdentityKey("phone", parsed.e164, WEAK))
    return phones


def _handles(person: PersonData, keys: list[IdentityKey]) -> dict[str, str]:
    """Social handles by network (a profile URL tells its own network); each a key."""
    handles: dict[str, str] = {}
    for kind, value in sorted(person.handles.items()):
        guess = handle_from_url(value)
        if guess is not None:
            kind, handle = guess
        else:
            handle = normalize_handle(kind.lower(), value)  # type: ignore[assignment]
        if handle:
            handle = handle[:LIMITS["point"]]
            handles[kind.lower()] = handle
            keys.append(IdentityKey(kind.lower(), handle, STRONG))
    return handles


def _identifiers(person: PersonData, policy: Policy,
                 keys: list[IdentityKey]) -> dict[str, str | None]:
    """Identifiers as cleaned text; those the policy trusts are keys."""
    identifiers = {k: clean_text(v) for k, v in sorted(person.identifiers.items())
                   if clean_text(v)}
    for name in policy.identifiers:
        if identifiers.get(name):
            keys.append(IdentityKey(f"id:{name}", str(identifiers[name]), STRONG))
    return identifiers


def _birthday(person: PersonData, flags: list[str]) -> str | None:
    if not person.birthday:
        return None
    parsed = normalize_birthday(person.birthday)
    if parsed is not None and parsed.valid:
        return parsed.value
    if parsed is not None:
        flags.append(f"birthday_invalid:{person.birthday}")
    return None


def _dedupe(values: list[ContactValue]) -> list[ContactValue]:
    seen: set[str] = set()
    out = []
    for item in values:
        if item.value and item.value not in seen:
            seen.add(item.value)
            out.append(item)
    return out


def _unique(keys: list[IdentityKey]) -> list[IdentityKey]:
    return list(dict.fromkeys(keys))


def _company(person: PersonData, work_domains: list[str],
             flags: list[str]) -> dict[str, Any] | None:
    ref = person.company
    name = _clip(clean_company_name(ref.name) if ref else None, "company", flags)
    if is_not_employer(name):  # "Freelance", "Retraité", "N/A": no employer
        name = None
    domain = None
    if ref is not None:
        domain = (ref.domain or "").strip().lower().removeprefix("www.") or None
        domain = domain or domain_from_website(ref.website)
    if domain is None and work_domains:
        # A work address names the employer's domain; free-mail never does.
        domain = work_domains[0]
    if not name and not domain:
        return None
    block = {"name": name, "name_key": company_name_key(name)[:LIMITS["company"]] or None,
             "domain": domain[:253] if domain else None,
             "website": _clip(clean_text(ref.website) if ref else None, "website", flags)}
    if ref is not None:  # only when given: records without them keep their stored shape
        block.update(company_facts(ref.industry, ref.employees, ref.revenue, flags))
    return block


def company_facts(industry: str | None, employees: object, revenue: object,
                  flags: list[str]) -> dict[str, Any]:
    """A company's industry, headcount and revenue, normalised; each only when given. A
    value that reads as no number is dropped and flagged (``unparsed:company.employees``)."""
    out: dict[str, Any] = {}
    if text := _clip(clean_text(industry), "company", flags):
        out["industry"] = text
    for name, value, parse in (("employees", employees, parse_headcount),
                               ("revenue", revenue, parse_amount)):
        if value is None or value == "":
            continue
        number = parse(value)
        if number is None:
            flags.append(f"unparsed:company.{name}")
        else:
            out[name] = number
    return out


def _address(address: Address | None,
             flags: list[str]) -> tuple[dict[str, Any] | None, str | None]:
    """The address (free text kept as written) and its ISO country, when recognised."""
    if address is None or address.is_empty():
        return None, None
    out = {k: clean_text(v) for k, v in address.model_dump().items()}
    country = None
    if address.country:
        country = normalize_country(address.country)
        if country is None:
            flags.append(f"country_unknown:{clean_text(address.country)}")
        out["country"] = country or clean_text(address.country)
    return {k: v for k, v in out.items() if v}, country
