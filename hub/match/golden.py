"""Keeping golden contacts in step with their sources, a batch of contacts at a time.

Two paths share :func:`golden_values`: contacts a batch creates are computed in memory from
the records the batch stores and inserted whole (hub.ingest.persons); existing contacts are
rebuilt here from all their live source records read back from the database.

The survivorship policy (``[match.survivorship]``) is passed explicitly, or else read from
the session: the pipeline configures its session factory with it under
:data:`SURVIVORSHIP`, so every rebuild through its sessions (sync, manual corrections,
review merges, unmerge, batch re-deduplication) applies the same policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.match.survivorship import SCALARS, SourceView, SurvivorshipPolicy, build_golden
from hub.store.bulk import insert_rows
from hub.store.model import Contact, ContactPoint, OutboxEvent, SourceRecord, table_of

CHUNK = 500
STATE = (*SCALARS, "tags", "identifiers", "custom", "handles", "flags", "address", "company_id")
Source = tuple[SourceView, int | None]  # a source record and the employer it names
SURVIVORSHIP = "crmhub.survivorship"  # the Session.info key holding the policy


def policy_of(session: Session) -> SurvivorshipPolicy | None:
    """The survivorship policy the session was configured with, if any."""
    policy = session.info.get(SURVIVORSHIP)
    return policy if isinstance(policy, SurvivorshipPolicy) else None


def golden_values(contact_id: int, sources: Sequence[Source],
                  policy: SurvivorshipPolicy | None = None,
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The golden fields of a contact and its contact-point rows, from its live sources.

    ``policy`` is ``[match.survivorship]``; without it the most recent source wins.
    """
    golden, provenance = build_golden([view for view, _ in sources], policy)
    values: dict[str, Any] = {name: golden[name] for name in SCALARS}
    winner = provenance.get("company")
    values.update(
        address=golden["address"] or {}, tags=golden["tags"],
        identifiers=golden["identifiers"], custom=golden["custom"],
        handles=golden["handles"], flags=golden["flags"], provenance=provenance,
        company_id=next((company for view, company in sources if winner and
                         (view.connector, view.external_id) ==
                         (winner["connector"], winner["external_id"])), None))
    points = []
    for kind, group in (("email", golden["emails"]), ("phone", golden["phones"])):
        for p in group:
            points.append({
                "contact_id": contact_id, "source_record_id": p["sources"][0], "kind": kind,
                "value": (p.get("key") or p["value"]) if kind == "email" else p["value"],
                "original": p["value"], "label": p.get("label"),
                "is_primary": bool(p.get("primary")), "flags": p.get("flags") or []})
    for kind, handle in golden["handles"].items():
        points.append({"contact_id": contact_id, "source_record_id": None, "kind": kind,
                       "value": handle, "original": handle, "label": None, "is_primary": False,
                       "flags": []})
    return values, points


def contact_state(contact: Contact) -> dict[str, Any]:
    """The fields whose change makes a ``contact.updated`` event."""
    return {name: getattr(contact, name) for name in STATE}


def rebuild_contacts(session: Session, ids: Iterable[int], now: datetime,
                     policy: SurvivorshipPolicy | None = None) -> dict[int, bool]:
    """Recompute contacts from their live source records; returns which ones changed.

    A contact left with no live source is marked deleted (kept for history and unmerge).
    Without ``policy``, the session's (:func:`policy_of`) or else the default one.
    """
    policy = policy or policy_of(session)
    changed: dict[int, bool] = {}
    todo = sorted(set(ids))
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(chunk)))}
        sources: dict[int, list[Source]] = {}
        for row in session.execute(
                select(SourceRecord.id, SourceRecord.contact_id, SourceRecord.connector,
                       SourceRecord.external_id, SourceRecord.observed_at, SourceRecord.data,
                       SourceRecord.company_id)
                .where(SourceRecord.contact_id.in_(chunk), SourceRecord.kind == "person",
                       SourceRecord.deleted_at.is_(None)).order_by(SourceRecord.id)):
            view = SourceView(row.id, row.connector, row.external_id, row.observed_at, row.data)
            sources.setdefault(row.contact_id, []).append((view, row.company_id))
        session.execute(delete(ContactPoint).where(ContactPoint.contact_id.in_(chunk)))
        points: list[dict[str, Any]] = []
        for contact_id in chunk:
            contact = contacts.get(contact_id)
            if contact is not None:
                changed[contact_id] = _apply(contact, sources.get(contact_id, []), points, now,
                                             policy)
        insert_rows(session, table_of(ContactPoint), points)
    return changed


def rebuild_store(sessions: Callable[[], Session], ids: Sequence[int] | None, now: datetime,
                  *, after: Callable[[Session, list[int]], object] | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  chunk: int = CHUNK) -> tuple[int, int]:
    """Rebuild these contacts (``None``: every live one) from their sources under the
    current policy, a chunk per transaction so a running daemon waits for one chunk at
    most. Each changed contact gets a ``contact.updated`` event, then ``after`` runs on
    the changed ones (rescoring). Returns (rebuilt, changed)."""
    with sessions() as session:
        todo = sorted(set(ids)) if ids is not None else list(session.scalars(
            select(Contact.id).where(Contact.merged_into_id.is_(None),
                                     Contact.deleted_at.is_(None)).order_by(Contact.id)))
    rebuilt = changed = 0
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        with sessions() as session, session.begin():
            moved = [c for c, did in rebuild_contacts(session, part, now).items() if did]
            insert_rows(session, table_of(OutboxEvent), [
                {"type": "contact.updated", "created_at": now, "attempts": 0,
                 "payload": {"contact_id": c, "reason": "rebuild"}} for c in moved])
            if after is not None and moved:
                after(session, moved)
        rebuilt += len(part)
        changed += len(moved)
        if progress is not None:
            progress(rebuilt, len(todo))
    return rebuilt, changed


def rebuild_contact(session: Session, contact: Contact, now: datetime,
                    policy: SurvivorshipPolicy | None = None) -> bool:
    session.flush()
    return rebuild_contacts(session, [contact.id], now, policy).get(contact.id, False)


def _apply(contact: Contact, sources: list[Source], points: list[dict[str, Any]],
           now: datetime, policy: SurvivorshipPolicy | None) -> bool:
    before = contact_state(contact)
    if not sources:
        if contact.deleted_at is None:
            contact.deleted_at = now
            contact.updated_at = now
            return True
        return False
    contact.deleted_at = None
    values, contact_points = golden_values(contact.id, sources, policy)
    for name, value in values.items():
        setattr(contact, name, value)
    points.extend(contact_points)
    if contact_state(contact) != before:
        contact.updated_at = now
        return True
    return False
