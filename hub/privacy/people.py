"""Who a data-protection request is about: every contact holding the person's identifiers.

A person may be held as several contacts (an unmerged duplicate, one below the review
threshold): the request's e-mail or phone finds the contacts that hold it; their records'
identifiers (e-mails, handles, configured identifiers, and mobile numbers no one else
holds) find the others once more. A switchboard or a number shared by colleagues never
leads to a colleague: only a key no record outside the person holds counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from hub.match.blocking import NAME_KINDS
from hub.match.resolve import live_contacts
from hub.normalize import is_mobile
from hub.privacy.consent import point_of
from hub.store.db import chunks
from hub.store.model import Contact, MatchKey, SharedPoint, SourceRecord

Key = tuple[str, str]  # (match key kind, key): ("email", "ada@x.io"), ("phone", "+33...")


class NotFound(LookupError):
    """Nothing held matches the request."""


@dataclass
class Subject:
    """The person a request is about, as the store holds them."""

    contacts: list[int]  # live contacts, the one asked for first
    members: set[int]  # those and every contact merged into them
    records: list[int]  # their person source records (tombstoned ones too)
    keys: set[Key]  # the identity keys of those records
    found_by: dict[int, str] = field(default_factory=dict)  # contact -> how it was found

    @property
    def several(self) -> bool:
        return len(self.contacts) > 1


def seed_keys(email: str | None, phone: str | None, region: str | None) -> set[Key]:
    """The match keys of the identifiers a request names; ValueError if one is not valid."""
    keys: set[Key] = set()
    if email:
        if (point := point_of("email", email)) is None:
            raise ValueError(f"not a valid e-mail address: {email!r}")
        keys.add(point)
    if phone:
        if (point := point_of("phone", phone, region)) is None:
            raise ValueError(f"not a valid phone number: {phone!r} (a national number needs "
                             "[hub] default_region or the +country form)")
        keys.add(point)
    return keys


def find_subject(session: Session, *, email: str | None = None, phone: str | None = None,
                 contact: int | None = None, region: str | None = None) -> Subject:
    seeds = seed_keys(email, phone, region)
    found: dict[int, str] = {}
    if contact is not None:
        if session.get(Contact, contact) is None:
            raise NotFound(f"no contact {contact}")
        found[live_contacts(session, [contact])[contact]] = f"contact {contact}"
    for live, how in _holders(session, seeds).items():
        found.setdefault(live, how)
    if not found:
        raise NotFound("no contact holds " + " or ".join(
            "that e-mail address" if kind == "email" else "that phone number"
            for kind, _ in sorted(seeds)))
    members = _members(session, set(found))
    records = _records(session, members)
    keys = _identity_keys(session, records)
    # Once more: the same person held as another contact, through a key only they hold.
    extra = {k for k in keys if k not in seeds and _personal(k)}
    others = {live: how for live, how in _holders(session, extra).items() if live not in found}
    if others:
        found.update({live: f"shares {how.removeprefix('holds ')}"
                      for live, how in others.items()})
        members = _members(session, set(found))
        records = _records(session, members)
        keys = _identity_keys(session, records)
    return Subject(list(found), members, records, keys, found)


def _personal(key: Key) -> bool:
    """Keys that name one person: an e-mail, a handle, an identifier; of phones only a
    mobile (a landline is shared by a household or a team)."""
    kind, value = key
    return kind != "phone" or is_mobile(value)


def _holders(session: Session, keys: set[Key]) -> dict[int, str]:
    """The live contacts holding any of ``keys``, with the kind of key that found them."""
    holders: dict[int, str] = {}
    shared = _shared(session, keys)
    for chunk in chunks(sorted(keys - shared)):
        for kind, contact_id in session.execute(
                select(MatchKey.kind, MatchKey.contact_id)
                .where(tuple_(MatchKey.kind, MatchKey.key).in_(chunk))
                .order_by(MatchKey.contact_id)):
            holders.setdefault(contact_id, kind)
    live = live_contacts(session, holders)
    out: dict[int, str] = {}
    for contact_id, kind in holders.items():
        out.setdefault(live[contact_id], f"holds the {_name(kind)}")
    return out


def _name(kind: str) -> str:
    return {"email": "e-mail address", "phone": "phone number"}.get(
        kind, f"identifier {kind.removeprefix('id:')}" if kind.startswith("id:")
        else f"{kind} profile")


def _shared(session: Session, keys: set[Key]) -> set[Key]:
    """Keys the matcher found shared by several people (a switchboard, a household line)."""
    out: set[Key] = set()
    for chunk in chunks(sorted(keys)):
        out.update((kind, value) for kind, value in session.execute(
            select(SharedPoint.kind, SharedPoint.value)
            .where(tuple_(SharedPoint.kind, SharedPoint.value).in_(chunk))))
    return out


def _members(session: Session, live: set[int]) -> set[int]:
    """These contacts and every contact merged into them, at any depth."""
    members, frontier = set(live), set(live)
    while frontier:
        below: set[int] = set()
        for chunk in chunks(sorted(frontier)):
            below.update(session.scalars(select(Contact.id)
                                         .where(Contact.merged_into_id.in_(chunk))))
        frontier = below - members
        members |= frontier
    return members


def _records(session: Session, members: set[int]) -> list[int]:
    records: list[int] = []
    for chunk in chunks(sorted(members)):
        records += session.scalars(select(SourceRecord.id).where(
            SourceRecord.contact_id.in_(chunk), SourceRecord.kind == "person"))
    return sorted(records)


def _identity_keys(session: Session, records: list[int]) -> set[Key]:
    keys: set[Key] = set()
    for chunk in chunks(records):
        keys.update((kind, key) for kind, key in session.execute(
            select(MatchKey.kind, MatchKey.key).where(MatchKey.source_record_id.in_(chunk)))
            if kind not in NAME_KINDS)
    return keys


def suppression_keys(session: Session, subject: Subject) -> set[Key]:
    """The subject's identity keys that no one else holds: a switchboard, an assistant's
    line or a shared address (held by another record, or found shared by the matcher)
    would suppress colleagues, so it is not one."""
    mine = set(subject.records)
    keys = subject.keys - _shared(session, subject.keys)
    held_elsewhere: set[Key] = set()
    for chunk in chunks(sorted(keys)):
        held_elsewhere.update(
            (kind, key) for kind, key, record in session.execute(
                select(MatchKey.kind, MatchKey.key, MatchKey.source_record_id)
                .where(tuple_(MatchKey.kind, MatchKey.key).in_(chunk)))
            if record not in mine)
    return keys - held_elsewhere
