"""Right of access (GDPR article 15): everything held about one person in one document.

For each contact the person is held as: the golden record with its provenance, every
source record with its raw payload, interactions, merge and split history, assignments
and routing decisions, the score breakdown, lifecycle stages, opt-out and consent of each
contact point, and review items. A person found as several contacts is said to be so,
with how each was found.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.export import export_objects
from hub.match.resolve import live_contacts
from hub.privacy.consent import preferences
from hub.privacy.people import Subject
from hub.routing.model import Assignment, ContactScore, StageChange
from hub.store.model import (
    Contact,
    Interaction,
    InteractionContact,
    MatchCandidate,
    MergeEvent,
    SourceRecord,
)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def access_document(session: Session, subject: Subject, now: datetime) -> dict[str, Any]:
    members = sorted(subject.members)
    contacts = list(session.scalars(select(Contact).where(Contact.id.in_(subject.contacts))
                                    .order_by(Contact.id)))
    golden = {row["id"]: row for row in export_objects(session, contacts)}
    by_id = {c.id: c for c in contacts}
    document: dict[str, Any] = {
        "generated_at": now.isoformat(),
        "held_as": len(subject.contacts),
        "note": (f"this person is held as {len(subject.contacts)} separate contacts "
                 "(not merged): each is listed with how it was found"
                 if subject.several else "this person is held as one contact"),
        "contacts": [],
    }
    live = live_contacts(session, members)
    for contact_id in subject.contacts:
        contact = by_id[contact_id]
        merged = sorted(m for m in members if m != contact_id and live[m] == contact_id)
        mine = [contact_id, *merged]
        document["contacts"].append({
            "id": contact_id,
            "found_by": subject.found_by.get(contact_id),
            "golden": golden.get(contact_id),
            "provenance": contact.provenance,
            "merged_contacts": merged,
            "consent": preferences(session, golden.get(contact_id) or {}),
            "source_records": _records(session, mine),
            "interactions": _interactions(session, mine),
            "merges": _merges(session, mine),
            "assignments": _assignments(session, contact_id),
            "score": _score(session, contact_id),
            "stages": [{"from": s.from_stage, "to": s.to_stage, "at": _time(s.at),
                        "rule": s.rule, "by": s.by} for s in session.scalars(
                select(StageChange).where(StageChange.contact_id == contact_id)
                .order_by(StageChange.id))],
            "review_items": _reviews(session, mine, subject.records),
        })
    return document


def _records(session: Session, contacts: list[int]) -> list[dict[str, Any]]:
    return [{"connector": r.connector, "external_id": r.external_id, "kind": r.kind,
             "observed_at": _time(r.observed_at), "first_seen": _time(r.first_seen),
             "last_seen": _time(r.last_seen), "deleted_at": _time(r.deleted_at),
             "data": r.data, "raw": r.raw, "joined": r.joined}
            for r in session.scalars(select(SourceRecord).where(
                SourceRecord.contact_id.in_(contacts)).order_by(SourceRecord.id))]


def _interactions(session: Session, contacts: list[int]) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Interaction, InteractionContact.role)
        .join(InteractionContact, InteractionContact.interaction_id == Interaction.id)
        .where(InteractionContact.contact_id.in_(contacts))
        .order_by(Interaction.occurred_at, Interaction.id)).all()
    return [{"connector": i.connector, "external_id": i.external_id, "channel": i.channel,
             "direction": i.direction, "occurred_at": _time(i.occurred_at),
             "subject": i.subject, "summary": i.summary, "duration_s": i.duration_s,
             "status": i.status, "role": role, "participants": i.participants}
            for i, role in rows]


def _merges(session: Session, contacts: list[int]) -> list[dict[str, Any]]:
    return [{"action": e.action, "survivor_id": e.survivor_id, "merged_id": e.merged_id,
             "score": e.score, "decided_by": e.decided_by, "reason": e.reason,
             "comparison": e.comparison, "at": _time(e.created_at),
             "undone_at": _time(e.undone_at)}
            for e in session.scalars(select(MergeEvent).where(
                MergeEvent.entity == "contact",
                or_(MergeEvent.survivor_id.in_(contacts), MergeEvent.merged_id.in_(contacts)))
                .order_by(MergeEvent.id))]


def _assignments(session: Session, contact_id: int) -> list[dict[str, Any]]:
    return [{"owner": a.owner, "queue": a.queue, "previous_owner": a.previous_owner,
             "rule": a.rule, "strategy": a.strategy, "reason": a.reason, "by": a.by,
             "actor": a.actor, "current": a.current, "at": _time(a.at),
             "explanation": a.explanation, "sla_due_at": _time(a.sla_due_at),
             "sla_state": a.sla_state}
            for a in session.scalars(select(Assignment).where(
                Assignment.contact_id == contact_id).order_by(Assignment.id))]


def _score(session: Session, contact_id: int) -> dict[str, Any] | None:
    score = session.scalar(select(ContactScore).where(ContactScore.contact_id == contact_id))
    if score is None:
        return None
    return {"score": score.score, "breakdown": score.breakdown,
            "computed_at": _time(score.computed_at)}


def _reviews(session: Session, contacts: list[int], records: list[int]) -> list[dict[str, Any]]:
    return [{"id": c.id, "status": c.status, "score": c.score, "comparison": c.comparison,
             "left_contact": c.left_id, "right_contact": c.right_id,
             "created_at": _time(c.created_at), "decided_by": c.decided_by}
            for c in session.scalars(select(MatchCandidate).where(
                MatchCandidate.entity == "contact",
                or_(MatchCandidate.left_id.in_(contacts),
                    MatchCandidate.right_id.in_(contacts),
                    MatchCandidate.left_record_id.in_(records),
                    MatchCandidate.right_record_id.in_(records)))
                .order_by(MatchCandidate.id))]
