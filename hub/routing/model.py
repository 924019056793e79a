"""Routing tables: owners, teams, assignments, rr_state, scores, deliveries.

Owners and teams are keyed by the id the rules file gives them (``alice``), the same
string ``contacts.owner`` holds, so a contact's owner reads the same in the database, the
CLI and the export. An owner removed from the file is marked inactive, never deleted:
assignments keep pointing at a real row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.model import Base, Id


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    manager: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    config_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class Owner(Base):
    """A salesperson (or manager, admin) as the rules file describes them."""

    __tablename__ = "owners"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="rep")
    emails: Mapped[list[Any]] = mapped_column(default=list)
    extensions: Mapped[list[Any]] = mapped_column(default=list)
    team: Mapped[str | None] = mapped_column(String(100), index=True)
    manager: Mapped[str | None] = mapped_column(String(100), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    capacity: Mapped[int | None] = mapped_column(Integer)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    monthly_cap: Mapped[int | None] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    working_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    out_of_office: Mapped[list[Any]] = mapped_column(default=list)
    config_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class Assignment(Base):
    """One routing decision (or manual assignment) of one contact, with its whole story.

    ``explanation`` is the decision log: every rule tried, every candidate owner and why it
    was skipped. ``inputs`` holds what the decision read (lead facts, pointer positions,
    loads, availability) so that ``crmhub rules test`` replays it exactly. ``current`` marks
    the assignment in force for the contact; older ones stay as history.
    """

    __tablename__ = "assignments"
    __table_args__ = (
        Index("ix_assignments_contact_current", "contact_id", "current"),
        Index("ix_assignments_owner_at", "owner", "at"),
        Index("ix_assignments_sla", "sla_state", "sla_due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    owner: Mapped[str | None] = mapped_column(String(100))
    queue: Mapped[str | None] = mapped_column(String(100))
    previous_owner: Mapped[str | None] = mapped_column(String(100))
    rule: Mapped[str | None] = mapped_column(String(200))
    rule_index: Mapped[int | None] = mapped_column(Integer)
    strategy: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(String(40))
    by: Mapped[str] = mapped_column(String(10))  # auto | user
    actor: Mapped[str | None] = mapped_column(String(100))
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ruleset: Mapped[str | None] = mapped_column(String(64))
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    at: Mapped[datetime] = mapped_column(index=True)
    sla_seconds: Mapped[float | None] = mapped_column(Float)
    sla_due_at: Mapped[datetime | None]
    sla_state: Mapped[str | None] = mapped_column(String(12))  # pending|met|breached
    touched_at: Mapped[datetime | None]


class RoundRobinState(Base):
    """A round-robin pointer (or weighted round robin's running weights), one row per pool.

    The row is locked (``SELECT ... FOR UPDATE``) by the transaction that assigns from it,
    so concurrent workers on PostgreSQL take turns strictly one after the other.
    """

    __tablename__ = "rr_state"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    last_owner: Mapped[str | None] = mapped_column(String(100))
    weights: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assigned: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class ContactScore(Base):
    """A contact's lead score and the breakdown that explains it."""

    __tablename__ = "contact_scores"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"),
                                            primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    breakdown: Mapped[list[Any]] = mapped_column(default=list)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    decays: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[datetime]


class StageChange(Base):
    """A lifecycle transition and the rule (or person) that made it."""

    __tablename__ = "stage_changes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"),
                                            index=True)
    from_stage: Mapped[str | None] = mapped_column(String(40))
    to_stage: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str | None] = mapped_column(String(200))
    by: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime]


class SinkDelivery(Base):
    """Delivery state of one outbox event to one configured sink (at least once)."""

    __tablename__ = "sink_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "sink", name="uq_sink_deliveries_event_sink"),
                      Index("ix_sink_deliveries_due", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    sink: Mapped[str] = mapped_column(String(100))
    # pending | delivered | dead | no_recipient
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class SinkCursor(Base):
    """How far each configured sink has read the outbox (events after it are new to it)."""

    __tablename__ = "sink_cursors"

    sink: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]
