"""One batch in one transaction: its records sorted into passes, unchanged
ones marked seen, the snapshot ended, the touched contacts rebuilt, the outbox written,
routing run and the connector's cursor stored, all or nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text, update
from sqlalchemy.orm import Session

from hub.ingest.objects import RecordPass
from hub.ingest.persons import Person
from hub.ingest.quarantine import quarantine
from hub.ingest.state import IngestStats
from hub.match.golden import rebuild_contacts
from hub.match.resolve import live_contacts
from hub.records import Observation
from hub.store.bulk import insert_rows
from hub.store.db import chunks, database_unavailable
from hub.store.model import Contact, OutboxEvent, SourceRecord, SyncState, table_of

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


class BatchRun(RecordPass):
    """The work of one batch inside its transaction."""

    def run(self) -> IngestStats:
        session, name = self.session, self.connector.name
        self.p.suppressor.refresh(session)  # erased people stay erased, or nothing runs
        items = []
        for item in self.items:
            if item.error is not None:
                self._reject(item.observation, item.error)
            elif "\x00" in item.external_id:
                self._reject(item.observation, "external id contains a NUL byte")
            else:
                items.append(item)
        # A record repeated in the batch counts as its last version only (a tombstone after
        # a live version deletes it; a live version after a tombstone brings it back).
        last = {item.external_id: n for n, item in enumerate(items)}
        items = [item for n, item in enumerate(items) if last[item.external_id] == n]
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
        persons: dict[str, Person] = {}  # the last version of each record in the batch
        # Companies, interactions and tombstones: the last version of each record too (a
        # call's later state delivered in the same batch as its start).
        others: dict[str, tuple[Observation, SourceRecord | None, str]] = {}
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
                    others.pop(item.external_id, None)
                    others[item.external_id] = (item.observation, record, digest)
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                self._reject(item.observation, exc)
        self._persons(list(persons.values()))
        interactions = [entry for entry in others.values()
                        if entry[0].kind == "interaction" and not entry[0].deleted]
        for observation, record, digest in others.values():
            if observation.kind == "interaction" and not observation.deleted:
                continue
            try:
                with session.begin_nested():
                    self._apply(observation, record, digest)
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                self._reject(observation, exc)
        self._interactions(interactions)
        if self.batch.token and unchanged:
            for chunk in chunks(unchanged):
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
