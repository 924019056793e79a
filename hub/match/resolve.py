"""What every resolver shares: the item it resolves, live contacts, merges, caps and the
rejections users made.

The matcher itself is :class:`hub.match.engine.ProbabilisticResolver`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from hub.match.canonical import CanonicalPerson
from hub.store.db import IN_CHUNK, among, chunks
from hub.store.model import (
    Contact,
    ContactPoint,
    InteractionContact,
    MatchCandidate,
    MatchKey,
    MatchRejection,
    MergeEvent,
    SharedPoint,
    SourceRecord,
)

CHUNK = IN_CHUNK


@dataclass
class Item:
    """One person record to resolve; ``current`` is the contact it belongs to already."""

    person: CanonicalPerson
    current: int | None = None
    record_id: int | None = None  # the stored source record this is a new version of


def pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def rejected_between(session: Session, left: Iterable[int], right: Iterable[int], *,
                     entity: str = "contact") -> bool:
    """Whether a user rejected any cross pair (source records; company ids for companies)."""
    pairs = {pair(a, b) for a in left for b in right}
    if not pairs:
        return False
    firsts = sorted({a for a, _ in pairs})
    found = {(a, b) for a, b in session.execute(
        select(MatchRejection.record_a, MatchRejection.record_b).where(
            MatchRejection.entity == entity, MatchRejection.record_a.in_(firsts)))}
    return bool(found & pairs)


def remember_rejection(session: Session, left: Iterable[int], right: Iterable[int], *,
                       by: str, now: datetime, entity: str = "contact") -> int:
    """Store every cross pair as "different people" (source records; company ids for
    companies); returns the new pairs."""
    pairs = sorted({pair(a, b) for a in left for b in right if a != b})
    if not pairs:
        return 0
    known = {(a, b) for a, b in session.execute(
        select(MatchRejection.record_a, MatchRejection.record_b).where(
            MatchRejection.entity == entity,
            MatchRejection.record_a.in_(sorted({a for a, _ in pairs}))))}
    fresh = [p for p in pairs if p not in known]
    session.add_all(MatchRejection(entity=entity, record_a=a, record_b=b, decided_by=by,
                                   created_at=now) for a, b in fresh)
    session.flush()
    return len(fresh)


def live_contacts(session: Session, ids: Iterable[int]) -> dict[int, int]:
    """Each id mapped to the contact that stands for it now (following merges)."""
    out: dict[int, int] = {}
    pending = sorted(set(ids))
    parent: dict[int, int | None] = {}
    while pending:
        for chunk in chunks(pending):
            for contact_id, merged_into in session.execute(
                    select(Contact.id, Contact.merged_into_id)
                    .where(among(session, Contact.id, chunk))):
                parent[contact_id] = merged_into
        pending = sorted({p for p in parent.values() if p is not None and p not in parent})
    for contact_id in set(ids):
        node, seen = contact_id, set()
        while parent.get(node) is not None and node not in seen:
            seen.add(node)
            node = parent[node]  # type: ignore[assignment]
        out[contact_id] = node
    return out


def live_contact(session: Session, contact_id: int) -> int:
    return live_contacts(session, [contact_id])[contact_id]


def mark_shared(session: Session, keys: Iterable[tuple[str, str, str]], now: datetime) -> None:
    """Cap keys (kind, value, reason): seen on two different people, or too common; they
    stop producing candidates and identifying anyone."""
    for kind, value, reason in sorted({k[:2]: k for k in keys}.values()):
        exists = session.scalar(select(SharedPoint.id).where(
            SharedPoint.kind == kind, SharedPoint.value == value))
        if exists is None:
            session.add(SharedPoint(kind=kind, value=value, created_at=now, reason=reason[:200]))


def merge_contacts(session: Session, survivor_id: int, merged_id: int, *, reason: str,
                   decided_by: str, score: float, now: datetime,
                   comparison: dict[str, Any] | None = None) -> MergeEvent:
    """Move everything of ``merged_id`` onto ``survivor_id``; keep what unmerge needs."""
    sources = list(session.scalars(select(SourceRecord.id)
                                   .where(SourceRecord.contact_id == merged_id)))
    links = list(session.execute(select(InteractionContact.interaction_id,
                                        InteractionContact.role)
                                 .where(InteractionContact.contact_id == merged_id)))
    merged = session.get(Contact, merged_id)
    assert merged is not None
    existing = {(i, r) for i, r in session.execute(
        select(InteractionContact.interaction_id, InteractionContact.role)
        .where(InteractionContact.contact_id == survivor_id))}
    both = [[i, r] for i, r in links if (i, r) in existing]
    event = MergeEvent(entity="contact", survivor_id=survivor_id, merged_id=merged_id,
                       score=score, comparison=comparison or {"rule": reason},
                       decided_by=decided_by, reason=reason, created_at=now,
                       snapshot={"source_records": sources,
                                 "interactions": [[i, r] for i, r in links],
                                 "shared_interactions": both,
                                 "owner": merged.owner, "team": merged.team,
                                 "stage": merged.stage})
    session.add(event)
    session.execute(update(SourceRecord).where(SourceRecord.contact_id == merged_id)
                    .values(contact_id=survivor_id))
    for chunk in chunks(sources):  # a key's contact is its record's (not indexed by it)
        session.execute(update(MatchKey).where(MatchKey.source_record_id.in_(chunk))
                        .values(contact_id=survivor_id))
    session.execute(delete(ContactPoint).where(ContactPoint.contact_id == merged_id))
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
    settle_candidates(session, survivor_id, sources, now, reason)
    return event


def settle_candidates(session: Session, contact_id: int, moved: Sequence[int],
                      now: datetime, why: str) -> int:
    """Close the open review items a merge settled: those whose two records are now both
    in ``contact_id`` (one of them among the ``moved`` records), and only those; an item
    that points at a third contact stays open. Returns how many were closed."""
    if not moved:
        return 0
    mine = set(session.scalars(select(SourceRecord.id).where(
        SourceRecord.contact_id == contact_id, SourceRecord.kind == "person")))
    closed = 0
    for chunk in chunks(sorted(mine)):  # both records in it: its left one is among them
        for item in session.scalars(select(MatchCandidate).where(
                MatchCandidate.entity == "contact", MatchCandidate.status == "open",
                MatchCandidate.left_record_id.in_(chunk))):
            if item.right_record_id in mine:
                item.status, item.decided_at, item.decided_by = "merged", now, "auto"
                item.comparison = {**(item.comparison or {}), "closed": (
                    f"both records are in contact {contact_id} now ({why})")[:300]}
                closed += 1
    return closed
