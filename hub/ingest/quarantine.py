"""The quarantine writer: input the pipeline cannot store, kept with its reason.

Rejected input goes to the ``quarantine`` table in the batch's own transaction, once per
distinct input still waiting there; ``crmhub quarantine`` lists, retries and purges it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.store.model import QuarantineItem

log = logging.getLogger(__name__)
MAX_PAYLOAD = 64 * 1024


class RecordRejected(Exception):
    """A record the pipeline cannot store; it goes to quarantine with this reason."""


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

