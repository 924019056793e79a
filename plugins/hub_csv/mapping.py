"""The generic mapping: an admin names, for each column, the Observation field it fills.

Targets (``mapping = { "Prénom" = "person.given_name", ... }``):

* ``external_id`` — the record's id in the source;
* ``person.given_name|family_name|full_name|title|birthday|language``;
* ``person.emails`` / ``person.phones``, optionally with a label: ``person.phones.mobile``
  (a cell holding several values joins them with `` ::: ``);
* ``person.company.name|domain|website|industry|employees|revenue`` (a headcount or a
  revenue as the source writes it: ``"51-200"``, ``"2.5M"``),
  ``person.address.street|city|postcode|region|country``;
* ``person.handles.<network>``, ``person.identifiers.<name>``, ``person.custom.<name>``;
* ``person.tags`` (split on `` ::: ``, ``;`` and ``,``), ``person.urls`` (social profiles
  become handles, another URL the website);
* ``person.opt_out.email|phone``, ``person.consent.email|phone``: a column saying yes
  (``TRUE``, ``1``, ``x``, ``Oui``) opts every e-mail (phone) of the row out, or records
  consent to it.

Several columns mapped to one street are joined with ``", "``; for another single value
the first non-empty column wins. Column names match case- and space-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hub_csv.person import PersonBuilder, parse_label, split_multi
from hub_csv.presets import Cells, Columns, fold_header

_MULTI = ("emails", "phones")  # a repeated column adds values
_SCALARS = ("given_name", "family_name", "full_name", "title", "birthday", "language")
_PARTS = {
    "company": ("name", "domain", "website", "industry", "employees", "revenue"),
    "address": ("street", "city", "postcode", "region", "country"),
}
_KEYED = ("handles", "identifiers", "custom")
_PREFERENCES = ("opt_out", "consent")  # a yes applies to every e-mail (phone) of the row
_TAG_SPLIT = re.compile(r"\s*(?: ::: |;|,)\s*")


@dataclass(frozen=True)
class Target:
    """A parsed target path: ``section`` and, for keyed or labelled targets, ``key``."""

    section: str
    key: str | None = None


def parse_target(path: str) -> Target:
    """Parse a mapping target, raising ``ValueError`` with the accepted forms."""
    text = path.strip()
    if text == "external_id":
        return Target("external_id")
    parts = text.split(".", 2)
    if parts[0] == "person" and len(parts) >= 2:
        section, rest = parts[1], parts[2] if len(parts) == 3 else None
        if section in _SCALARS and rest is None:
            return Target(section)
        if section in ("emails", "phones"):
            return Target(section, parse_label(rest)[0] if rest else None)
        if section in ("tags", "urls") and rest is None:
            return Target(section)
        if section in _PARTS and rest in _PARTS[section]:
            return Target(section, rest)
        if section in _KEYED and rest:
            return Target(section, rest)
        if section in _PREFERENCES and rest in ("email", "phone"):
            return Target(section, rest)
    raise ValueError(
        f"unknown target {path!r}; use external_id, person.given_name, person.family_name, "
        "person.full_name, person.title, person.birthday, person.language, person.emails[.label], "
        "person.phones[.label], person.company.name|domain|website|industry|employees|revenue, "
        "person.address.street|city|postcode|region|country, person.handles.X, "
        "person.identifiers.X, person.custom.X, person.tags, person.urls or "
        "person.opt_out|consent.email|phone"
    )


Extract = Callable[[Cells], PersonBuilder]


@dataclass(frozen=True)
class MappedHeader:
    """A mapping resolved against one header."""

    extract: Extract
    id_position: int | None
    missing: list[str]  # mapped columns the header does not have


def matches(header: Sequence[str], mapping: dict[str, str], id_column: str | None) -> bool:
    """Whether ``header`` is the header row for this mapping (it names a mapped column)."""
    columns = Columns(header)
    return any(name in columns for name in [*mapping, *([id_column] if id_column else [])])


def resolve(header: Sequence[str], mapping: dict[str, str], id_column: str | None) -> MappedHeader:
    """Bind ``mapping`` to the positions of ``header``."""
    columns = Columns(header)
    bound: list[tuple[int, Target]] = []
    missing: list[str] = []
    id_position = columns.find(id_column) if id_column else None
    for name, path in mapping.items():
        position = columns.find(name)
        if position is None:
            missing.append(name)
            continue
        target = parse_target(path)
        if target.section == "external_id":
            id_position = position if id_position is None else id_position
        elif target.section in _MULTI:
            # A repeated column of e-mails or phones: every one of them is read.
            positions = columns.find_all(name) if fold_header(name) in columns.names else \
                [position]
            bound.extend((p, target) for p in positions)
        else:
            bound.append((position, target))

    setters = [(position, setter(target)) for position, target in bound]
    width = len(header)

    def extract(cells: Cells) -> PersonBuilder:
        person = PersonBuilder()
        short = len(cells) < width
        for position, put in setters:
            if short and position >= len(cells):
                continue
            value = cells[position].strip()
            if value:
                put(person, value)
        return person

    return MappedHeader(extract, id_position, missing)


Setter = Callable[[PersonBuilder, str], None]


def setter(target: Target) -> Setter:
    """The function that puts a cell's value into ``target``, chosen once per header."""
    section, key = target.section, target.key
    if section in _SCALARS:

        def scalar(person: PersonBuilder, value: str) -> None:
            if getattr(person, section) is None:
                setattr(person, section, value)

        return scalar
    if section == "emails":
        return lambda person, value: _each(value, person.add_email, key)
    if section == "phones":
        return lambda person, value: _each(value, person.add_phone, key)
    if section == "tags":
        return lambda person, value: person.add_tags(_TAG_SPLIT.split(value))
    if section == "urls":

        def urls(person: PersonBuilder, value: str) -> None:
            for item in split_multi(value):
                person.add_url(item)

        return urls
    assert key is not None  # parse_target gives every other section a key
    if section in _PREFERENCES:
        return lambda person, value: person.set_preference(key, section, value)
    if section == "address" and key == "street":

        def street(person: PersonBuilder, value: str) -> None:
            before = person.address.get("street")
            person.address["street"] = f"{before}, {value}" if before else value

        return street

    def keyed(person: PersonBuilder, value: str) -> None:
        getattr(person, section).setdefault(key, value)

    return keyed


def _each(value: str, add: Callable[[str, str | None], None], label: str | None) -> None:
    for item in split_multi(value):
        add(item, label)
