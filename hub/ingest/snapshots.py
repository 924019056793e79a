"""Snapshots and tombstones: records a snapshot no longer carries are deleted (unless too
many disappear at once), and a deleted record leaves its contact, company or
interaction."""

from __future__ import annotations

import logging

from sqlalchemy import delete, func, select, update

from hub.connectors import SnapshotEnd
from hub.ingest.state import BatchState
from hub.match.companies import rebuild_company, refresh_people_values
from hub.store.model import Interaction, MatchKey, SourceRecord

log = logging.getLogger(__name__)


class Tombstones(BatchState):
    """Deleting records: one at a time, or every record a finished snapshot missed."""

    def _tombstone(self, record: SourceRecord) -> None:
        record.deleted_at = self.now
        record.last_seen = self.now
        self.stats.deleted += 1
        self.session.execute(delete(MatchKey).where(MatchKey.source_record_id == record.id))
        if record.contact_id is not None:
            self.touched.add(record.contact_id)
        if record.kind == "company" and record.company_id is not None:
            rebuild_company(self.session, record.company_id, self.now)
        elif record.kind == "person" and record.company_id is not None:
            for company_id in refresh_people_values(  # it may have named its company
                    self.session, [],
                    [(record.company_id, record.connector, record.external_id)], self.now):
                rebuild_company(self.session, company_id, self.now)
        if record.kind == "interaction":
            self.session.execute(update(Interaction).where(
                Interaction.connector == record.connector,
                Interaction.external_id == record.external_id).values(deleted_at=self.now))

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
                               "nothing deleted: check the source (a file, an address "
                               "book), then run "
                               f"`crmhub sync {self.connector.name} --full --allow-deletes`")
            log.error("mass delete held: %s", self.stats.held,
                      extra={"connector": self.connector.name})
            return
        for record in gone:
            self._tombstone(record)
