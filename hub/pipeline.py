"""Observation batch -> normalise -> resolve -> merge -> golden records -> commit (DESIGN §3).

One database transaction per batch: source records, golden records, outbox events,
quarantined input and the connector's cursor commit together or not at all, so a crash at
any point followed by a restart neither loses nor doubles anything. Each record is applied
inside a savepoint: one that fails is quarantined with its reason and the rest commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from hub.config import ConnectorConfig, HubConfig
from hub.connectors import Batch, SnapshotEnd
from hub.logs import describe_error
from hub.match.blocking import stored_keys
from hub.match.canonical import CanonicalPerson
from hub.match.companies import CompanyRef, CompanyResolver
from hub.match.company import rebuild_company
from hub.match.engine import ProbabilisticResolver, Resolution, Resolver, pair
from hub.match.golden import SURVIVORSHIP, Source, golden_values, policy_of, rebuild_contacts
from hub.match.resolve import (
    Item,
    live_contact,
    live_contacts,
    mark_shared,
    merge_contacts,
)
from hub.match.survivorship import SourceView
from hub.normalize import (
    clean_company_name,
    clean_text,
    company_name_key,
    domain_from_website,
    normalize_country,
    normalize_email,
    normalize_phone,
)
from hub.plugins import HubPlugins
from hub.prepare import (
    Prepared,
    PreparedBatch,
    Preparer,
    build_policy,
    content_hash,
    policy_salt,
)
from hub.records import ContactValue, Observation, PersonData
from hub.store.bulk import insert_rows, insert_with_ids
from hub.store.db import among, database_unavailable, session_factory
from hub.store.model import (
    Contact,
    ContactPoint,
    Interaction,
    InteractionContact,
    MatchCandidate,
    MatchKey,
    MergeEvent,
    OutboxEvent,
    QuarantineItem,
    SharedPoint,
    SourceRecord,
    SyncState,
    table_of,
)

log = logging.getLogger(__name__)
MAX_PAYLOAD = 64 * 1024
# The tables a bulk load grows, analysed as it does (Pipeline.analyze_if_grown).
ANALYZED = ("source_records", "match_keys", "contacts", "contact_points", "companies",
            "company_domains")
SQLITE_ANALYSIS_LIMIT = 1000  # rows sampled per index: statistics in milliseconds


class RecordRejected(Exception):
    """A record the pipeline cannot store; it goes to quarantine with this reason."""


@dataclass
class IngestStats:
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    skipped_own: int = 0
    merged: int = 0
    contacts_created: int = 0
    interactions: int = 0
    held: str | None = None

    def add(self, other: IngestStats) -> None:
        for f in fields(self):
            if f.name != "held":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.held = other.held or self.held

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    """Stores batches; holds no state between batches but the policy and the resolver."""

    def __init__(self, engine: Engine, config: HubConfig, plugins: HubPlugins | None = None,
                 *, resolver: Resolver | None = None,
                 clock: Callable[[], datetime] = _utcnow):
        self.engine = engine
        self.sessions = session_factory(engine)
        self.sessions.configure(info={SURVIVORSHIP: config.match.survivorship.policy()})
        self.config = config
        self.plugins = plugins
        self.policy = build_policy(config)
        self.resolver: Resolver = resolver or ProbabilisticResolver(
            config.match, plugins.comparator_classes().values() if plugins else ())
        self.preparer = Preparer(self.policy, plugins)
        from hub.assign.engine import Routing  # scoring, lifecycle and routing (rules file)

        self.routing = Routing.load(config, plugins)
        self.clock = clock
        self._grown = 0  # records written since the planner statistics were refreshed
        self._analyzed_at = 0
        self._unanalysed: bool | None = None  # the store had no statistics at the start

    def analyze_if_grown(self, written: int) -> None:
        """Refresh the planner statistics while a bulk load grows the tables.

        Without statistics both planners pick a poor index as the store grows: SQLite
        answers "these contacts' e-mails and phones" through the index on the point's
        kind (every e-mail and phone of the store, each batch) and counts open leads
        through ``merged_into_id IS NULL`` (the whole table); PostgreSQL walks a whole
        connector's rows for every batch lookup (autovacuum runs too late for one long
        import). So the grown tables are analysed each time the records written in this
        process double (from 5,000 on), and once at the first batch when the store has
        never been analysed (a store written by an earlier version). SQLite samples at
        most ``SQLITE_ANALYSIS_LIMIT`` rows per index, which keeps it to milliseconds.
        """
        self._grown += written
        if self._unanalysed is None:
            self._unanalysed = not self.has_statistics()
        if not self._unanalysed and self._grown < max(5000, 2 * self._analyzed_at):
            return
        self._unanalysed = False
        self._analyzed_at = self._grown
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "sqlite":
                connection.exec_driver_sql(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
                for table in ANALYZED:  # SQLite analyses one table (or all) at a time
                    connection.exec_driver_sql(f"ANALYZE {table}")
            else:
                connection.exec_driver_sql(f"ANALYZE {', '.join(ANALYZED)}")
            connection.commit()
        log.info("planner statistics refreshed after %d records", self._grown)

    def has_statistics(self) -> bool:
        """Whether the store's contacts table has ever been analysed."""
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "sqlite":
                return bool(connection.exec_driver_sql(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar()) \
                    and bool(connection.exec_driver_sql(
                        "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'contacts'").scalar())
            # reltuples is -1 until the first ANALYZE (PostgreSQL 14 and later)
            reltuples = connection.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'contacts'::regclass").scalar()
            return reltuples is not None and reltuples >= 0

    def ingest(self, connector: ConnectorConfig, batch: Batch | PreparedBatch, *,
               session: Session | None = None, allow_deletes: bool = False) -> IngestStats:
        """Apply one batch in one transaction.

        A plain :class:`Batch` is prepared here, normalising only what changed; a
        :class:`PreparedBatch` comes normalised already. With ``session`` the batch joins
        that caller's open transaction and nothing is committed here (``--dry-run`` rolls
        the whole run back at the end).
        """
        if isinstance(batch, Batch):
            batch = self.preparer.prepare(connector, batch, normalise=False)
        if session is not None:
            return _BatchRun(self, session, connector, batch, allow_deletes).run()
        with self.sessions() as own:
            own.begin()
            try:
                serialise_writers(own)
                stats = _BatchRun(self, own, connector, batch, allow_deletes).run()
            except BaseException:
                own.rollback()
                raise
            own.commit()
        return stats


# pg_advisory_xact_lock's key for "a batch is resolving and writing" ('crmh' in ASCII).
WRITER_LOCK = 0x63726D68


def serialise_writers(session: Session) -> None:
    """Let one batch at a time resolve and write, store-wide, until its transaction ends.

    Matching must see the people a concurrent batch is creating: two connectors (or two
    daemons) meeting the same new person at once would otherwise each create them. SQLite
    serialises writers already (every transaction begins IMMEDIATE, taking the write
    lock); on PostgreSQL a transaction-level advisory lock does the same, and is released
    by COMMIT, ROLLBACK or the death of the connection. Connectors still read and
    normalise in parallel: only the resolve-and-write step queues (BENCHMARKS.md).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK})


def _storable(text: str | None, limit: int) -> str | None:
    """Rejected input is often binary: PostgreSQL text cannot hold NUL, so show it as U+FFFD."""
    return text[:limit].replace("\x00", "\ufffd") if text else text


def quarantine(session: Session, connector: str, reason: str, payload: str | None,
               external_id: str | None, location: str | None,
               observation: dict[str, Any] | None, now: datetime) -> bool:
    """Store rejected input unless the same input is already waiting there."""
    text = _storable(payload, MAX_PAYLOAD)
    external_id, location = _storable(external_id, 512), _storable(location, 1000)
    reason = _storable(reason, 4000) or "rejected"
    seed = json.dumps([connector, external_id, location if external_id is None else None, text,
                       observation], sort_keys=True, default=str)
    fingerprint = hashlib.sha256(seed.encode()).hexdigest()
    exists = session.scalar(select(QuarantineItem.id).where(
        QuarantineItem.fingerprint == fingerprint, QuarantineItem.status == "open"))
    if exists is not None:
        return False
    session.add(QuarantineItem(connector=connector, external_id=external_id, location=location,
                               reason=reason, fingerprint=fingerprint, payload=text,
                               observation=observation, status="open", created_at=now))
    log.warning("quarantined input from %s: %s", connector, reason,
                extra={"connector": connector, "location": location})
    return True


@dataclass
class _Person:
    """A person record ready to resolve: normalised once, here."""

    item: Prepared  # its header, digest and canonical form; the observation is not parsed
    record: SourceRecord | None
    digest: str
    canon: CanonicalPerson


@dataclass
class _Outcome:
    """What a successful person pass changed, applied to the batch only once it held."""

    touched: set[int] = field(default_factory=set)
    new_contacts: set[int] = field(default_factory=set)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    contacts_created: int = 0
    merged: int = 0


class _BatchRun:
    """The work of one batch inside its transaction."""

    def __init__(self, pipeline: Pipeline, session: Session, connector: ConnectorConfig,
                 prepared: PreparedBatch, allow_deletes: bool = False):
        self.p = pipeline
        self.allow_deletes = allow_deletes
        self.session = session
        self.connector = connector
        self.batch = prepared.batch
        self.items = prepared.items
        self.now = pipeline.clock()
        self.existing: dict[str, SourceRecord] = {}
        self.stats = IngestStats(received=len(prepared.items))
        self.salt = policy_salt(pipeline.policy, connector.default_region)
        self.touched: set[int] = set()
        self.new_contacts: set[int] = set()
        self.events: list[tuple[str, dict[str, Any]]] = []

    # -- the batch ---------------------------------------------------------------------

    def run(self) -> IngestStats:
        session, name = self.session, self.connector.name
        items = []
        for item in self.items:
            if item.error is not None:
                self._reject(item.observation, item.error)
            elif "\x00" in item.external_id:
                self._reject(item.observation, "external id contains a NUL byte")
            else:
                items.append(item)
        existing = self._existing([i.external_id for i in items] +
                                  [r.external_id for r in self.batch.rejected
                                   if r.external_id and "\x00" not in r.external_id])
        self.existing = existing
        for bad in self.batch.rejected:
            if quarantine(session, name, bad.reason, bad.payload, bad.external_id,
                          bad.location, None, self.now):
                self.stats.quarantined += 1
            self._keep_previous(bad.external_id)
        unchanged: list[int] = []
        persons: dict[str, _Person] = {}  # the last version of each record in the batch
        others: list[tuple[Observation, SourceRecord | None, str]] = []
        for item in items:
            digest = item.digest
            try:
                record = existing.get(item.external_id)
                if item.deleted and (record is None or record.deleted_at is not None):
                    self.stats.unchanged += 1  # already gone: a repeated tombstone is a no-op
                    continue
                if record is not None and record.content_hash == digest and \
                        (record.deleted_at is not None) == item.deleted:
                    unchanged.append(record.id)
                    self.stats.unchanged += 1
                    continue
                prepared = self._prepare(item, record)
                if prepared is not None:
                    persons.pop(item.external_id, None)
                    persons[item.external_id] = prepared
                elif item.kind != "person" or item.deleted:
                    others.append((item.observation, record, digest))
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                self._reject(item.observation, exc)
        self._persons(list(persons.values()))
        for observation, record, digest in others:
            try:
                with session.begin_nested():
                    self._apply(observation, record, digest)
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                self._reject(observation, exc)
        if self.batch.token and unchanged:
            for chunk in _chunks(unchanged):
                session.execute(update(SourceRecord).where(SourceRecord.id.in_(chunk))
                                .values(seen_token=self.batch.token, last_seen=self.now))
        if self.batch.snapshot_end is not None:
            self._end_snapshot(self.batch.snapshot_end)
        self._rebuild()
        self._outbox()  # contact.created before the contact.assigned routing adds
        self.p.routing.after_batch(session, connector=self.connector,
                                   new_contact_ids=sorted(self.new_contacts),
                                   changed_contact_ids=sorted(self.touched), now=self.now)
        self._sync_state()
        session.flush()
        return self.stats

    def _reject(self, observation: Observation, why: Exception | str) -> None:
        self.stats.quarantined += 1
        reason = why if isinstance(why, str) else str(why) if isinstance(why, RecordRejected) \
            else f"could not be stored: {describe_error(why)}"
        quarantine(self.session, self.connector.name, reason, None, observation.external_id,
                   None, observation.model_dump(mode="json"), self.now)
        self._keep_previous(observation.external_id)

    def _keep_previous(self, external_id: str | None) -> None:
        """A bad new version of a record keeps the good one it had in this snapshot:
        quarantining an edit must never tombstone the record it edits."""
        record = self.existing.get(external_id) if external_id else None
        if record is not None and self.batch.token and record.deleted_at is None:
            record.seen_token = self.batch.token

    def _existing(self, external_ids: list[str]) -> dict[str, SourceRecord]:
        found: dict[str, SourceRecord] = {}
        for chunk in _chunks(sorted(set(external_ids))):
            for record in self.session.scalars(select(SourceRecord).where(
                    SourceRecord.connector == self.connector.name,
                    among(self.session, SourceRecord.external_id, chunk))):
                found[record.external_id] = record
        return found

    # -- persons, in bulk --------------------------------------------------------------

    def _prepare(self, item: Prepared, record: SourceRecord | None) -> _Person | None:
        """A live person record ready to resolve; ``None`` when it is not one."""
        if item.kind != "person" or item.deleted:
            return None
        self.p.preparer.normalise(self.connector, item)
        if item.error is not None:
            raise RecordRejected(item.error)
        canon = item.canon
        assert canon is not None
        if canon.own:
            self.stats.skipped_own += 1
            if record is not None and record.deleted_at is None:
                self._tombstone(record)
            return None
        if not canon.identifiable:
            raise RecordRejected("carries nothing that identifies a person "
                                 "(no name, e-mail, phone, handle or identifier)")
        return _Person(item, record, item.digest, canon)

    def _persons(self, persons: list[_Person]) -> None:
        """Resolve and store persons in bulk; a failure is narrowed down by halving until
        the one record that causes it is quarantined and the rest are stored. A failure of
        the database itself ends the batch (it is no record's fault)."""
        if not persons:
            return
        try:
            with self.session.begin_nested():
                outcome = self._store_persons(persons)
        except Exception as exc:
            if database_unavailable(exc):
                raise
            if len(persons) == 1:
                self._reject(persons[0].item.observation, exc)
                return
            middle = len(persons) // 2
            self._persons(persons[:middle])
            self._persons(persons[middle:])
            return
        self.touched |= outcome.touched
        self.new_contacts |= outcome.new_contacts
        self.events.extend(outcome.events)
        self.stats.created += outcome.created
        self.stats.updated += outcome.updated
        self.stats.contacts_created += outcome.contacts_created
        self.stats.merged += outcome.merged

    def _store_persons(self, persons: list[_Person]) -> _Outcome:
        session, out = self.session, _Outcome()
        resolution = self.p.resolver.resolve(session, [
            Item(p.canon, p.record.contact_id if p.record is not None else None,
                 p.record.id if p.record is not None else None)
            for p in persons])
        companies = CompanyResolver(session, self.now).resolve([_company_ref(p.canon)
                                                                for p in persons])
        # Contacts this pass creates have only this pass's records as sources: their
        # golden records come from memory, with the records' future ids standing in as
        # their positions among the new records (ids are handed out in that order).
        born: dict[int, list[Source]] = {}
        position = 0
        for person, node, company_id in zip(persons, resolution.contact_of, companies,
                                            strict=True):
            if person.record is None:
                position += 1
                if node < 0:
                    view = SourceView(position, self.connector.name,
                                      person.item.external_id,
                                      person.item.observed_at, person.canon.data)
                    born.setdefault(node, []).append((view, company_id))
            elif node < 0:  # a stored record split off into a new contact
                born.setdefault(node, [])
        new_ids: list[int] = []
        new_points: list[dict[str, Any]] = []
        if resolution.new_contacts:
            rows = []
            for n in range(1, resolution.new_contacts + 1):
                values, points = golden_values(-n, born.get(-n, []), policy_of(self.session))
                rows.append({"stage": "lead", "score": 0.0, "created_at": self.now,
                             "updated_at": self.now, **values})
                new_points.extend(points)
            new_ids = insert_with_ids(session, table_of(Contact), rows)
            out.new_contacts.update(new_ids)
            out.contacts_created = len(new_ids)

        def real(node: int) -> int:
            return node if node > 0 else new_ids[-node - 1]

        for merge in resolution.merges:
            event = merge_contacts(session, merge.survivor, merge.merged, reason=merge.reason,
                                   decided_by=merge.decided_by, score=merge.score,
                                   comparison=merge.comparison, now=self.now)
            out.merged += 1
            out.touched.add(merge.survivor)
            out.events.append(("contact.merged", {
                "survivor_id": merge.survivor, "merged_id": merge.merged,
                "merge_id": event.id, "score": round(merge.score, 6),
                "reason": merge.reason, "connector": self.connector.name}))
        if resolution.capped:
            mark_shared(session, [(c.kind, c.key, c.reason) for c in resolution.capped],
                        self.now)
        # New contacts holding stored records are rebuilt from the store.
        holding = {n for p, n in zip(persons, resolution.contact_of, strict=True)
                   if p.record is not None and n < 0}
        out.touched.update(real(node) for node in born if node in holding)
        fresh: list[dict[str, Any]] = []
        changed: list[SourceRecord] = []
        packed = [p.pack() for p in resolution.profiles] if \
            len(resolution.profiles) == len(persons) else [None] * len(persons)
        for person, node, company_id, stored in zip(persons, resolution.contact_of, companies,
                                                    packed, strict=True):
            contact_id = real(node)
            if node > 0:  # new contacts get their golden record below, from memory
                out.touched.add(contact_id)
            values = self._record_values(person, contact_id, company_id)
            values["match_profile"] = stored
            if person.record is None:
                fresh.append({"connector": self.connector.name,
                              "external_id": person.item.external_id,
                              "kind": "person", "first_seen": self.now, **values})
            else:
                if person.record.contact_id is not None:
                    out.touched.add(person.record.contact_id)
                for attr, value in values.items():
                    setattr(person.record, attr, value)
                changed.append(person.record)
        session.flush()
        ids: list[int] = []
        if fresh:
            ids = insert_with_ids(session, table_of(SourceRecord), fresh)
        out.created, out.updated = len(fresh), len(changed)
        for chunk in _chunks([r.id for r in changed]):
            session.execute(delete(MatchKey).where(MatchKey.source_record_id.in_(chunk)))
        fresh_ids = iter(ids)
        record_of = [p.record.id if p.record is not None else next(fresh_ids) for p in persons]
        for person, record_id, profile in zip(persons, record_of, resolution.profiles,
                                              strict=False):
            self.p.resolver.remember(record_id, person.digest, profile)
        keys: list[dict[str, Any]] = []
        for person, node, record_id in zip(persons, resolution.contact_of, record_of,
                                           strict=True):
            keys.extend({"contact_id": real(node), "source_record_id": record_id,
                         "kind": kind, "key": key, "given": given}
                        for kind, key, given in stored_keys(
                            ((k.kind, k.key) for k in person.canon.keys), person.canon.data))
        insert_rows(session, table_of(MatchKey), keys)
        for point in new_points:  # positions and provisional contacts become real ids
            point["contact_id"] = real(point["contact_id"])
            if point["source_record_id"] is not None:
                point["source_record_id"] = ids[point["source_record_id"] - 1]
        insert_rows(session, table_of(ContactPoint), new_points)
        self._splits(resolution, persons, record_of, real, out)
        self._reviews(resolution, record_of, real)
        return out

    def _splits(self, resolution: Resolution, persons: list[_Person], record_of: list[int],
                real: Callable[[int], int], out: _Outcome) -> None:
        for split in resolution.splits:
            new_id = real(resolution.contact_of[split.item])
            event = MergeEvent(entity="contact", action="split", survivor_id=split.old_contact,
                               merged_id=new_id, score=0.0, comparison=split.comparison,
                               decided_by="auto", reason=split.reason, created_at=self.now,
                               snapshot={"source_records": [record_of[split.item]]})
            self.session.add(event)
            out.touched.update((split.old_contact, new_id))
            out.events.append(("contact.split", {
                "contact_id": split.old_contact, "new_contact_id": new_id,
                "source_record_id": record_of[split.item], "reason": split.reason,
                "connector": self.connector.name}))
        if resolution.splits:
            self.session.flush()

    def _reviews(self, resolution: Resolution, record_of: list[int],
                 real: Callable[[int], int]) -> None:
        """Unsure pairs go to the review queue, once per pair of source records."""
        rows: dict[tuple[int, int], dict[str, Any]] = {}
        for review in resolution.reviews:
            mine = record_of[review.item]
            other = review.other_record if review.other_record > 0 \
                else record_of[-review.other_record - 1]
            left, right = pair(mine, other)
            here, there = real(resolution.contact_of[review.item]), real(review.other_node)
            if here == there:
                continue
            rows.setdefault((left, right), {
                "entity": "contact", "left_record_id": left, "right_record_id": right,
                "left_id": here if left == mine else there,
                "right_id": there if left == mine else here,
                "score": review.scored.probability, "weight": review.scored.weight,
                "comparison": review.scored.as_dict(), "status": "open",
                "created_at": self.now})
        if not rows:
            return
        known: set[tuple[int, int]] = set()
        for chunk in _chunks(sorted({left for left, _ in rows})):
            known.update((a, b) for a, b in self.session.execute(
                select(MatchCandidate.left_record_id, MatchCandidate.right_record_id)
                .where(MatchCandidate.entity == "contact",
                       MatchCandidate.left_record_id.in_(chunk))))
        fresh = [row for key, row in sorted(rows.items()) if key not in known]
        if fresh:
            self.session.execute(insert(table_of(MatchCandidate)), fresh)

    def _record_values(self, person: _Person, contact_id: int,
                       company_id: int | None) -> dict[str, Any]:
        item = person.item
        return {"kind": "person", "content_hash": person.digest,
                "raw": item.raw or None, "data": person.canon.data,
                "observed_at": item.observed_at, "last_seen": self.now,
                "deleted_at": None, "scope": self.batch.scope, "seen_token": self.batch.token,
                "contact_id": contact_id, "company_id": company_id}

    # -- everything else, a record at a time -------------------------------------------

    def _apply(self, observation: Observation, record: SourceRecord | None,
               digest: str) -> SourceRecord | None:
        if observation.deleted:
            if record is not None:
                self._tombstone(record)
            return record
        if observation.kind == "company":
            return self._company(observation, record, digest)
        return self._interaction(observation, record, digest)

    def _store(self, observation: Observation, record: SourceRecord | None, digest: str,
               data: dict[str, Any]) -> SourceRecord:
        if record is None:
            record = SourceRecord(connector=self.connector.name,
                                  external_id=observation.external_id, kind=observation.kind,
                                  first_seen=self.now)
            self.session.add(record)
            self.stats.created += 1
        else:
            self.stats.updated += 1
        record.kind = observation.kind
        record.content_hash = digest
        record.raw = observation.raw or None
        record.data = data
        record.observed_at = observation.observed_at
        record.last_seen = self.now
        record.deleted_at = None
        record.scope = self.batch.scope
        record.seen_token = self.batch.token
        return record

    def _tombstone(self, record: SourceRecord) -> None:
        record.deleted_at = self.now
        record.last_seen = self.now
        self.stats.deleted += 1
        self.session.execute(delete(MatchKey).where(MatchKey.source_record_id == record.id))
        if record.contact_id is not None:
            self.touched.add(record.contact_id)
        if record.kind == "company" and record.company_id is not None:
            rebuild_company(self.session, record.company_id, self.now)
        if record.kind == "interaction":
            self.session.execute(update(Interaction).where(
                Interaction.connector == record.connector,
                Interaction.external_id == record.external_id).values(deleted_at=self.now))

    def _company(self, observation: Observation, record: SourceRecord | None,
                 digest: str) -> SourceRecord:
        data = observation.company
        assert data is not None
        name = clean_company_name(data.name)
        domains = {d.strip().lower().removeprefix("www.") for d in data.domains if d.strip()}
        website_domain = domain_from_website(data.website)
        if website_domain:
            domains.add(website_domain)
        country = normalize_country(data.address.country) if data.address else None
        if not name and not domains:
            raise RecordRejected("a company needs a name, a domain or a website")
        [company_id] = CompanyResolver(self.session, self.now).resolve([CompanyRef(
            name, company_name_key(name) or None, tuple(sorted(domains)), country,
            clean_text(data.website))])
        previous = record.company_id if record is not None else None
        record = self._store(observation, record, digest, {
            "name": name, "domains": sorted(domains), "country": country,
            "website": clean_text(data.website), "industry": clean_text(data.industry),
            "employees": data.employees, "tags": data.tags, "custom": data.custom})
        record.company_id = company_id
        for changed in sorted({c for c in (previous, company_id) if c is not None}):
            rebuild_company(self.session, changed, self.now)  # from its records, never in place
        return record

    def _interaction(self, observation: Observation, record: SourceRecord | None,
                     digest: str) -> SourceRecord:
        data = observation.interaction
        assert data is not None
        participants = []
        links: set[tuple[int, str]] = set()
        for index, participant in enumerate(data.participants):
            entry = participant.model_dump(exclude_none=True)
            contact_id = self._participant(observation, index, participant.email,
                                           participant.phone, participant.name)
            entry["own"] = contact_id == -1
            participants.append(entry)
            if contact_id is not None and contact_id > 0:
                links.add((contact_id, participant.role))
        row = self.session.scalars(select(Interaction).where(
            Interaction.connector == self.connector.name,
            Interaction.external_id == observation.external_id)).first()
        if row is None:
            row = Interaction(connector=self.connector.name,
                              external_id=observation.external_id)
        row.channel, row.direction, row.occurred_at = data.channel, data.direction, \
            data.occurred_at
        row.subject, row.summary = clean_text(data.subject), clean_text(data.summary)
        row.duration_s, row.status, row.thread_id = data.duration_s, data.status, data.thread_id
        row.participants = participants
        row.deleted_at = None
        self.session.add(row)
        self.session.flush()
        self.session.execute(delete(InteractionContact)
                             .where(InteractionContact.interaction_id == row.id))
        self.session.add_all(InteractionContact(interaction_id=row.id, contact_id=c, role=r)
                             for c, r in sorted(links))
        self.stats.interactions += 1
        return self._store(observation, record, digest, {"interaction_id": row.id})

    def _participant(self, observation: Observation, index: int, email: str | None,
                     phone: str | None, name: str | None) -> int | None:
        """The contact a participant is (-1: one of us; None: nobody identifiable)."""
        keys: list[tuple[str, str]] = []
        values: dict[str, list[ContactValue]] = {"emails": [], "phones": []}
        if email:
            result = normalize_email(email)
            if result is not None and result.valid:
                if result.domain in self.p.policy.own_domains:
                    return -1
                if not result.is_role:
                    keys.append(("email", result.key))
                values["emails"].append(ContactValue(value=email))
        if phone:
            parsed = normalize_phone(phone, self.connector.default_region
                                     or self.p.policy.default_region)
            if parsed is not None and parsed.e164:
                if parsed.e164 in self.p.policy.own_numbers:
                    return -1
                shared = self.session.scalar(select(SharedPoint.id).where(
                    SharedPoint.kind == "phone", SharedPoint.value == parsed.e164))
                if shared is None:
                    keys.append(("phone", parsed.e164))
                values["phones"].append(ContactValue(value=phone))
        if not keys:
            return None
        self.session.flush()
        found = self.session.scalar(select(MatchKey.contact_id).where(
            MatchKey.kind == keys[0][0], MatchKey.key == keys[0][1])
            .order_by(MatchKey.source_record_id))
        if found is not None:
            return live_contact(self.session, found)
        # Someone we have never seen: their own record, stable across re-syncs.
        person = PersonData(full_name=name, emails=values["emails"], phones=values["phones"])
        synthetic = Observation(kind="person", external_id=f"participant:{keys[0][0]}:"
                                f"{keys[0][1]}", observed_at=observation.observed_at,
                                person=person)
        existing = self._existing([synthetic.external_id]).get(synthetic.external_id)
        prepared = self._prepare(Prepared(synthetic, content_hash(synthetic, self.salt)),
                                 existing)
        if prepared is None:
            return None
        outcome = self._store_persons([prepared])
        self.touched |= outcome.touched
        self.new_contacts |= outcome.new_contacts
        self.stats.contacts_created += outcome.contacts_created
        stored = self._existing([synthetic.external_id]).get(synthetic.external_id)
        return stored.contact_id if stored is not None else None

    # -- end of batch ------------------------------------------------------------------

    def _end_snapshot(self, end: SnapshotEnd) -> None:
        session = self.session
        in_scope = (SourceRecord.connector == self.connector.name) & \
            (SourceRecord.scope == end.scope) & SourceRecord.deleted_at.is_(None)
        total = session.scalar(select(func.count()).where(in_scope)) or 0
        gone = list(session.scalars(select(SourceRecord).where(
            in_scope, (SourceRecord.seen_token != end.token) | SourceRecord.seen_token.is_(None))))
        if not gone:
            return
        ratio = len(gone) / total if total else 1.0
        if ratio > end.max_delete_ratio and not self.allow_deletes:
            self.stats.held = (f"{len(gone)} of {total} records of {end.scope} disappeared "
                               f"({ratio:.0%} > max_delete_ratio {end.max_delete_ratio:.0%}); "
                               "nothing deleted: check the file, then run "
                               f"`crmhub sync {self.connector.name} --full --allow-deletes`")
            log.error("mass delete held: %s", self.stats.held,
                      extra={"connector": self.connector.name})
            return
        for record in gone:
            self._tombstone(record)

    def _rebuild(self) -> None:
        """Existing contacts the batch touched are rebuilt from all their sources (new ones
        were written from memory as they were created)."""
        self.session.flush()
        live = live_contacts(self.session, self.touched)
        changed = rebuild_contacts(self.session, live.values(), self.now)
        for contact_id in sorted(self.new_contacts | set(changed)):
            payload: dict[str, Any] = {"contact_id": contact_id,
                                       "connector": self.connector.name}
            if contact_id in self.new_contacts:
                payload["route"] = self.connector.route_new_contacts
                self.events.append(("contact.created", payload))
            elif changed[contact_id]:
                deleted = self.session.get(Contact, contact_id)
                kind = "contact.deleted" if deleted is not None and \
                    deleted.deleted_at is not None else "contact.updated"
                self.events.append((kind, payload))

    def _outbox(self) -> None:
        insert_rows(self.session, table_of(OutboxEvent), [
            {"type": kind, "payload": payload, "created_at": self.now, "attempts": 0}
            for kind, payload in self.events])

    def _sync_state(self) -> None:
        state = self.session.get(SyncState, self.connector.name)
        if state is None:
            state = SyncState(connector=self.connector.name, kind=self.connector.kind,
                              consecutive_failures=0, records=0)
            self.session.add(state)
        if self.batch.cursor is not None:
            state.cursor = self.batch.cursor
        state.records = (state.records or 0) + self.stats.created
        state.last_attempt = self.now
        if self.stats.held:
            state.held = self.stats.held
        elif self.batch.snapshot_end is not None and state.held and \
                self.batch.snapshot_end.scope in state.held:
            state.held = None  # that snapshot is whole again (or deletes were allowed)


def _company_ref(canon: CanonicalPerson) -> CompanyRef | None:
    company = canon.data.get("company")
    if not company:
        return None
    domains = (company["domain"],) if company.get("domain") else ()
    return CompanyRef(company.get("name"), company.get("name_key"), domains,
                      canon.data.get("country"), company.get("website"))


def _chunks(values: list[Any], size: int = 500) -> list[list[Any]]:
    return [values[i:i + size] for i in range(0, len(values), size)]
