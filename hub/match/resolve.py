"""Identity resolution behind a small interface: which contact does a person record join?

:class:`DeterministicResolver` is the rule the core data path ships with: the same
normalised e-mail key, social handle or configured identifier means the same contact; the
same phone number does too, unless the names disagree, in which case the number is a
*shared* line (seen on two different people) and never identifies anyone again. A record
whose keys reach two contacts merges them (``decided_by = "rule"``). The probabilistic
matcher of the matching issue replaces this class behind the same :class:`Resolver`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.orm import Session

from hub.canonical import STRONG, CanonicalPerson, IdentityKey
from hub.model import (
    Contact,
    ContactPoint,
    InteractionContact,
    MatchKey,
    MergeEvent,
    SharedPoint,
    SourceRecord,
)


@dataclass
class Decision:
    """The contact a record joins (``None``: a new one) and the contacts to merge into it."""

    contact_id: int | None
    merge: dict[int, str] = field(default_factory=dict)  # merged contact -> reason
    shared: list[IdentityKey] = field(default_factory=list)  # keys found to be shared


class Resolver(Protocol):
    def resolve(self, session: Session, person: CanonicalPerson,
                current: int | None) -> Decision: ...


def names_compatible(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Could two normalised records be the same person by name? Missing parts never disagree."""
    family_a, family_b = a.get("family_key") or "", b.get("family_key") or ""
    given_a, given_b = a.get("given_key") or "", b.get("given_key") or ""
    if family_a and family_b and family_a != family_b:
        return False
    if given_a and given_b and given_a != given_b:
        return given_a[0] == given_b[0] and (len(given_a) == 1 or len(given_b) == 1)
    return True


def contact_names_compatible(session: Session, data: dict[str, Any], contact_id: int) -> bool:
    """Compatible with at least one live source record of the contact (golden names may
    not be rebuilt yet inside the batch)."""
    records = session.scalars(select(SourceRecord.data).where(
        SourceRecord.contact_id == contact_id, SourceRecord.deleted_at.is_(None),
        SourceRecord.kind == "person"))
    return any(names_compatible(data, other) for other in records)


def live_contact(session: Session, contact_id: int) -> int:
    """Follow ``merged_into_id`` to the contact that stands for ``contact_id`` now."""
    seen = set()
    while contact_id not in seen:
        seen.add(contact_id)
        target = session.get(Contact, contact_id)
        if target is None or target.merged_into_id is None:
            return contact_id
        contact_id = target.merged_into_id
    return contact_id


class DeterministicResolver:
    """Exact identity keys; phones only when the names agree."""

    def resolve(self, session: Session, person: CanonicalPerson,
                current: int | None) -> Decision:
        keys = person.keys
        phones = [k.key for k in keys if k.kind == "phone"]
        shared = set()
        if phones:
            shared = set(session.scalars(select(SharedPoint.value).where(
                SharedPoint.kind == "phone", SharedPoint.value.in_(phones))))
        live = [k for k in keys if not (k.kind == "phone" and k.key in shared)]
        hits: dict[int, list[IdentityKey]] = {}
        if live:
            by_pair = {(k.kind, k.key): k for k in live}
            rows = session.execute(select(MatchKey.kind, MatchKey.key, MatchKey.contact_id)
                                   .where(tuple_(MatchKey.kind, MatchKey.key)
                                          .in_(list(by_pair))))
            for kind, key, contact_id in rows:
                hits.setdefault(live_contact(session, contact_id), []).append(
                    by_pair[(kind, key)])
        strong = {c for c, found in hits.items() if any(k.strength == STRONG for k in found)}
        if current is not None:
            strong.add(live_contact(session, current))
        decision = Decision(contact_id=min(strong) if strong else None)
        for contact_id in sorted(strong - {decision.contact_id}):
            decision.merge[contact_id] = _reason(hits.get(contact_id, []))
        for contact_id in sorted(set(hits) - strong):
            if contact_names_compatible(session, person.data, contact_id):
                if decision.contact_id is None:
                    decision.contact_id = contact_id
                else:
                    decision.merge[contact_id] = _reason(hits[contact_id])
            else:
                decision.shared.extend(hits[contact_id])
        return decision


def _reason(keys: Iterable[IdentityKey]) -> str:
    return "same " + ", ".join(sorted({k.kind for k in keys})) if keys else "same record"


def mark_shared(session: Session, keys: Iterable[IdentityKey], now: datetime) -> None:
    """Record points seen on two different people; they stop identifying anyone."""
    for key in {(k.kind, k.key) for k in keys}:
        exists = session.scalar(select(SharedPoint.id).where(
            SharedPoint.kind == key[0], SharedPoint.value == key[1]))
        if exists is None:
            session.add(SharedPoint(kind=key[0], value=key[1], created_at=now,
                                    reason="seen on two people whose names differ"))


def merge_contacts(session: Session, survivor_id: int, merged_id: int, *, reason: str,
                   decided_by: str, score: float, now: datetime) -> MergeEvent:
    """Move everything of ``merged_id`` onto ``survivor_id``; keep what unmerge needs."""
    sources = list(session.scalars(select(SourceRecord.id)
                                   .where(SourceRecord.contact_id == merged_id)))
    links = list(session.execute(select(InteractionContact.interaction_id,
                                        InteractionContact.role)
                                 .where(InteractionContact.contact_id == merged_id)))
    merged = session.get(Contact, merged_id)
    assert merged is not None
    event = MergeEvent(entity="contact", survivor_id=survivor_id, merged_id=merged_id,
                       score=score, comparison={"rule": reason}, decided_by=decided_by,
                       reason=reason, created_at=now,
                       snapshot={"source_records": sources,
                                 "interactions": [[i, r] for i, r in links],
                                 "owner": merged.owner, "stage": merged.stage})
    session.add(event)
    session.execute(update(SourceRecord).where(SourceRecord.contact_id == merged_id)
                    .values(contact_id=survivor_id))
    session.execute(update(MatchKey).where(MatchKey.contact_id == merged_id)
                    .values(contact_id=survivor_id))
    session.execute(delete(ContactPoint).where(ContactPoint.contact_id == merged_id))
    existing = set(session.execute(select(InteractionContact.interaction_id,
                                          InteractionContact.role)
                                   .where(InteractionContact.contact_id == survivor_id)))
    for interaction_id, role in links:
        if (interaction_id, role) in existing:
            session.execute(delete(InteractionContact).where(
                InteractionContact.contact_id == merged_id,
                InteractionContact.interaction_id == interaction_id,
                InteractionContact.role == role))
    session.execute(update(InteractionContact).where(InteractionContact.contact_id == merged_id)
                    .values(contact_id=survivor_id))
    merged.merged_into_id = survivor_id
    merged.updated_at = now
    session.flush()
    return event
