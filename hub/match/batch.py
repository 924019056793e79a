"""Batch matching over the whole store: candidate pairs, training, re-deduplication.

* :func:`candidate_pairs` walks ``match_keys`` in key order (one streaming query) and pairs
  the records that share a key, skipping capped keys and keys shared by more than
  ``key_cap`` records: blocking, never all pairs.
* :func:`train` estimates the Fellegi-Sunter model (``crmhub match train``): ``u`` from
  random pairs of records, ``m`` and the prior by EM over the candidate pairs, term
  frequencies of common names; the model is stored in ``match_models``.
* :func:`rededuplicate` (``crmhub match run``) scores every candidate pair and clusters
  them: pairs at or above ``auto_merge`` are joined best first (connected components with
  a guard: two clusters join only if no record of one vetoes or was rejected against a
  record of the other, and the result stays under ``max_cluster`` records); pairs between
  ``review`` and ``auto_merge`` that end in different clusters go to the review queue.
  Applied, it merges the contacts each cluster spans (``decided_by = "auto"``).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from hub.match.canonical import NAME
from hub.match.compare import Profile
from hub.match.engine import ProbabilisticResolver, _Clusters, pair
from hub.match.golden import rebuild_contacts
from hub.match.resolve import live_contacts, merge_contacts
from hub.match.score import AMBIGUITY_MARGIN, Model, estimate_u, term_frequencies
from hub.match.score import train as em_train
from hub.match.survivorship import MANUAL
from hub.store.db import chunks
from hub.store.model import (
    MatchCandidate,
    MatchKey,
    MatchModel,
    MatchRejection,
    SharedPoint,
    SourceRecord,
    table_of,
)

Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class Store:
    """Every live person record: its contact and its profile."""

    contact_of: dict[int, int]
    profiles: dict[int, Profile]


def load_store(session: Session, resolver: ProbabilisticResolver) -> Store:
    contact_of: dict[int, int] = {}
    profiles: dict[int, Profile] = {}
    # The stored match profile when there is one (records stored before revision 0004
    # have none until they change) and no plugin comparator needs the whole record.
    packed = not resolver.plugin_comparators
    missing: list[int] = []
    rows = session.execute(
        select(SourceRecord.id, SourceRecord.contact_id, SourceRecord.match_profile)
        .where(SourceRecord.kind == "person", SourceRecord.deleted_at.is_(None),
               SourceRecord.connector != MANUAL, SourceRecord.contact_id.is_not(None))
        .order_by(SourceRecord.id).execution_options(yield_per=5000))
    for record_id, contact_id, stored in rows:
        contact_of[record_id] = contact_id
        profile = Profile.unpack(stored, resolver.identifiers) if packed else None
        if profile is None:
            missing.append(record_id)
        else:
            profiles[record_id] = profile
    for chunk in chunks(missing):
        for record_id, data in session.execute(
                select(SourceRecord.id, SourceRecord.data).where(SourceRecord.id.in_(chunk))):
            profiles[record_id] = resolver.profile(data)
    # A number or address capped as shared (a switchboard: seen on different people) is
    # no evidence in a comparison, whatever the label it was typed under.
    capped: dict[str, set[str]] = {"phone": set(), "email": set()}
    for kind, value in session.execute(select(SharedPoint.kind, SharedPoint.value).where(
            SharedPoint.kind.in_(("phone", "email")))):
        capped[kind].add(value)
    if capped["phone"] or capped["email"]:
        for record_id, profile in profiles.items():
            if profile.phones & capped["phone"] or profile.emails & capped["email"]:
                profiles[record_id] = replace(profile, phones=profile.phones - capped["phone"],
                                              emails=profile.emails - capped["email"])
    live = live_contacts(session, set(contact_of.values()))
    return Store({r: live[c] for r, c in contact_of.items()}, profiles)


def candidate_pairs(session: Session, cap: int, records: set[int] | None = None,
                    since: set[int] | None = None) -> Iterator[tuple[int, int]]:
    """Each pair of records sharing an uncapped key, once (smaller id first)."""
    capped = {(k, v) for k, v in session.execute(select(SharedPoint.kind, SharedPoint.value))}
    seen: set[int] = set()
    group: list[int] = []
    current: tuple[str, str] | None = None

    def flush() -> Iterator[tuple[int, int]]:
        if current is None or current in capped or not 2 <= len(group) <= cap:
            return
        members = sorted(set(group))
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if since is not None and a not in since and b not in since:
                    continue
                code = a << 32 | b
                if code not in seen:
                    seen.add(code)
                    yield a, b

    rows = session.execute(select(MatchKey.kind, MatchKey.key, MatchKey.source_record_id)
                           .order_by(MatchKey.kind, MatchKey.key)
                           .execution_options(yield_per=20000))
    names: dict[str, list[int]] = {}  # "family|given" -> records, for swapped names
    for kind, key, record_id in rows:
        if (kind, key) != current:
            yield from flush()
            current, group = (kind, key), []
            if kind == NAME:
                names[key] = group
        if records is None or record_id in records:
            group.append(record_id)
    yield from flush()
    # Given and family names swapped (a data-entry slip): the streaming matcher looks the
    # swapped key up; here each name meets its mirror.
    for key, group in names.items():
        family, _, given = key.partition("|")
        mirror = names.get(f"{given}|{family}")
        if not mirror or given == family or key > f"{given}|{family}" \
                or (NAME, key) in capped or not 1 <= len(group) <= cap \
                or not 1 <= len(mirror) <= cap:
            continue
        for a in set(group):
            for b in set(mirror):
                a, b = min(a, b), max(a, b)
                if a == b or (since is not None and a not in since and b not in since):
                    continue
                code = a << 32 | b
                if code not in seen:
                    seen.add(code)
                    yield a, b


# -- training --------------------------------------------------------------------------


@dataclass
class TrainingReport:
    records: int
    candidate_pairs: int
    random_pairs: int
    patterns: int
    prior: float
    duplicates: float
    model_id: int | None
    m: dict[str, dict[str, float]] = field(default_factory=dict)
    u: dict[str, dict[str, float]] = field(default_factory=dict)


def train(session: Session, resolver: ProbabilisticResolver, now: datetime, *,
          max_pairs: int = 500_000, random_pairs: int = 100_000, seed: int = 1,
          progress: Progress = _quiet, store: bool = True) -> TrainingReport:
    store_ = load_store(session, resolver)
    ids = sorted(store_.profiles)
    comparators = resolver.comparators
    rng = random.Random(seed)
    randoms: list[tuple[Profile, Profile]] = []
    if len(ids) >= 2:
        for _ in range(random_pairs):
            a, b = rng.sample(ids, 2)
            randoms.append((store_.profiles[a], store_.profiles[b]))
    u = estimate_u(comparators, randoms)
    model = Model.default(comparators)
    patterns: Counter[tuple[int, ...]] = Counter()
    pairs = 0
    for a, b in candidate_pairs(session, resolver.settings.key_cap, set(ids)):
        patterns[tuple(model.levels(store_.profiles[a], store_.profiles[b]))] += 1
        pairs += 1
        if pairs % 10000 == 0:
            progress("scoring candidate pairs", pairs, max_pairs)
        if pairs >= max_pairs:
            break
    tf = term_frequencies(store_.profiles.values())
    trained = em_train(model, patterns, u, records=len(ids), tf=tf) if patterns else model
    model_id = None
    if store and patterns:
        row = MatchModel(entity="contact", params={**trained.to_params(),
                                                   "records": len(ids)},
                         pairs=pairs, trained_at=now)
        session.add(row)
        session.flush()
        model_id = row.id
    return TrainingReport(
        records=len(ids), candidate_pairs=pairs, random_pairs=len(randoms),
        patterns=len(patterns), prior=trained.prior, duplicates=trained.duplicates,
        model_id=model_id,
        m={c.name: dict(zip(c.levels[1:], map(_r, trained.m[c.name][1:]), strict=True))
           for c in comparators},
        u={c.name: dict(zip(c.levels[1:], map(_r, trained.u[c.name][1:]), strict=True))
           for c in comparators})


def _r(value: float) -> float:
    return round(value, 6)


# -- re-deduplication --------------------------------------------------------------------


@dataclass
class RunReport:
    records: int
    candidate_pairs: int
    clusters: int
    contacts_before: int
    merges: list[tuple[int, int]] = field(default_factory=list)
    reviews: int = 0
    agreement: dict[str, float] = field(default_factory=dict)
    cluster_of: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "candidate_pairs": self.candidate_pairs,
                "clusters": self.clusters, "contacts_before": self.contacts_before,
                "merges": len(self.merges), "reviews": self.reviews,
                "agreement_with_store": self.agreement}


@dataclass
class Clustering:
    """Batch clusters (record -> cluster root), the unsure pairs, how many pairs were
    scored, and each pair that joined two clusters with its score (what explains a merge)."""

    cluster_of: dict[int, int]
    unsure: list[tuple[int, int, Any]]
    count: int
    links: list[tuple[int, int, Any]]


def cluster(session: Session, resolver: ProbabilisticResolver, store: Store, *,
            since: set[int] | None = None, max_cluster: int = 50,
            progress: Progress = _quiet) -> Clustering:
    """Blocking, then best-first joining with the guard."""
    model = resolver.refresh(session)
    model.set_population(len(store.profiles))
    auto, review = resolver.settings.auto_merge, resolver.settings.review
    rejected = {(a, b) for a, b in session.execute(
        select(MatchRejection.record_a, MatchRejection.record_b)
        .where(MatchRejection.entity == "contact"))}
    sure: list[tuple[float, int, int]] = []
    evidence: dict[tuple[int, int], Any] = {}
    unsure: list[tuple[int, int, Any]] = []
    count = 0
    for a, b in candidate_pairs(session, resolver.settings.key_cap, set(store.profiles),
                                since):
        count += 1
        if count % 20000 == 0:
            progress("scoring", count, 0)
        if (a, b) in rejected:
            continue
        scored = model.score(store.profiles[b], store.profiles[a])
        if scored.probability >= auto and not scored.blocked:
            sure.append((-scored.probability, a, b))
            evidence[(a, b)] = scored
        elif scored.probability >= review and not scored.distinct:
            unsure.append((a, b, scored))
    torn = _torn(model, store, sure, evidence)
    unsure += [(a, b, evidence[(a, b)]) for _, a, b in sure if (a, b) in torn]
    sure = sorted(entry for entry in sure if (entry[1], entry[2]) not in torn)
    links: list[tuple[int, int, Any]] = []  # the pairs that joined clusters, with scores
    clusters = _Clusters()
    for record in store.profiles:
        clusters.members[record] = [record]
    for _, a, b in sure:
        ra, rb = clusters.find(a), clusters.find(b)
        if ra == rb:
            continue
        left, right = clusters.members[ra], clusters.members[rb]
        if len(left) + len(right) > max_cluster:
            continue
        if _conflict(model, store, left, right, rejected, (a, b)):
            continue
        clusters.union(ra, rb)
        links.append((a, b, evidence[(a, b)]))
    return Clustering({r: clusters.find(r) for r in store.profiles}, unsure, count, links)


def _torn(model: Model, store: Store, sure: list[tuple[float, int, int]],
          evidence: dict[tuple[int, int], Any]) -> set[tuple[int, int]]:
    """The sure pairs of a record that matches two conflicting records about equally well
    (a row with only a name and a company, two namesakes working there): it cannot tell
    which one it is, so these pairs go to review instead."""
    partners: dict[int, list[tuple[float, int, tuple[int, int]]]] = {}
    for _, a, b in sure:
        weight = evidence[(a, b)].weight
        partners.setdefault(a, []).append((weight, b, (a, b)))
        partners.setdefault(b, []).append((weight, a, (a, b)))
    torn: set[tuple[int, int]] = set()
    for found in partners.values():
        if len(found) < 2:
            continue
        found.sort(reverse=True)
        close = [(other, key) for weight, other, key in found
                 if found[0][0] - weight < AMBIGUITY_MARGIN]
        if any(model.score(store.profiles[x], store.profiles[y]).veto
               for i, (x, _) in enumerate(close) for y, _ in close[i + 1:]):
            torn.update(key for _, key in close)
    return torn


def _conflict(model: Model, store: Store, left: list[int], right: list[int],
              rejected: set[tuple[int, int]], skip: tuple[int, int]) -> bool:
    for x in left:
        for y in right:
            if pair(x, y) in rejected:
                return True
            if (x, y) == skip or (y, x) == skip:
                continue
            if model.score(store.profiles[x], store.profiles[y]).veto:
                return True
    return False


def pairwise_agreement(a: dict[int, int], b: dict[int, int]) -> dict[str, float]:
    """Pairwise precision/recall/F1 of clustering ``a`` against clustering ``b``."""
    def pairs(assignment: dict[int, int]) -> set[tuple[int, int]]:
        groups: dict[int, list[int]] = {}
        for record, root in assignment.items():
            groups.setdefault(root, []).append(record)
        out: set[tuple[int, int]] = set()
        for members in groups.values():
            members.sort()
            out.update((x, y) for i, x in enumerate(members) for y in members[i + 1:])
        return out

    pa, pb = pairs(a), pairs(b)
    both = len(pa & pb)
    precision = both / len(pa) if pa else 1.0
    recall = both / len(pb) if pb else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairs_batch": len(pa), "pairs_store": len(pb), "common": both,
            "precision": round(precision, 6), "recall": round(recall, 6), "f1": round(f1, 6)}


def rededuplicate(session: Session, resolver: ProbabilisticResolver, now: datetime, *,
                  apply: bool = True, since: datetime | None = None,
                  progress: Progress = _quiet) -> RunReport:
    store = load_store(session, resolver)
    recent: set[int] | None = None
    if since is not None:
        recent = set(session.scalars(select(SourceRecord.id).where(
            SourceRecord.kind == "person", SourceRecord.last_seen >= since)))
    clustering = cluster(session, resolver, store, since=recent, progress=progress)
    cluster_of, unsure, count = clustering.cluster_of, clustering.unsure, clustering.count
    report = RunReport(records=len(store.profiles), candidate_pairs=count,
                       clusters=len(set(cluster_of.values())),
                       contacts_before=len(set(store.contact_of.values())),
                       cluster_of=cluster_of)
    report.agreement = pairwise_agreement(cluster_of, store.contact_of)
    spans: dict[int, set[int]] = {}
    for record, root in cluster_of.items():
        spans.setdefault(root, set()).add(store.contact_of[record])
    for contacts in spans.values():
        ordered = sorted(contacts)
        report.merges.extend((ordered[0], other) for other in ordered[1:])
    candidates = [(a, b, s) for a, b, s in unsure if cluster_of[a] != cluster_of[b]]
    report.reviews = len(candidates)
    if not apply:
        return report
    touched: set[int] = set()
    live = {c: c for c in store.contact_of.values()}
    for survivor, merged, scored in _explained(clustering.links, store.contact_of):
        survivor, merged = _follow(live, survivor), _follow(live, merged)
        if survivor == merged:
            continue
        survivor, merged = sorted((survivor, merged))
        merge_contacts(session, survivor, merged, decided_by="auto", now=now,
                       score=scored.probability,
                       reason="batch re-deduplication (crmhub match run)",
                       comparison={**scored.as_dict(), "rule": "batch re-deduplication"})
        live[merged] = survivor
        touched.add(survivor)
    if touched:
        rebuild_contacts(session, touched, now)
    _queue(session, store, candidates, live, now)
    return report


def _explained(links: list[tuple[int, int, Any]],
               contact_of: dict[int, int]) -> list[tuple[int, int, Any]]:
    """The merges the clustering implies, each with the scored pair of records that joined
    the two contacts (the merges follow the order the pairs joined, best first)."""
    out: list[tuple[int, int, Any]] = []
    for a, b, scored in links:
        left, right = contact_of[a], contact_of[b]
        if left != right:
            out.append((left, right, scored))
    return out


def _follow(live: dict[int, int], contact: int) -> int:
    while live.get(contact, contact) != contact:
        contact = live[contact]
    return contact


def _queue(session: Session, store: Store, candidates: list[tuple[int, int, Any]],
           live: dict[int, int], now: datetime) -> None:
    if not candidates:
        return
    known = {(a, b) for a, b in session.execute(
        select(MatchCandidate.left_record_id, MatchCandidate.right_record_id)
        .where(MatchCandidate.entity == "contact"))}
    rows = []
    for a, b, scored in candidates:
        if (a, b) in known:
            continue
        left, right = _follow(live, store.contact_of[a]), _follow(live, store.contact_of[b])
        if left == right:
            continue
        rows.append({"entity": "contact", "left_record_id": a, "right_record_id": b,
                     "left_id": left, "right_id": right, "score": scored.probability,
                     "weight": scored.weight, "comparison": scored.as_dict(),
                     "status": "open", "created_at": now})
        known.add((a, b))
    if rows:
        session.execute(insert(table_of(MatchCandidate)), rows)
