"""The central model: SQLAlchemy 2.0 typed ORM, SQLite or PostgreSQL.

Golden records (``contacts``, ``companies``) are *derived*: survivorship rebuilds them from
the normalised payloads kept in ``source_records``, so a source can be removed (tombstone,
unmerge) and the golden record recomputed without loss. Ids are surrogate keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations work the same on SQLite and PostgreSQL.
KEY_MAX = 320  # the longest stored match key; longer ones are cut to it

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Id = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY is the rowid


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime()}


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(300))
    name_key: Mapped[str | None] = mapped_column(String(300), index=True)
    website: Mapped[str | None] = mapped_column(String(500))
    industry: Mapped[str | None] = mapped_column(String(200))
    employees: Mapped[int | None]
    revenue: Mapped[float | None]  # annual, in the currency the sources wrote
    country: Mapped[str | None] = mapped_column(String(2))
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    phones: Mapped[list[Any]] = mapped_column(default=list)
    owner: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CompanyDomain(Base):
    __tablename__ = "company_domains"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"),
                                            index=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    full_name: Mapped[str | None] = mapped_column(String(400))
    title: Mapped[str | None] = mapped_column(String(300))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(35))
    birthday: Mapped[str | None] = mapped_column(String(10))
    stage: Mapped[str] = mapped_column(String(40), default="lead")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    owner: Mapped[str | None] = mapped_column(String(100), index=True)
    team: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    identifiers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    handles: Mapped[dict[str, Any]] = mapped_column(default=dict)
    flags: Mapped[list[Any]] = mapped_column(default=list)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContactPoint(Base):
    """An e-mail, phone or social handle of a contact, as one source gave it."""

    __tablename__ = "contact_points"
    __table_args__ = (Index("ix_contact_points_kind_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"),
                                            index=True)
    source_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("source_records.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(320))
    original: Mapped[str | None] = mapped_column(String(320))
    label: Mapped[str | None] = mapped_column(String(60))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    flags: Mapped[list[Any]] = mapped_column(default=list)


class MatchKey(Base):
    """A blocking/identity key of a source record's contact: indexed, never scanned.

    The primary key is the lookup itself, (kind, key, record): on SQLite the table is
    stored WITHOUT ROWID, clustered on it, so a lookup reads its matches from one place
    with their contact and given name (no second index to keep, no row to fetch by id);
    on PostgreSQL it is the one index lookups walk.
    """

    __tablename__ = "match_keys"
    __table_args__ = (PrimaryKeyConstraint("kind", "key", "source_record_id"),
                      {"sqlite_with_rowid": False})

    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(KEY_MAX))
    source_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_records.id", ondelete="CASCADE"), index=True)
    # Always its record's contact, and moved with it by source record (merge, unmerge):
    # never looked up by itself, so not indexed (one B-tree insert less per key).
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # The record's given-name key on keys holding the family name (blocking.key_given):
    # the matcher drops a namesake with a plainly different given name before loading it.
    given: Mapped[str | None] = mapped_column(String(320))


class SharedPoint(Base):
    """A phone (or other point) seen on two different people: it no longer identifies."""

    __tablename__ = "shared_points"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class SourceRecord(Base):
    __tablename__ = "source_records"
    __table_args__ = (
        UniqueConstraint("connector", "external_id", name="uq_source_records_connector_ext"),
        Index("ix_source_records_scope", "connector", "scope"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connector: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(20))
    content_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What matching compares (hub.match.compare.Profile.pack): a person's few normalised
    # values, read instead of `data` when candidates are scored.
    match_profile: Mapped[list[Any] | None] = mapped_column(JSON)
    # How matching placed a person record with others: score, probability, field levels.
    joined: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    observed_at: Mapped[datetime]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    scope: Mapped[str | None] = mapped_column(String(1000))
    seen_token: Mapped[str | None] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (UniqueConstraint("connector", "external_id",
                                       name="uq_interactions_connector_ext"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connector: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(512))
    channel: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    subject: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[int | None]
    status: Mapped[str | None] = mapped_column(String(40))
    participants: Mapped[list[Any]] = mapped_column(default=list)
    thread_id: Mapped[str | None] = mapped_column(String(512))
    deleted_at: Mapped[datetime | None]


class InteractionContact(Base):
    __tablename__ = "interaction_contacts"
    __table_args__ = (UniqueConstraint("interaction_id", "contact_id", "role"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))


class MergeEvent(Base):
    __tablename__ = "merge_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    entity: Mapped[str] = mapped_column(String(10), default="contact")
    survivor_id: Mapped[int] = mapped_column(index=True)
    merged_id: Mapped[int] = mapped_column(index=True)
    score: Mapped[float]
    comparison: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decided_by: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(10), default="merge")  # merge | split
    reason: Mapped[str | None] = mapped_column(Text)
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    undone_at: Mapped[datetime | None]


class MatchCandidate(Base):
    """The review queue: a pair the matcher was unsure about, with its evidence.

    The pair is kept as two *source records* (``left_record_id < right_record_id``), which
    outlive the contacts they belong to; ``left_id``/``right_id`` are the contacts when the
    pair was proposed.
    """

    __tablename__ = "match_candidates"
    __table_args__ = (UniqueConstraint("entity", "left_record_id", "right_record_id",
                                       name="uq_match_candidates_pair"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    entity: Mapped[str] = mapped_column(String(10), default="contact")
    left_id: Mapped[int] = mapped_column(index=True)
    right_id: Mapped[int] = mapped_column(index=True)
    left_record_id: Mapped[int]
    right_record_id: Mapped[int]
    score: Mapped[float]
    weight: Mapped[float]
    comparison: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(100))


class MatchRejection(Base):
    """Two source records a user said are different people: never proposed or merged again."""

    __tablename__ = "match_rejections"
    __table_args__ = (UniqueConstraint("entity", "record_a", "record_b",
                                       name="uq_match_rejections_pair"),
                      Index("ix_match_rejections_record_b", "record_b"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    entity: Mapped[str] = mapped_column(String(10), default="contact")
    record_a: Mapped[int]
    record_b: Mapped[int]
    decided_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class MatchModel(Base):
    """Fellegi-Sunter parameters estimated by ``crmhub match train``; the newest one is used."""

    __tablename__ = "match_models"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    entity: Mapped[str] = mapped_column(String(10), default="contact")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pairs: Mapped[int] = mapped_column(default=0)
    trained_at: Mapped[datetime]


class SyncState(Base):
    __tablename__ = "sync_state"

    connector: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(50))
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_success: Mapped[datetime | None]
    last_attempt: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    records: Mapped[int] = mapped_column(default=0)
    next_run: Mapped[datetime | None]
    held: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    # Counters of finished runs (what /metrics reports), kept across restarts.
    runs_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    failures_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    received_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    stored_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    quarantined_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    run_seconds_total: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    last_run_seconds: Mapped[float | None] = mapped_column(Float)
    # Per part of the source that syncs on its own (a mailbox): {"error", "since",
    # "synced_at"}; and what runs did not store or make a contact of, counted by reason.
    parts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    skipped_total: Mapped[dict[str, int] | None] = mapped_column(JSON)
    # The last successful run's warnings ("0 stored, 3 quarantined"): ok, with a warning.
    warning: Mapped[str | None] = mapped_column(Text)


#: Every event type the outbox carries: what ``[[notify]] events`` and plugins may expect.
EVENT_TYPES = (
    "contact.created", "contact.updated", "contact.deleted", "contact.merged",
    "contact.split", "contact.assigned", "contact.reassigned", "contact.stage_changed",
    "company.merged", "company.unmerged", "sync.failed", "contact.erased",
)


class OutboxEvent(Base):
    """An event written in the transaction that caused it, delivered after its commit to
    ``crmhub_on_event`` plugins and ``[[notify]]`` sinks. ``type`` is one of
    :data:`EVENT_TYPES`."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    type: Mapped[str] = mapped_column(String(60), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class QuarantineItem(Base):
    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connector: Mapped[str] = mapped_column(String(100), index=True)
    external_id: Mapped[str | None] = mapped_column(String(512))
    location: Mapped[str | None] = mapped_column(String(1000))
    reason: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[str | None] = mapped_column(Text)
    observation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class Erasure(Base):
    """One ``crmhub person forget``: when, who, why and how much; never who was erased."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    contacts: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Suppression(Base):
    """A salted hash (HMAC-SHA256) of an erased person's identifier (``kind`` and its
    normalised key): observations carrying it are dropped at ingest. The identifier itself
    is not kept."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(40))  # email, phone, a network, id:NAME
    erasure_id: Mapped[int | None] = mapped_column(ForeignKey("erasures.id"), index=True)
    created_at: Mapped[datetime]


class PointPreference(Base):
    """Opt-out or consent on one contact point (an e-mail key, an E.164 number), as one
    source (a connector, ``manual``) said it and when. The latest one holds."""

    __tablename__ = "point_preferences"
    __table_args__ = (UniqueConstraint("kind", "value", "source",
                                       name="uq_point_preferences_point_source"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # email | phone
    value: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(12))  # opt_out | consent
    source: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]


class Housekeeping(Base):
    """The last run of a periodic task (retention), for ``crmhub status``."""

    __tablename__ = "housekeeping"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_run: Mapped[datetime]
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class, for bulk statements (executemany, no ORM work)."""
    return cast(Table, model.__table__)
