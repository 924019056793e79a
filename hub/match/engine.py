"""The probabilistic resolver: each incoming person record against the store, via its keys.

For every record of a batch, in order:

1. its match keys (:mod:`hub.match.blocking`, identity keys from :mod:`hub.match.canonical`) are
   looked up — for the whole batch in one query per key kind, never a scan; keys shared by
   more than ``[match] key_cap`` records are capped and stop producing candidates;
2. every record of every candidate contact is scored against it (:mod:`hub.match.score`);
   a contact's score is its best record's, and a veto from any of its records (different
   birth dates ...) forbids an automatic merge — the guard against chains;
3. decision: ``>= auto_merge`` joins (and merges several contacts when it reaches
   several), ``>= review`` goes to the review queue, below stays distinct. A pair a user
   rejected (``match_rejections``, per pair of source records) is never merged or proposed;
4. a changed record that no longer reaches ``review`` against the rest of its contact is
   split off (logged), unless a user merged that contact.

Records of the same batch see each other exactly as if they had come one at a time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from hub.config import MatchSection
from hub.match.blocking import FAMILY_KINDS, NAME_KINDS, lookup_only_keys
from hub.match.canonical import NAME, STRONG, WEAK
from hub.match.compare import BUILTIN, Profile, comparators, givens_differ
from hub.match.resolve import CHUNK, Item, live_contacts, pair
from hub.match.score import AMBIGUITY_MARGIN, Model, Scored
from hub.match.survivorship import MANUAL
from hub.store.bulk import placeholder
from hub.store.db import among, chunks
from hub.store.model import (
    MatchModel,
    MatchRejection,
    MergeEvent,
    SourceRecord,
)

MAX_MEMBERS = 200  # records of one contact scored against a newcomer
FAMILY_ONLY = 1  # the weight of a candidate linked by one family-name key alone
PROFILE_CACHE = 10_000  # profiles of stored records kept between batches (~2 KB each)


@dataclass
class Merge:
    survivor: int
    merged: int
    reason: str
    score: float
    comparison: dict[str, Any]
    decided_by: str = "auto"


@dataclass
class Review:
    item: int  # index of the batch item
    other_record: int  # an existing source record (> 0) or another batch item (-index - 1)
    other_node: int
    scored: Scored


@dataclass
class Split:
    item: int
    old_contact: int
    reason: str
    comparison: dict[str, Any]


@dataclass
class Capped:
    kind: str
    key: str
    reason: str


@dataclass
class Resolution:
    """Per item, the contact it joins: an existing id (> 0) or a new contact (< 0, -1 first)."""

    contact_of: list[int]
    new_contacts: int
    merges: list[Merge] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    splits: list[Split] = field(default_factory=list)
    capped: list[Capped] = field(default_factory=list)
    scores: list[Scored | None] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)  # per item, for the cache


class Resolver(Protocol):
    def resolve(self, session: Session, items: Sequence[Item]) -> Resolution: ...

    def remember(self, record_id: int, digest: str, profile: Profile) -> None:
        """The stored record and content an item's profile belongs to (a cache hint)."""


def _keyed(session: Session, template: str,
           by_kind: dict[str, list[str]]) -> Iterable[Sequence[Any]]:
    """Rows for (kind, one of a list of values) per kind, every kind in one statement.

    ``template`` has ``{kind}`` and ``{among}`` where the kind's and the values' condition
    go: ``kind = ? AND key IN (?, ...)`` walks the (kind, key) index on SQLite (a row-value
    IN would make it scan), 500 values a part; PostgreSQL takes each kind's values as one
    array, ``= ANY(%s)``, so the statement is short and the same from batch to batch (see
    :func:`hub.store.db.among`). One UNION ALL round trip keeps the streaming path to a few
    statements whatever the number of key kinds. The SQL goes to the driver as it is.
    """
    connection = session.connection()
    mark = placeholder(connection.dialect)
    array = connection.dialect.name == "postgresql"
    parts: list[tuple[str, list[str]]] = [
        (kind, chunk) for kind, values in sorted(by_kind.items()) if values
        for chunk in ([values] if array else chunks(values))]
    group: list[tuple[str, list[str]]] = []
    size = 0
    for part in [*parts, None]:
        if part is not None and (array or size + len(part[1]) <= CHUNK):
            group.append(part)
            size += len(part[1])
            continue
        if group:
            sql = " UNION ALL ".join(
                template.format(kind=mark, among=f"= ANY({mark})" if array
                                else f"IN ({', '.join([mark] * len(values))})")
                for _, values in group)
            params = tuple(p for kind, values in group
                           for p in ((kind, values) if array else (kind, *values)))
            # The driver's own cursor: thousands of plain rows per batch, no result
            # processing needed (every column is text or an integer).
            cursor = connection.connection.cursor()
            try:
                cursor.execute(sql, params)
                yield from cursor.fetchall()
            finally:
                cursor.close()
        group, size = ([part], len(part[1])) if part is not None else ([], 0)


class _Clusters:
    """Union-find where existing contacts (> 0) outrank new ones (< 0), lowest id first."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}

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
        self.members.setdefault(keep, []).extend(self.members.pop(drop, []))
        return keep


class ProfileCache:
    """Profiles of stored records by (record id, content hash), least recently used out.

    A record's profile only changes with its content, and its content hash says when: a
    hit needs no JSON read. Another process updating a record changes the hash, so a stale
    entry is never used.
    """

    def __init__(self, size: int = PROFILE_CACHE) -> None:
        self.size = size
        self.entries: OrderedDict[int, tuple[str, Profile]] = OrderedDict()

    def get(self, record_id: int, digest: str) -> Profile | None:
        entry = self.entries.get(record_id)
        if entry is None or entry[0] != digest:
            return None
        self.entries.move_to_end(record_id)
        return entry[1]

    def put(self, record_id: int, digest: str, profile: Profile) -> Profile:
        if self.size <= 0:
            return profile
        self.entries[record_id] = (digest, profile)
        self.entries.move_to_end(record_id)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return profile


class ProbabilisticResolver:
    """Fellegi-Sunter matching through stored match keys (see the module docstring).

    The model is the newest one ``crmhub match train`` stored (checked once per batch, so
    a running daemon picks a new one up), else the comparators' defaults; a ``model``
    given here is used as it is.
    """

    def __init__(self, settings: MatchSection, extra_comparators: Iterable[type[Any]] = (),
                 *, model: Model | None = None) -> None:
        self.settings = settings
        self.identifiers = tuple(settings.identifiers)
        self.comparators = comparators(extra_comparators)
        self.plugin_comparators = len(self.comparators) > len(BUILTIN)  # they read .data
        self.fixed = model is not None
        self.model = model or Model.default(self.comparators)
        self.model.vetoes = frozenset(settings.vetoes)
        self.model_id: int | None = None
        self.cache = ProfileCache()

    def profile(self, data: dict[str, Any]) -> Profile:
        return Profile.of(data, self.identifiers, keep_data=self.plugin_comparators)

    def remember(self, record_id: int, digest: str, profile: Profile) -> None:
        self.cache.put(record_id, digest, profile)

    def refresh(self, session: Session, newest: int | bool | None = False) -> Model:
        """The model to use; ``newest`` is the newest stored model id when known."""
        if self.fixed:
            return self.model
        if newest is False:
            newest = session.scalar(select(func.max(MatchModel.id))
                                    .where(MatchModel.entity == "contact"))
        if newest != self.model_id:
            params = session.scalar(select(MatchModel.params).where(MatchModel.id == newest)) \
                if newest is not None else None
            self.model = Model.from_params(self.comparators, params) if params \
                else Model.default(self.comparators)
            self.model.vetoes = frozenset(self.settings.vetoes)
            self.model_id = newest
        return self.model

    def resolve(self, session: Session, items: Sequence[Item]) -> Resolution:
        # One round trip: the newest model, the store's size and whether any rejection
        # exists. The size is the records the connectors have created, counted in
        # sync_state within each batch's transaction: a rolled-back batch cannot move it,
        # where the highest record id moves with every sequence value a rollback burns
        # (a crash must not change what the matcher decides), and it costs no count.
        newest, population, rejections = session.execute(text(
            "SELECT (SELECT max(id) FROM match_models WHERE entity = 'contact'), "
            "(SELECT coalesce(sum(records), 0) FROM sync_state), "
            "(SELECT count(*) FROM (SELECT 1 FROM match_rejections LIMIT 1) AS r)")).one()
        model = self.refresh(session, newest)
        model.set_population(population or 0)
        state = _State(self, session, items)
        state.any_rejection = bool(rejections)
        return state.run()


class _State:
    def __init__(self, resolver: ProbabilisticResolver, session: Session,
                 items: Sequence[Item]) -> None:
        self.r = resolver
        self.session = session
        self.items = items
        self.auto = resolver.settings.auto_merge
        self.review = resolver.settings.review
        self.two_people: set[int] = set()  # of the record being placed: see _score
        self.cap = resolver.settings.key_cap
        self.limit = resolver.settings.max_candidates
        self.clusters = _Clusters()
        self.profiles: dict[int, Profile] = {}  # record ref -> profile
        self.index: dict[tuple[str, str], list[int]] = {}  # key -> record refs
        self.node_of: dict[int, int] = {}  # record ref -> contact node
        self.rejected: set[tuple[int, int]] = set()
        self.capped: set[tuple[str, str]] = set()
        self.user_merged: set[int] = set()
        self.any_rejection = True
        self.lookup: dict[int, list[tuple[str, str]]] = {}  # id(item) -> its lookup keys
        self.given_of: dict[int, str] = {}  # stored record -> given-name key, from its keys
        # A record linked by one family-name key alone (the same family name and initial,
        # say) whose given name plainly differs cannot reach `review`: the given-name veto
        # applies and nothing else was shared. It is never a candidate. (Keys without the
        # family name, like birth date + street, also link swapped names: those count.)
        self.prune = "given_name" in resolver.model.vetoes
        self.out = Resolution(contact_of=[], new_contacts=0)

    # -- loading -----------------------------------------------------------------------

    def _lookup_keys(self, item: Item) -> list[tuple[str, str]]:
        keys = self.lookup.get(id(item))
        if keys is None:
            keys = [(k.kind, k.key[:320]) for k in item.person.keys]
            keys.extend(lookup_only_keys(item.person.data))
            keys = self.lookup[id(item)] = list(dict.fromkeys(keys))
        return keys

    def load(self) -> None:
        """Read what the batch's records can meet: their keys' records (capping keys that
        are too common), every record of each candidate contact with its profile, the
        remembered rejections and the contacts a person merged."""
        contact_of = self._load_keys()
        # Only the best candidates of each item are loaded (and later scored).
        contacts = {contact_of[r] for position, item in enumerate(self.items)
                    for r in self._candidates(item, -position - 1)}
        contacts.update(i.current for i in self.items if i.current is not None)
        live = live_contacts(self.session, contacts)
        self._load_members(live)
        # Keys of records that are not live any more (rare) name no candidate.
        for found_key, refs in list(self.index.items()):
            self.index[found_key] = [r for r in refs if r in self.node_of]
        self._load_decisions(live)
        self.live = live

    def _load_keys(self) -> dict[int, int]:
        """Index the stored records sharing a key with the batch; each one's contact."""
        session = self.session
        wanted = sorted({k for item in self.items for k in self._lookup_keys(item)})
        by_kind: dict[str, list[str]] = {}
        for kind, key in wanted:
            by_kind.setdefault(kind, []).append(key)
        for kind, key in _keyed(session, "SELECT kind, value FROM shared_points WHERE "
                                "kind = {kind} AND value {among}", by_kind):
            self.capped.add((kind, key))
        wanted_keys = {k: [v for v in vs if (k, v) not in self.capped]
                       for k, vs in by_kind.items()}
        rows: dict[tuple[str, str], list[tuple[int, int]]] = {}
        given_of = self.given_of
        for kind, key, record_id, contact_id, given in _keyed(
                session, "SELECT kind, key, source_record_id, contact_id, given FROM "
                "match_keys WHERE kind = {kind} AND key {among}", wanted_keys):
            rows.setdefault((kind, key), []).append((record_id, contact_id))
            if given is not None:
                given_of[record_id] = given
        contact_of: dict[int, int] = {}
        for (kind, key), found in sorted(rows.items()):
            if len(found) > self.cap:
                self._cap(kind, key, f"too common: {len(found)} records share it")
                continue
            self.index[(kind, key)] = sorted({r for r, _ in found})
            contact_of.update(found)
        return contact_of

    def _load_members(self, live: dict[int, int]) -> None:
        """Every record of every candidate contact (up to ``MAX_MEMBERS``, newest first):
        a newcomer is scored against them all. Profiles come from the resolver's cache
        when the record's content is unchanged, else from the stored packed profile, so
        ``data`` (JSON) is read and parsed only for records not seen in that version."""
        session = self.session
        members: dict[int, list[int]] = {}
        missing: list[int] = []
        cache = self.r.cache
        packed = not self.r.plugin_comparators  # plugin comparators read the whole record
        for chunk in chunks(sorted(set(live.values()))):
            for record_id, contact_id, digest, stored in session.connection().execute(
                    select(SourceRecord.id, SourceRecord.contact_id, SourceRecord.content_hash,
                           SourceRecord.match_profile)
                    .where(among(session, SourceRecord.contact_id, chunk),
                           SourceRecord.kind == "person", SourceRecord.connector != MANUAL,
                           SourceRecord.deleted_at.is_(None))
                    .order_by(SourceRecord.id.desc())):
                assert contact_id is not None
                if len(members.setdefault(contact_id, [])) < MAX_MEMBERS:
                    members[contact_id].append(record_id)
                    self.node_of[record_id] = contact_id
                    cached = cache.get(record_id, digest)
                    if cached is None and packed:
                        cached = Profile.unpack(stored, self.r.identifiers)
                    if cached is None:
                        missing.append(record_id)
                    else:
                        self.profiles[record_id] = cached
        for chunk in chunks(missing):
            for record_id, digest, data in session.execute(
                    select(SourceRecord.id, SourceRecord.content_hash, SourceRecord.data)
                    .where(SourceRecord.id.in_(chunk))):
                self.profiles[record_id] = cache.put(record_id, digest, self.r.profile(data))
        for contact_id, records in members.items():
            self.clusters.members[contact_id] = sorted(records)

    def _load_decisions(self, live: dict[int, int]) -> None:
        """The rejections remembered between the records in play, and which current
        contacts a person merged (their records are never split off)."""
        session = self.session
        all_records = sorted(self.node_of) + [i.record_id for i in self.items if i.record_id]
        if all_records and self.any_rejection:
            for chunk in chunks(sorted(set(all_records))):
                for a, b in session.execute(
                        select(MatchRejection.record_a, MatchRejection.record_b).where(
                            MatchRejection.entity == "contact",
                            or_(MatchRejection.record_a.in_(chunk),
                                MatchRejection.record_b.in_(chunk)))):
                    self.rejected.add(pair(a, b))
        currents = sorted({live[i.current] for i in self.items if i.current is not None})
        for chunk in chunks(currents):
            self.user_merged.update(session.scalars(
                select(MergeEvent.survivor_id).where(
                    MergeEvent.entity == "contact", MergeEvent.decided_by == "user",
                    MergeEvent.undone_at.is_(None), MergeEvent.survivor_id.in_(chunk))))

    def _candidates(self, item: Item, ref: int) -> dict[int, int]:
        """The records sharing keys with ``item`` (with how much they share), at most
        ``max_candidates``, the best ones.

        A record sharing an identity key (e-mail, phone, handle, identifier) outranks one
        sharing name keys only; more shared keys outrank fewer; newer records break ties.
        Stored records only in the load phase (batch records are not indexed yet).
        """
        weight: dict[int, int] = {}
        for key in self._lookup_keys(item):
            if key in self.capped:
                continue
            refs = self.index.get(key)
            if not refs:
                continue
            points = FAMILY_ONLY if key[0] in FAMILY_KINDS else 2 if key[0] in NAME_KINDS \
                else 3 if key[0] == "name" else 16
            for other in refs:
                if other != item.record_id and other != ref:
                    weight[other] = weight.get(other, 0) + points
        given = item.person.data.get("given_key") or ""
        if self.prune and given:
            weight = {other: points for other, points in weight.items()
                      if points != FAMILY_ONLY or not givens_differ(given, self._given(other))}
        if len(weight) <= self.limit:
            return weight
        best = sorted(weight, key=lambda r: (-weight[r], -r))[:self.limit]
        return {r: weight[r] for r in best}

    def _given(self, ref: int) -> str:
        """A record's given-name key: from its profile once loaded, else from its keys
        ("" when unknown, which prunes nothing)."""
        profile = self.profiles.get(ref)
        return profile.given if profile is not None else self.given_of.get(ref, "")

    def _cap(self, kind: str, key: str, reason: str) -> None:
        if (kind, key) not in self.capped:
            self.capped.add((kind, key))
            self.out.capped.append(Capped(kind, key, reason))
        self.index.pop((kind, key), None)

    # -- resolving ---------------------------------------------------------------------

    def run(self) -> Resolution:
        self.load()
        for position, item in enumerate(self.items):
            self._one(position, item)
        self.out.contact_of = [self.clusters.find(n) for n in self.out.contact_of]
        for review in self.out.reviews:
            review.other_node = self.clusters.find(review.other_node)
        return self.out

    def _rejected(self, ref: int, members: Iterable[int]) -> bool:
        return any(pair(ref, m) in self.rejected for m in members if m > 0) if ref > 0 \
            else False

    def _cross_rejected(self, a: int, b: int) -> bool:
        if not self.rejected:
            return False
        left = [m for m in self.clusters.members.get(a, []) if m > 0]
        right = [m for m in self.clusters.members.get(b, []) if m > 0]
        return any(pair(x, y) in self.rejected for x in left for y in right)

    def _cross_vetoed(self, a: int, b: int) -> bool:
        """Whether any record of contact ``a`` vetoes any record of contact ``b``: a record
        matching both (a phone-only row between two namesakes at one company) must not
        make one contact of two people that conflict."""
        left = self.clusters.members.get(self.clusters.find(a), [])
        right = self.clusters.members.get(self.clusters.find(b), [])
        score = self.r.model.score
        return any(score(self.profiles[x], self.profiles[y]).veto is not None
                   for x in left for y in right)

    def _one(self, position: int, item: Item) -> None:
        """Place one record: score it against every member of each candidate contact,
        keep or leave its current contact, join the contacts it matches (merging stored
        ones), send the doubtful ones to review, and index its keys."""
        ref = -position - 1  # this record, among the batch's records
        own_id = item.record_id
        my_ref = own_id if own_id is not None else ref
        profile = self.r.profile(item.person.data)
        current = self.clusters.find(self.live[item.current]) if item.current is not None \
            else None
        best, vetoed = self._score(item, ref, own_id, profile, current)
        target = self._keep_current(position, current, best, own_id)
        chosen: Scored | None = best[current][0] if target is not None and current in best \
            else None
        target, chosen = self._join(position, item, profile, my_ref, current, target, chosen,
                                    best, vetoed)
        if target is None:
            self.out.new_contacts += 1
            target = -self.out.new_contacts
        target = self.clusters.find(target)
        self._place(item, my_ref, profile, target)
        self.out.contact_of.append(target)
        self.out.scores.append(chosen)
        self.out.profiles.append(profile)

    def _score(self, item: Item, ref: int, own_id: int | None, profile: Profile,
               current: int | None) -> tuple[dict[int, tuple[Scored, int]], dict[int, str]]:
        """The best score against each candidate contact (and the current one), with the
        member that gave it; the first veto met in each contact."""
        nodes: dict[int, None] = {}
        if current is not None:
            nodes[current] = None
        for other in sorted(self._candidates(item, ref)):
            nodes[self.clusters.find(self.node_of[other])] = None
        best: dict[int, tuple[Scored, int]] = {}
        vetoed: dict[int, str] = {}
        self.two_people = set()  # contacts a veto says are another person
        for node in nodes:
            for member in self.clusters.members.get(node, []):
                if member in (own_id, ref):
                    continue
                scored = self.r.model.score(profile, self.profiles[member])
                if scored.veto:
                    vetoed.setdefault(node, scored.veto)
                    if scored.distinct:
                        self.two_people.add(node)
                if node not in best or scored.probability > best[node][0].probability:
                    best[node] = (scored, member)
        return best, vetoed

    def _keep_current(self, position: int, current: int | None,
                      best: dict[int, tuple[Scored, int]], own_id: int | None) -> int | None:
        """The record stays with its current contact unless it scores below review against
        it (and no person merged it there): then it is split off."""
        if current is None:
            return None
        if current in best and best[current][0].probability < self.review and \
                current not in self.user_merged:
            scored = best[current][0]
            self.out.splits.append(Split(position, current, "no longer matches its contact: "
                                         f"best score {scored.probability:.3f} "
                                         f"< review {self.review}", scored.as_dict()))
            self.clusters.members[current] = [
                m for m in self.clusters.members.get(current, []) if m != own_id]
            return None
        return current

    def _join(self, position: int, item: Item, profile: Profile, my_ref: int,
              current: int | None, target: int | None, chosen: Scored | None,
              best: dict[int, tuple[Scored, int]], vetoed: dict[int, str],
              ) -> tuple[int | None, Scored | None]:
        """Take the candidate contacts best first: one above ``auto`` and not vetoed is
        joined (two stored ones merge), one above ``review`` goes to review, one below
        may still share identity keys."""
        ranked = sorted((n for n in best if n != current),
                        key=lambda n: (-best[n][0].probability, self.clusters.rank(n)))
        if target is None and (torn := self._ambiguous(my_ref, ranked, best, vetoed)):
            for node in torn:  # it cannot tell which of them it is: a person decides
                self.out.reviews.append(Review(position, best[node][1], node, best[node][0]))
            return None, None
        for node in ranked:
            node = self.clusters.find(node)
            if target is not None and node == self.clusters.find(target):
                continue
            scored, member = best[node]
            if self._rejected(my_ref, self.clusters.members.get(node, [])):
                continue
            if scored.probability >= self.auto and node not in vetoed and not scored.weak:
                if target is None:
                    target, chosen = node, scored
                    continue
                if self._cross_rejected(target, node):
                    continue
                if self._cross_vetoed(target, node):  # a bridge between two people
                    self.out.reviews.append(Review(position, member, node, scored))
                    continue
                root = self.clusters.find(target)
                if root > 0 and node > 0:  # two stored contacts become one
                    survivor, merged = sorted((root, node), key=self.clusters.rank)
                    self.out.merges.append(Merge(
                        survivor, merged, _reason(scored), scored.probability,
                        scored.as_dict()))
                target = self.clusters.union(target, node)
            elif scored.probability >= self.review and node not in self.two_people \
                    and not scored.distinct:
                self.out.reviews.append(Review(position, member, node, scored))
            elif scored.probability < self.review:
                self._share_identity_keys(item, profile, member, scored)
        return target, chosen

    def _ambiguous(self, my_ref: int, ranked: list[int], best: dict[int, tuple[Scored, int]],
                   vetoed: dict[int, str]) -> list[int]:
        """The contacts a record matches about equally well though they conflict with each
        other (a row with only a name and a company, two namesakes working there); empty
        when the best one stands out or nothing conflicts."""
        joinable = [n for n in ranked if best[n][0].probability >= self.auto
                    and n not in vetoed and not best[n][0].weak
                    and not self._rejected(my_ref, self.clusters.members.get(n, []))]
        if len(joinable) < 2:
            return []
        top = joinable[0]
        close = [n for n in joinable[1:]
                 if best[top][0].weight - best[n][0].weight < AMBIGUITY_MARGIN
                 and self.clusters.find(n) != self.clusters.find(top)
                 and self._cross_vetoed(top, n)]
        return [top, *close] if close else []

    def _place(self, item: Item, my_ref: int, profile: Profile, target: int) -> None:
        """The record joins ``target``; its keys are indexed (a key shared by more than
        ``cap`` records is capped)."""
        self.clusters.members.setdefault(target, []).append(my_ref)
        self.profiles[my_ref] = profile
        self.node_of[my_ref] = target
        for key in dict.fromkeys((k.kind, k.key[:320]) for k in item.person.keys):
            if key in self.capped:
                continue
            refs = self.index.setdefault(key, [])
            refs.append(my_ref)
            if len(refs) > self.cap:
                self._cap(key[0], key[1], f"too common: more than {self.cap} records share it")

    def _share_identity_keys(self, item: Item, profile: Profile, member: int,
                             scored: Scored) -> None:
        """An e-mail or phone on two people whose given names differ identifies no one."""
        if scored.levels.get("given") != "different":
            return
        other = self.profiles[member]
        for k in item.person.keys:
            if k.strength not in (STRONG, WEAK) or k.kind not in ("email", "phone"):
                continue
            if k.key in other.emails or k.key in other.phones:
                self._cap(k.kind, k.key[:320], "seen on two people whose names differ")


def _reason(scored: Scored) -> str:
    strong = [name for name, level in scored.levels.items()
              if level == "exact" and name in ("email", "phone", "handle", "identifier")]
    evidence = ", ".join(f"{n} {lv}" for n, lv in sorted(scored.levels.items()))
    head = "same " + ", ".join(strong) if strong else "similar record"
    return f"{head} (p={scored.probability:.3f}; {evidence})"


__all__ = ["NAME", "Capped", "Merge", "ProbabilisticResolver", "Resolution", "Resolver",
           "Review", "Split", "pair"]
