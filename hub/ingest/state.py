"""The state of one batch inside its transaction, and what every pass over it shares:
rejecting a record to quarantine, the stored versions of the batch's records."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import ConnectorConfig
from hub.ingest.prepare import PreparedBatch, policy_salt
from hub.ingest.quarantine import RecordRejected, quarantine
from hub.logs import describe_error
from hub.records import Observation
from hub.store.db import among, chunks
from hub.store.model import SourceRecord

if TYPE_CHECKING:
    from hub.ingest.pipeline import Pipeline


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
    unlinked: int = 0  # interaction participants no contact has, left unlinked
    held: str | None = None
    # Read and not stored, or not made a contact, by reason (the connector's and the core's).
    skipped: dict[str, int] = field(default_factory=dict)
    # Parts of the source that sync on their own (mailboxes): error, or None when synced.
    parts: dict[str, str | None] = field(default_factory=dict)
    # What an admin should look at although nothing failed (the connector's, the core's).
    warnings: list[str] = field(default_factory=list)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def add(self, other: IngestStats) -> None:
        for f in fields(self):
            if f.name not in ("held", "skipped", "parts", "warnings"):
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.held = other.held or self.held
        for reason, count in other.skipped.items():
            self.skip(reason, count)
        self.parts.update(other.parts)
        self.warnings.extend(other.warnings)

    @property
    def failed_parts(self) -> dict[str, str]:
        return {part: error for part, error in self.parts.items() if error is not None}

    def as_dict(self) -> dict[str, Any]:
        return {f.name: (type(value)(value) if isinstance(value := getattr(self, f.name),
                                                          dict | list) else value)
                for f in fields(self)}


class BatchState:
    """One batch inside its transaction: what it holds and what it has done so far."""

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
        self.stats = IngestStats(received=len(prepared.items),
                                 skipped=dict(self.batch.skipped), parts=dict(self.batch.parts),
                                 warnings=list(self.batch.warnings))
        self.salt = policy_salt(pipeline.policy, connector.default_region)
        self.touched: set[int] = set()
        self.new_contacts: set[int] = set()
        self.events: list[tuple[str, dict[str, Any]]] = []

    # -- the batch ---------------------------------------------------------------------

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
        for chunk in chunks(sorted(set(external_ids))):
            for record in self.session.scalars(select(SourceRecord).where(
                    SourceRecord.connector == self.connector.name,
                    among(self.session, SourceRecord.external_id, chunk))):
                found[record.external_id] = record
        return found
