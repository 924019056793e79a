"""Rejected input: list, show, retry after a config or mapping fix, purge.

Retrying closes the open items and runs their input again. A pull source (one whose
connector syncs) is re-read in full, so a fixed mapping or setting applies to the raw rows
again. A push source (webhooks) has nothing to re-read, so its stored observations are
ingested again. Whatever still fails comes back as new open items with its reason.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.connectors import Batch
from hub.model import QuarantineItem
from hub.records import Observation
from hub.runtime import Hub


def list_items(session: Session, *, status: str | None = "open",
               connector: str | None = None, limit: int = 100) -> list[QuarantineItem]:
    query = select(QuarantineItem).order_by(QuarantineItem.id)
    if status:
        query = query.where(QuarantineItem.status == status)
    if connector:
        query = query.where(QuarantineItem.connector == connector)
    return list(session.scalars(query.limit(limit)))


def item_dict(item: QuarantineItem, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": item.id, "connector": item.connector,
                           "external_id": item.external_id, "location": item.location,
                           "reason": item.reason, "status": item.status,
                           "created_at": item.created_at.isoformat()}
    if full:
        out["payload"] = item.payload
        out["observation"] = item.observation
    return out


def retry(hub: Hub, ids: list[int] | None = None,
          connector: str | None = None) -> dict[str, Any]:
    """Retry open items; returns what was retried and what is still open afterwards."""
    from hub.sync import run_sync  # the sync runner imports the pipeline, as we do

    now = datetime.now(UTC)
    configured = {c.name: c for c in hub.config.connectors}
    with hub.pipeline.sessions.begin() as session:
        query = select(QuarantineItem).where(QuarantineItem.status == "open")
        if ids:
            query = query.where(QuarantineItem.id.in_(ids))
        if connector:
            query = query.where(QuarantineItem.connector == connector)
        items = [i for i in session.scalars(query.order_by(QuarantineItem.id))
                 if i.connector in configured]
        rereadable = {name: hub.connector(name).can_reread
                      for name in {i.connector for i in items}}
        # Rows a connector could not parse can only be retried by reading them again.
        stuck = [i for i in items if i.observation is None and not rereadable[i.connector]]
        items = [i for i in items if i not in stuck]
        for item in items:
            item.status, item.resolved_at = "retried", now
        observations: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            if item.observation is not None:
                observations.setdefault(item.connector, []).append(item.observation)
        names = sorted({i.connector for i in items})
    reread, reingested = [], 0
    for name in names:
        if rereadable[name]:
            reread.append(run_sync(hub, name, full=True).as_dict())
        else:
            batch = Batch([Observation.model_validate(o) for o in observations.get(name, [])])
            reingested += hub.pipeline.ingest(configured[name], batch).received
    with hub.pipeline.sessions() as session:
        still_open = session.scalar(select(func.count()).select_from(QuarantineItem).where(
            QuarantineItem.status == "open", QuarantineItem.connector.in_(names))) or 0
    return {"retried": len(items), "reread": reread, "reingested": reingested,
            "still_open": still_open, "cannot_retry": [i.id for i in stuck]}


def purge(session: Session, *, older_than_days: int | None = None,
          ids: list[int] | None = None) -> int:
    """Delete items (all closed ones, those older than N days, or the given ids)."""
    query = delete(QuarantineItem)
    if ids:
        query = query.where(QuarantineItem.id.in_(ids))
    elif older_than_days is not None:
        cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
        query = query.where(QuarantineItem.created_at < cutoff)
    else:
        query = query.where(QuarantineItem.status != "open")
    return session.execute(query).rowcount or 0  # type: ignore[attr-defined]
