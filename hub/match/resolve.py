"""Identity resolution behind a small interface: which contact does each person record join?

:class:`DeterministicResolver` is the rule the core data path ships with: the same
normalised e-mail key, social handle or configured identifier means the same contact; the
same phone number does too, unless the names disagree, in which case the number is a
*shared* line (seen on two different people) and never identifies anyone again. A record
whose keys reach two contacts merges them (``decided_by = "rule"``).

Resolution works on a whole batch: the match keys of every record are looked up in one
query, then records are resolved in order in memory with a union-find over existing
contacts (positive ids) and contacts the batch creates (negative ids), so the result is the
same as resolving one record at a time. The probabilistic matcher of the matching issue
replaces this class behind the same :class:`Resolver` protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from hub.canonical import NAME, STRONG, CanonicalPerson, IdentityKey
from hub.model import (
    Contact,
    ContactPoint,
    InteractionContact,
    MatchKey,
    MergeEvent,
    SharedPoint,
    SourceRecord,
)

CHUNK = 500


@dataclass
class Item:
    """One person record to resolve; ``current`` is the contact it belongs to already."""

    person: CanonicalPerson
    current: int | None = None


@dataclass
class Resolution:
    """Per item, the contact it joins: an existing id (> 0) or a new contact (< 0, -1 first).

    ``merges`` are existing contacts to fold into a survivor, in order, with the reason.
    """

    contact_of: list[int]
    new_contacts: int
    merges: list[tuple[int, int, str]] = field(default_factory=list)
    shared: list[IdentityKey] = field(default_factory=list)


class Resolver(Protocol):
    def resolve(self, session: Session, items: Sequence[Item]) -> Resolution: ...


def names_compatible(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Could two normalised records be the same person by name? Missing parts never disagree."""
    family_a, family_b = a.get("family_key") or "", b.get("family_key") or ""
    given_a, given_b = a.get("given_key") or "", b.get("given_key") or ""
    if family_a and family_b and family_a != family_b:
        return False
    if given_a and given_b and given_a != given_b:
        return given_a[0] == given_b[0] and (len(given_a) == 1 or len(given_b) == 1)
    return True


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def live_contacts(session: Session, ids: Iterable[int]) -> dict[int, int]:
    """Each id mapped to the contact that stands for it now (following merges)."""
    out: dict[int, int] = {}
    pending = sorted(set(ids))
    parent: dict[int, int | None] = {}
    while pending:
        for chunk in _chunks(pending):
            for contact_id, merged_into in session.execute(
                    select(Contact.id, Contact.merged_into_id).where(Contact.id.in_(chunk))):
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


class _Clusters:
    """Union-find where existing contacts (> 0) outrank new ones (< 0), lowest id first."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.names: dict[int, list[dict[str, Any]]] = {}

    @staticmethod
    def rank(node: int) -> tuple[int, int]:
        return (0, node) if node > 0 else (1, -node)

    def find(self, node: int) -> int:
        root = node
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while node != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: int, b: int) -> int:
        a, b = self.find(a), self.find(b)
        if a == b:
            return a
        keep, drop = sorted((a, b), key=self.rank)
        self.parent[drop] = keep
        self.names.setdefault(keep, []).extend(self.names.pop(drop, []))
        return keep


class DeterministicResolver:
    """Exact identity keys; phones only when the names agree."""

    def resolve(self, session: Session, items: Sequence[Item]) -> Resolution:
        keys = {(k.kind, k.key) for item in items for k in item.person.keys
                if k.strength != NAME}
        index: dict[tuple[str, str], set[int]] = {}
        found: list[tuple[str, str, int]] = []
        by_kind: dict[str, list[str]] = {}
        for kind, key in sorted(keys):
            by_kind.setdefault(kind, []).append(key)
        # One query per kind: `kind = ? AND key IN (...)` walks the (kind, key) index on
        # both engines, where a row-value IN makes SQLite scan the whole table.
        for kind, values in by_kind.items():
            for chunk in _chunks(values):
                found.extend((kind, key, contact_id) for key, contact_id in session.execute(
                    select(MatchKey.key, MatchKey.contact_id)
                    .where(MatchKey.kind == kind, MatchKey.key.in_(chunk))))
        currents = [i.current for i in items if i.current is not None]
        live = live_contacts(session, [c for _, _, c in found] + currents)
        for kind, key, contact_id in found:
            index.setdefault((kind, key), set()).add(live[contact_id])
        phones = sorted(k for kind, k in keys if kind == "phone")
        shared: set[str] = set()
        for chunk in _chunks(phones):
            shared.update(session.scalars(select(SharedPoint.value).where(
                SharedPoint.kind == "phone", SharedPoint.value.in_(chunk))))
        clusters = _Clusters()
        phone_hits = sorted({c for (kind, _), ids in index.items() if kind == "phone"
                             for c in ids})
        for chunk in _chunks(phone_hits):
            # By contact (a handful of keys each), filtered here: SQLite would otherwise
            # pick the (kind, key) index and walk every name key.
            for contact_id, kind, key in session.execute(
                    select(MatchKey.contact_id, MatchKey.kind, MatchKey.key)
                    .where(MatchKey.contact_id.in_(chunk))):
                if kind != "name":
                    continue
                family, _, given = key.partition("|")
                clusters.names.setdefault(live[contact_id], []).append(
                    {"family_key": family, "given_key": given})

        resolution = Resolution(contact_of=[], new_contacts=0)
        reasons: dict[frozenset[int], str] = {}
        for item in items:
            person = item.person
            hits: dict[int, list[IdentityKey]] = {}
            for k in person.keys:
                if k.strength == NAME or (k.kind == "phone" and k.key in shared):
                    continue
                for node in index.get((k.kind, k.key), ()):
                    hits.setdefault(clusters.find(node), []).append(k)
            strong = {n for n, ks in hits.items() if any(k.strength == STRONG for k in ks)}
            if item.current is not None:
                strong.add(clusters.find(live[item.current]))
            target = min(strong, key=clusters.rank) if strong else None
            for node in sorted(strong - {target}, key=clusters.rank):
                assert target is not None
                reasons.setdefault(frozenset((target, node)), _reason(hits.get(node, [])))
                target = clusters.union(target, node)
            for node in sorted(set(hits) - strong, key=clusters.rank):
                node = clusters.find(node)
                if target is not None and node == clusters.find(target):
                    continue
                others = clusters.names.get(node, [])
                if not others or any(names_compatible(person.data, o) for o in others):
                    if target is None:
                        target = node
                    else:
                        reasons.setdefault(frozenset((target, node)), _reason(hits[node]))
                        target = clusters.union(target, node)
                else:
                    for k in hits[node]:
                        shared.add(k.key)
                        resolution.shared.append(k)
            if target is None:
                resolution.new_contacts += 1
                target = -resolution.new_contacts
            target = clusters.find(target)
            for k in person.keys:
                index.setdefault((k.kind, k.key), set()).add(target)
            clusters.names.setdefault(target, []).append(person.data)
            resolution.contact_of.append(target)
        resolution.contact_of = [clusters.find(n) for n in resolution.contact_of]
        resolution.merges = _merges(clusters, reasons)
        return resolution


def _merges(clusters: _Clusters, reasons: dict[frozenset[int], str]) -> list[tuple[int, int, str]]:
    """Existing contacts that ended in one cluster: fold each into the cluster's survivor."""
    merges = []
    for node in sorted(n for n in clusters.parent if n > 0):
        root = clusters.find(node)
        if node != root and root > 0:
            reason = next((r for pair, r in reasons.items() if node in pair), "same record")
            merges.append((root, node, reason))
    return merges


def _reason(keys: Iterable[IdentityKey]) -> str:
    kinds = sorted({k.kind for k in keys})
    return "same " + ", ".join(kinds) if kinds else "same record"


def mark_shared(session: Session, keys: Iterable[IdentityKey], now: datetime) -> None:
    """Record points seen on two different people; they stop identifying anyone."""
    for kind, value in sorted({(k.kind, k.key) for k in keys}):
        exists = session.scalar(select(SharedPoint.id).where(
            SharedPoint.kind == kind, SharedPoint.value == value))
        if exists is None:
            session.add(SharedPoint(kind=kind, value=value, created_at=now,
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
