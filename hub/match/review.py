"""The review queue, user merges and rejections, and unmerge.

* ``merge`` folds the two contacts of a candidate into one (``decided_by = "user"``); a
  contact a user merged is never split automatically afterwards.
* ``reject`` remembers the decision per pair of *source records* (every record of one side
  against every record of the other), so it survives later merges and unmerges: the
  matcher never proposes or auto-merges any of those pairs again.
* ``unmerge`` undoes a merge event: the merged contact comes back with its source records,
  match keys, interaction links, owner and stage, both golden records are rebuilt, and the
  pair is remembered as rejected (a user said they are two people).

Company candidates and merges (``entity = "company"``) go through the same calls and are
carried out by :mod:`hub.match.companies`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.match.companies import ENTITY as COMPANY
from hub.match.companies import (
    CompanyMergeError,
    live_company,
    merge_companies,
    unmerge_company,
)
from hub.match.golden import rebuild_contacts
from hub.match.resolve import (
    live_contacts,
    merge_contacts,
    pair,
    rejected_between,
    remember_rejection,
)
from hub.routing.model import StageChange
from hub.store.db import chunks
from hub.store.model import (
    Contact,
    InteractionContact,
    MatchCandidate,
    MatchKey,
    MergeEvent,
    OutboxEvent,
    SourceRecord,
)


class ReviewError(Exception):
    """A review or unmerge request that cannot be carried out; the message says why."""


@dataclass
class Decision:
    candidate_id: int
    status: str
    survivor_id: int | None = None
    merge_id: int | None = None
    rejected_pairs: int = 0


def candidate_row(c: MatchCandidate) -> dict[str, Any]:
    return {"id": c.id, "status": c.status, "score": round(c.score, 6),
            "weight": round(c.weight, 3), "left_contact": c.left_id,
            "right_contact": c.right_id, "left_record": c.left_record_id,
            "right_record": c.right_record_id, "comparison": c.comparison,
            "created_at": c.created_at, "decided_at": c.decided_at,
            "decided_by": c.decided_by}


def company_candidate_row(session: Session, c: MatchCandidate) -> dict[str, Any]:
    """A company pair: the companies as proposed and the live ones they are now."""
    return {"id": c.id, "entity": COMPANY, "status": c.status, "score": round(c.score, 6),
            "left_company": live_company(session, c.left_id),
            "right_company": live_company(session, c.right_id),
            "comparison": c.comparison, "created_at": c.created_at,
            "decided_at": c.decided_at, "decided_by": c.decided_by}


def list_candidates(session: Session, *, status: str = "open", limit: int = 100,
                    entity: str = "contact") -> list[dict[str, Any]]:
    query = select(MatchCandidate).where(MatchCandidate.entity == entity)
    if status != "all":
        query = query.where(MatchCandidate.status == status)
    rows = session.scalars(query.order_by(MatchCandidate.score.desc(), MatchCandidate.id)
                           .limit(limit))
    out = []
    for c in rows:
        if entity == COMPANY:
            out.append(company_candidate_row(session, c))
            continue
        row = candidate_row(c)
        live = live_contacts(session, [c.left_id, c.right_id])
        if c.status == "open":  # the contacts a decision would join, as they are now
            row["left_contact"], row["right_contact"] = live[c.left_id], live[c.right_id]
        else:  # the two it was about, which a merge made one (``contact_now``)
            row["contact_now"] = [live[c.left_id], live[c.right_id]]
        out.append(row)
    return out


def group_by_contact(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open candidates as one entry per contact with all its candidates: each item under
    the contact that has the most open items (a contact that many records may be is
    decided once), groups best score first."""
    count: dict[int, int] = {}
    for row in rows:
        for side in ("left_contact", "right_contact"):
            count[row[side]] = count.get(row[side], 0) + 1
    groups: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        left, right = row["left_contact"], row["right_contact"]
        hub_, other = (left, right) if (count[left], -left) >= (count[right], -right) \
            else (right, left)
        groups.setdefault(hub_, []).append({
            "id": row["id"], "other_contact": other, "score": row["score"],
            "comparison": row["comparison"]})
    out = [{"contact": contact, "best": max(c["score"] for c in items),
            "candidates": sorted(items, key=lambda c: (-c["score"], c["id"]))}
           for contact, items in groups.items()]
    return sorted(out, key=lambda g: (-g["best"], g["contact"]))


def _candidate(session: Session, candidate_id: int) -> MatchCandidate:
    candidate = session.get(MatchCandidate, candidate_id)
    if candidate is None or candidate.entity not in ("contact", COMPANY):
        raise ReviewError(f"no review candidate {candidate_id}")
    if candidate.status != "open":
        raise ReviewError(f"candidate {candidate_id} is {candidate.status} already")
    return candidate


def _decide_companies(session: Session, candidate: MatchCandidate, merge: bool, *, by: str,
                      now: datetime) -> Decision:
    """A company candidate's answer: the two live companies merged, or remembered as two."""
    left, right = live_company(session, candidate.left_id), \
        live_company(session, candidate.right_id)
    status = "merged" if merge else "rejected"
    decision = Decision(candidate.id, status, left if left == right else None)
    if left != right and merge:
        survivor, merged = sorted((left, right))
        try:
            event = merge_companies(session, survivor, merged, decided_by="user",
                                    score=candidate.score, comparison=candidate.comparison,
                                    now=now, reason=f"review candidate {candidate.id} "
                                    f"merged by {by}")
        except CompanyMergeError as exc:
            raise ReviewError(f"candidate {candidate.id}: {exc}") from exc
        decision.survivor_id, decision.merge_id = survivor, event.id
    elif left == right and not merge:
        raise ReviewError(f"candidate {candidate.id}: both sides are company {left} now; "
                          "unmerge it first")
    elif not merge:
        decision.rejected_pairs = remember_rejection(session, [left], [right], by=by, now=now,
                                                     entity=COMPANY)
    candidate.status, candidate.decided_at, candidate.decided_by = status, now, by
    return decision


def _records(session: Session, contact_id: int) -> list[int]:
    return list(session.scalars(select(SourceRecord.id).where(
        SourceRecord.contact_id == contact_id, SourceRecord.kind == "person")))


def _sides(session: Session, candidate: MatchCandidate) -> tuple[int, int]:
    """The live contacts of the candidate's two source records."""
    owners = {r: c for r, c in session.execute(
        select(SourceRecord.id, SourceRecord.contact_id).where(
            SourceRecord.id.in_([candidate.left_record_id, candidate.right_record_id])))}
    left, right = owners.get(candidate.left_record_id), owners.get(candidate.right_record_id)
    if left is None or right is None:
        raise ReviewError(f"candidate {candidate.id}: a source record no longer exists")
    live = live_contacts(session, [left, right])
    return live[left], live[right]


def _close_between(session: Session, a: int, b: int, status: str, by: str,
                   now: datetime) -> None:
    """Every other open candidate between the same two contacts (one record in each) gets
    the same answer."""
    left, right = set(_records(session, a)), set(_records(session, b))
    both = left | right
    for chunk in chunks(sorted(both)):
        for other in session.scalars(select(MatchCandidate).where(
                MatchCandidate.entity == "contact", MatchCandidate.status == "open",
                MatchCandidate.left_record_id.in_(chunk))):
            records = {other.left_record_id, other.right_record_id}
            if records <= both and records & left and records & right:
                other.status, other.decided_at, other.decided_by = status, now, by


def merge_candidate(session: Session, candidate_id: int, *, by: str,
                    now: datetime) -> Decision:
    candidate = _candidate(session, candidate_id)
    if candidate.entity == COMPANY:
        return _decide_companies(session, candidate, True, by=by, now=now)
    left, right = _sides(session, candidate)
    if left == right:
        candidate.status, candidate.decided_at, candidate.decided_by = "merged", now, by
        return Decision(candidate_id, "merged", left)
    survivor, merged = sorted((left, right))
    if rejected_between(session, _records(session, survivor), _records(session, merged)):
        raise ReviewError(f"candidate {candidate_id}: these contacts hold records a user "
                          "rejected as different people; unmerge or purge that first")
    event = merge_contacts(session, survivor, merged, decided_by="user", score=candidate.score,
                           comparison=candidate.comparison, now=now,
                           reason=f"review candidate {candidate_id} merged by {by}")
    # merge_contacts closed the other items it settled (both records in the survivor now)
    candidate.status, candidate.decided_at, candidate.decided_by = "merged", now, by
    rebuild_contacts(session, [survivor, merged], now)
    return Decision(candidate_id, "merged", survivor, event.id)


def reject_candidate(session: Session, candidate_id: int, *, by: str,
                     now: datetime) -> Decision:
    candidate = _candidate(session, candidate_id)
    if candidate.entity == COMPANY:
        return _decide_companies(session, candidate, False, by=by, now=now)
    left, right = _sides(session, candidate)
    if left == right:
        raise ReviewError(f"candidate {candidate_id}: both records are in contact {left} "
                          "now; unmerge it first")
    count = remember_rejection(session, _records(session, left), _records(session, right),
                               by=by, now=now)
    _close_between(session, left, right, "rejected", by, now)
    candidate.status, candidate.decided_at, candidate.decided_by = "rejected", now, by
    return Decision(candidate_id, "rejected", rejected_pairs=count)


def unmerge(session: Session, merge_id: int, *, by: str, now: datetime) -> MergeEvent:
    """Undo one merge: both contacts (or companies) as they were, rebuilt from their own
    records."""
    event = session.get(MergeEvent, merge_id)
    if event is None or event.entity not in ("contact", COMPANY) or event.action != "merge":
        raise ReviewError(f"no merge {merge_id}")
    if event.undone_at is not None:
        raise ReviewError(f"merge {merge_id} was undone already at {event.undone_at}")
    if event.entity == COMPANY:
        try:
            return unmerge_company(session, event, by=by, now=now)
        except CompanyMergeError as exc:
            raise ReviewError(str(exc)) from exc
    merged = session.get(Contact, event.merged_id)
    if merged is None:
        raise ReviewError(f"merge {merge_id}: contact {event.merged_id} no longer exists")
    snapshot = event.snapshot or {}
    records = [int(r) for r in snapshot.get("source_records", [])]
    holder = live_contacts(session, [event.survivor_id])[event.survivor_id]
    # Records of the merged side that still sit in the survivor's cluster go back.
    moving = list(session.scalars(select(SourceRecord.id).where(
        SourceRecord.id.in_(records or [-1]), SourceRecord.contact_id.in_(
            sorted({event.survivor_id, holder})))))
    merged.merged_into_id = None
    merged.updated_at = now
    if "owner" in snapshot:
        merged.owner, merged.team = snapshot["owner"], snapshot.get("team")
    if snapshot.get("stage"):
        merged.stage = snapshot["stage"]
    if moving:
        session.execute(update(SourceRecord).where(SourceRecord.id.in_(moving))
                        .values(contact_id=merged.id))
        session.execute(update(MatchKey).where(MatchKey.source_record_id.in_(moving))
                        .values(contact_id=merged.id))
    for interaction_id, role in snapshot.get("interactions", []):
        row = session.scalar(select(InteractionContact).where(
            InteractionContact.interaction_id == interaction_id,
            InteractionContact.role == role,
            InteractionContact.contact_id.in_(sorted({event.survivor_id, holder}))))
        mine = session.scalar(select(InteractionContact.id).where(
            InteractionContact.interaction_id == interaction_id,
            InteractionContact.role == role, InteractionContact.contact_id == merged.id))
        if mine is not None:
            continue
        shared = [interaction_id, role] in snapshot.get("shared_interactions", [])
        if row is not None and not shared:
            row.contact_id = merged.id
        else:
            session.add(InteractionContact(interaction_id=interaction_id,
                                           contact_id=merged.id, role=role))
    event.undone_at = now
    _restore_stage(session, event, holder, by=by, now=now)
    session.flush()
    kept, restored = _records(session, holder), _records(session, merged.id)
    remember_rejection(session, kept, restored, by=by, now=now)
    # A review item this merge answered reads as undone now, not as merged.
    pairs = {pair(a, b) for a in kept for b in restored}
    for candidate in session.scalars(select(MatchCandidate).where(
            MatchCandidate.entity == "contact", MatchCandidate.status == "merged",
            MatchCandidate.left_record_id.in_(sorted({a for a, _ in pairs} or {-1})))):
        if (candidate.left_record_id, candidate.right_record_id) in pairs:
            candidate.status = "unmerged"
            candidate.decided_at, candidate.decided_by = now, by
    rebuild_contacts(session, [holder, merged.id], now)
    return event


def split_record(session: Session, record_id: int, *, by: str, now: datetime) -> MergeEvent:
    """Detach one person record from its contact into a contact of its own: the way out of
    a join the matcher made without a merge (a record that joined an existing contact).

    The record and its keys move to a new contact, both golden records are rebuilt from
    their records, and the record is remembered as a different person from every record
    it leaves, so no later sync joins them again. Logged as a ``split`` (a merge event
    with ``action = "split"``) and announced as ``contact.split``.
    """
    record = session.get(SourceRecord, record_id)
    if record is None or record.kind != "person" or record.deleted_at is not None \
            or record.contact_id is None:
        raise ReviewError(f"no live person record {record_id}")
    old = record.contact_id
    others = [r for r in _records(session, old) if r != record_id]
    if not others:
        raise ReviewError(f"record {record_id} is alone in contact {old} already")
    contact = Contact(stage="lead", score=0.0, created_at=now, updated_at=now)
    session.add(contact)
    session.flush()
    record.contact_id = contact.id
    session.execute(update(MatchKey).where(MatchKey.source_record_id == record_id)
                    .values(contact_id=contact.id))
    event = MergeEvent(entity="contact", action="split", survivor_id=old,
                       merged_id=contact.id, score=0.0, comparison={}, decided_by="user",
                       reason=f"record {record_id} split off by {by}", created_at=now,
                       snapshot={"source_records": [record_id]})
    session.add(event)
    session.add(OutboxEvent(type="contact.split", created_at=now, attempts=0, payload={
        "contact_id": old, "new_contact_id": contact.id, "source_record_id": record_id,
        "reason": event.reason}))
    session.flush()
    remember_rejection(session, [record_id], others, by=by, now=now)
    rebuild_contacts(session, [old, contact.id], now)
    return event


def _restore_stage(session: Session, event: MergeEvent, holder: int, *, by: str,
                   now: datetime) -> None:
    """A survivor that took the merged contact's further stage in this merge goes back to
    its own, unless its stage moved again since (a later rule or merge decided that)."""
    carried = session.scalar(select(StageChange).where(
        StageChange.contact_id == event.survivor_id, StageChange.by == "merge",
        StageChange.rule == f"merge {event.id}").order_by(StageChange.id.desc()).limit(1))
    survivor = session.get(Contact, holder)
    if carried is None or holder != event.survivor_id or survivor is None or \
            survivor.stage != carried.to_stage or carried.from_stage is None:
        return
    later = session.scalar(select(StageChange.id).where(
        StageChange.contact_id == holder, StageChange.id > carried.id).limit(1))
    if later is not None:
        return
    survivor.stage, survivor.updated_at = carried.from_stage, now
    session.add(StageChange(contact_id=holder, from_stage=carried.to_stage,
                            to_stage=carried.from_stage, rule=f"unmerge {event.id}",
                            by="unmerge", at=now))
    session.add(OutboxEvent(type="contact.stage_changed", created_at=now, attempts=0,
                            payload={"contact_id": holder, "from": carried.to_stage,
                                     "to": carried.from_stage, "reason": "unmerge",
                                     "by": by}))
