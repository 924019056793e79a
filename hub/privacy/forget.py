"""Erasure (GDPR article 17): everything held about a person goes, and stays gone.

:func:`forget` deletes, in the caller's transaction, the person's golden records (every
contact they are held as, and those merged into them), source records with their raw
payloads, match keys and contact points, their interactions (or only their seat in an
interaction with other people), merge and split history, review items and rejections,
routing history (assignments, scores, stage changes), outbox events about them, and
quarantine items that carry their identifiers. Companies they named are recomputed from
the people left. Then it keeps salted hashes of the identifiers only they held
(:mod:`hub.privacy.suppression`), logs the erasure without personal data and emits
``contact.erased`` with the contact ids, so that sinks can erase them too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from hub.match.companies import rebuild_company
from hub.privacy.consent import point_of
from hub.privacy.people import Key, Subject, suppression_keys
from hub.privacy.suppression import digest
from hub.routing.model import Assignment, ContactScore, SinkDelivery, StageChange
from hub.store.db import chunks
from hub.store.model import (
    Contact,
    ContactPoint,
    Erasure,
    Interaction,
    InteractionContact,
    MatchCandidate,
    MatchKey,
    MatchRejection,
    MergeEvent,
    OutboxEvent,
    QuarantineItem,
    SourceRecord,
    Suppression,
)

_DIGITS = re.compile(r"\D+")


def forget(session: Session, subject: Subject, *, salt: bytes | None, actor: str,
           reason: str | None, now: datetime, region: str | None = None) -> dict[str, Any]:
    """Erase ``subject``; the counts of what went (no personal data). ``salt`` ``None``
    counts what would go without writing suppressions (a dry run, rolled back after)."""
    members, records = sorted(subject.members), subject.records
    counts: dict[str, int] = {"contacts": len(members), "source_records": len(records)}
    suppress = suppression_keys(session, subject)
    counts.update(_interactions(session, subject, region))
    counts["merge_events"] = _delete(session, MergeEvent, [
        MergeEvent.survivor_id.in_(members), MergeEvent.merged_id.in_(members)],
        extra=MergeEvent.entity == "contact")
    counts["review_items"] = _delete(session, MatchCandidate, [
        MatchCandidate.left_id.in_(members), MatchCandidate.right_id.in_(members),
        MatchCandidate.left_record_id.in_(records),
        MatchCandidate.right_record_id.in_(records)],
        extra=MatchCandidate.entity == "contact")
    counts["rejections"] = _delete(session, MatchRejection, [
        MatchRejection.record_a.in_(records), MatchRejection.record_b.in_(records)],
        extra=MatchRejection.entity == "contact")
    counts["events"] = _events(session, set(members))
    counts["quarantine_items"] = _quarantine(session, subject.keys)
    for model, name in ((Assignment, "assignments"), (ContactScore, "scores"),
                        (StageChange, "stage_changes")):
        gone = 0
        for chunk in chunks(members):
            result: Any = session.execute(delete(model).where(model.contact_id.in_(chunk)))
            gone += int(result.rowcount or 0)
        counts[name] = gone
    companies = sorted({c for c in _column(session, SourceRecord.company_id,
                                           SourceRecord.id, records) if c is not None})
    for chunk in chunks(records):
        session.execute(delete(ContactPoint).where(ContactPoint.source_record_id.in_(chunk)))
        session.execute(delete(MatchKey).where(MatchKey.source_record_id.in_(chunk)))
        session.execute(delete(SourceRecord).where(SourceRecord.id.in_(chunk)))
    for chunk in chunks(members):
        session.execute(delete(ContactPoint).where(ContactPoint.contact_id.in_(chunk)))
        session.execute(update(Contact).where(Contact.merged_into_id.in_(chunk))
                        .values(merged_into_id=None))
    for chunk in chunks(members):
        session.execute(delete(Contact).where(Contact.id.in_(chunk)))
    for company_id in companies:  # a name or website one of the records gave goes too
        rebuild_company(session, company_id, now)
    counts["suppressed_identifiers"] = len(suppress)
    if salt is None:
        return counts
    erasure = Erasure(created_at=now, actor=actor[:100], reason=reason,
                      contacts=len(subject.contacts), counts=counts)
    session.add(erasure)
    session.flush()
    known = set(session.scalars(select(Suppression.digest)))
    for kind, key in sorted(suppress):
        value = digest(salt, kind, key)
        if value not in known:
            session.add(Suppression(digest=value, kind=kind, erasure_id=erasure.id,
                                    created_at=now))
    session.add(OutboxEvent(type="contact.erased", created_at=now, attempts=0, payload={
        "erasure_id": erasure.id, "contact_ids": members, "at": now.isoformat()}))
    session.flush()
    counts["erasure_id"] = erasure.id
    return counts


def _delete(session: Session, model: Any, conditions: list[Any], extra: Any = None) -> int:
    """Delete the rows matching any of ``conditions`` (each an ``IN`` list, chunked by
    the caller's sizes); how many went."""
    where = or_(*conditions)
    if extra is not None:
        where = where & extra
    ids = list(session.scalars(select(model.id).where(where)))
    for chunk in chunks(ids):
        session.execute(delete(model).where(model.id.in_(chunk)))
    return len(ids)


def _column(session: Session, column: Any, key: Any, ids: list[int]) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks(ids):
        out += session.scalars(select(column).where(key.in_(chunk)))
    return out


def _mine(entry: dict[str, Any], keys: set[Key], region: str | None = None) -> bool:
    """Whether an interaction's participant entry is the subject."""
    return any(point_of(kind, str(entry[kind]), region) in keys
               for kind in ("email", "phone") if entry.get(kind))


def _interactions(session: Session, subject: Subject, region: str | None) -> dict[str, int]:
    """An interaction only with the subject (and us) goes; one with other people keeps
    them and loses the subject's seat, and its raw payload (which names everyone)."""
    members = sorted(subject.members)
    linked = sorted(set(_column(session, InteractionContact.interaction_id,
                                InteractionContact.contact_id, members)))
    member_set = set(members)
    names = _names(session, members)
    gone, seats = 0, 0
    for chunk in chunks(linked):
        others = {iid for iid, cid in session.execute(
            select(InteractionContact.interaction_id, InteractionContact.contact_id)
            .where(InteractionContact.interaction_id.in_(chunk))) if cid not in member_set}
        for interaction in session.scalars(select(Interaction)
                                           .where(Interaction.id.in_(chunk))):
            kept = [e for e in interaction.participants or []
                    if not _mine(e, subject.keys, region)]
            strangers = [e for e in kept if not e.get("own")]
            record = select(SourceRecord.id).where(
                SourceRecord.kind == "interaction",
                SourceRecord.connector == interaction.connector,
                SourceRecord.external_id == interaction.external_id)
            if interaction.id in others or strangers:
                interaction.participants = kept
                interaction.subject = _erase_names(interaction.subject, names)
                interaction.summary = _erase_names(interaction.summary, names)
                session.execute(update(SourceRecord).where(SourceRecord.id.in_(record))
                                .values(raw=None))
                seats += 1
            else:
                session.execute(delete(SourceRecord).where(SourceRecord.id.in_(record)))
                session.delete(interaction)
                gone += 1
        session.execute(delete(InteractionContact).where(
            InteractionContact.interaction_id.in_(chunk),
            InteractionContact.contact_id.in_(members)))
    session.flush()
    return {"interactions": gone, "interaction_seats": seats}


def _names(session: Session, members: list[int]) -> re.Pattern[str] | None:
    """The subject's given, family and full names as one pattern (whole words, any case),
    to take them out of what other people's interactions say (a subject, notes)."""
    words: set[str] = set()
    for chunk in chunks(members):
        for row in session.execute(select(Contact.given_name, Contact.family_name,
                                          Contact.full_name).where(Contact.id.in_(chunk))):
            for value in row:
                if value:
                    words.add(value.strip())
                    words.update(part for part in value.split() if len(part) >= 3)
    words = {w for w in words if len(w) >= 3}
    if not words:
        return None
    ordered = sorted(words, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in ordered) + r")(?!\w)",
                      re.IGNORECASE)


def _erase_names(text: str | None, names: re.Pattern[str] | None) -> str | None:
    return names.sub("[erased]", text) if text and names is not None else text


def _ids_in(value: Any) -> Iterable[int]:
    """Every contact id an event payload names (``contact_id``, ``survivor_id``, lists)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_id") or key.endswith("_ids") or key in ("contact", "contacts"):
                if isinstance(item, int) and not isinstance(item, bool):
                    yield item
                elif isinstance(item, list):
                    yield from (i for i in item if isinstance(i, int))
            if isinstance(item, dict | list):
                yield from _ids_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _ids_in(item)


def _events(session: Session, members: set[int]) -> int:
    """Outbox events about the subject, delivered or not, with their deliveries."""
    ids = [event_id for event_id, payload in session.execute(
        select(OutboxEvent.id, OutboxEvent.payload).where(
            OutboxEvent.type.like("contact.%"), OutboxEvent.type != "contact.erased"))
        if members & set(_ids_in(payload))]
    for chunk in chunks(ids):
        session.execute(delete(SinkDelivery).where(SinkDelivery.event_id.in_(chunk)))
        session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(chunk)))
    return len(ids)


def _quarantine(session: Session, keys: set[Key]) -> int:
    """Quarantined input that carries one of the subject's e-mails or phone numbers."""
    emails = [key for kind, key in keys if kind == "email"]
    numbers = [_DIGITS.sub("", key)[-9:] for kind, key in keys if kind == "phone"]
    if not emails and not numbers:
        return 0
    ids = []
    for item_id, payload, observation in session.execute(
            select(QuarantineItem.id, QuarantineItem.payload, QuarantineItem.observation)):
        text = f"{payload or ''} {observation or ''}".lower()
        digits = _DIGITS.sub("", text)
        if any(e in text for e in emails) or any(n in digits for n in numbers):
            ids.append(item_id)
    for chunk in chunks(ids):
        session.execute(delete(QuarantineItem).where(QuarantineItem.id.in_(chunk)))
    return len(ids)


def count_held(session: Session) -> int:
    """Erasures logged so far (for `crmhub status`)."""
    return session.scalar(select(func.count(Erasure.id))) or 0
