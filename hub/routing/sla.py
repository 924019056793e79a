"""SLA touches: proof from synced activity that an owner worked a lead.

A touch is a real interaction, never a status field: an outbound e-mail whose sender
(participant role ``from``) is one of the owner's addresses, or an outbound call from one
of the owner's extensions (as its agent or its caller). The interaction must be linked to
the lead and have happened after the assignment. Where no connector brings mail or calls,
a person records a touch by hand (``crmhub assign touch``, :func:`record_touch`): an
interaction of connector ``manual`` whose ``from`` participant names the owner.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.routing.model import Assignment
from hub.routing.rules import OwnerInfo
from hub.store.model import Interaction, InteractionContact

_DIGITS = re.compile(r"\D+")


def _digits(value: Any) -> str:
    return _DIGITS.sub("", str(value or ""))


MANUAL = "manual"  # the connector of touches recorded by hand
TOUCH_CHANNELS = ("email", "call", "meeting", "other")  # what `assign touch` may record


def is_touch(interaction: Interaction, owner: OwnerInfo) -> bool:
    """Whether this interaction is ``owner`` working the lead."""
    spec = owner.spec
    extensions = {_digits(e) for e in spec.extensions} - {""}
    for participant in interaction.participants or []:
        role = participant.get("role")
        if interaction.connector == MANUAL and role == "from" \
                and participant.get("owner") == spec.id:
            return True
        if interaction.channel == "email" and interaction.direction == "outbound" \
                and role == "from":
            email = str(participant.get("email") or "").strip().lower()
            if email and email in spec.emails:
                return True
        # Only an outbound call is the owner reaching out, answered or not, as an e-mail
        # counts whether or not it gets a reply. An inbound call is the lead's move, and an
        # answered one cannot be told from a missed one reliably: call status and duration
        # vocabularies differ from one telephony connector to the next. Numbers compare
        # whole, digits only: "01" is not "201" (a suffix would match a colleague).
        if interaction.channel == "call" and interaction.direction == "outbound" \
                and role in ("agent", "from") \
                and _digits(participant.get("phone")) in extensions:
            return True
    return False


def find_touch(session: Session, contact_id: int, owner: OwnerInfo, since: datetime,
               until: datetime) -> datetime | None:
    """When ``owner`` first touched the contact in [since, until], or ``None``."""
    rows = session.scalars(
        select(Interaction).join(InteractionContact,
                                 InteractionContact.interaction_id == Interaction.id)
        .where(InteractionContact.contact_id == contact_id, Interaction.deleted_at.is_(None),
               Interaction.occurred_at >= since, Interaction.occurred_at <= until,
               Interaction.channel.in_(("email", "call")) | (Interaction.connector == MANUAL))
        .order_by(Interaction.occurred_at, Interaction.id))
    for interaction in rows:  # a row per link role: the first touch returns
        if is_touch(interaction, owner):
            return interaction.occurred_at
    return None


def record_touch(session: Session, contact_id: int, owner: OwnerInfo, *, at: datetime,
                 actor: str, channel: str = "other", note: str | None = None) -> bool:
    """Record that ``owner`` worked the lead at ``at`` (an interaction of connector
    ``manual`` linked to the contact); their pending SLA on it is met when the touch falls
    within it. Returns whether an SLA was met."""
    if channel not in TOUCH_CHANNELS:
        raise ValueError(f"channel {channel!r}: one of {', '.join(TOUCH_CHANNELS)}")
    row = Interaction(connector=MANUAL, channel=channel, direction="outbound",
                      external_id=f"touch:{contact_id}:{owner.id}:{at.isoformat()}",
                      occurred_at=at, subject=note,
                      participants=[{"role": "from", "owner": owner.id, "recorded_by": actor}])
    session.add(row)
    session.flush()
    session.add(InteractionContact(interaction_id=row.id, contact_id=contact_id, role="to"))
    met = False
    for assignment in session.scalars(select(Assignment).where(
            Assignment.contact_id == contact_id, Assignment.current,
            Assignment.owner == owner.id, Assignment.sla_state == "pending",
            Assignment.at <= at)):
        assignment.sla_state, assignment.touched_at = "met", at
        met = True
    return met
