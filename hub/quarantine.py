"""Rejected input: list, show, retry after a config or mapping fix, purge.

Two kinds of item wait here. One that carries its Observation (the pipeline could not
store it) is retried by ingesting it again. One the connector could not parse at all
(a broken CSV row) is retried by a full re-read of that connector's sources: the items
are closed, and whatever still fails comes back as new open items.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
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
    """Retry open items; returns what was re-ingested and which connectors were re-read."""
    from hub.sync import run_sync  # the sync runner imports the pipeline, as we do

    now = datetime.now(UTC)
    resolved, still_bad, reread = 0, 0, set()
    with hub.pipeline.sessions() as session:
        query = select(QuarantineItem).where(QuarantineItem.status == "open")
        if ids:
            query = query.where(QuarantineItem.id.in_(ids))
        if connector:
            query = query.where(QuarantineItem.connector == connector)
        items = list(session.scalars(query.order_by(QuarantineItem.id)))
    configured = {c.name: c for c in hub.config.connectors}
    for item in items:
        cfg = configured.get(item.connector)
        if cfg is None:
            continue
        with hub.pipeline.sessions.begin() as session:
            row = session.get(QuarantineItem, item.id)
            assert row is not None
            row.status, row.resolved_at = "retried", now
        if item.observation is None:
            reread.add(item.connector)
            continue
        observation = Observation.model_validate(item.observation)
        stats = hub.pipeline.ingest(cfg, Batch(observations=[observation]))
        if stats.quarantined:
            still_bad += 1
        else:
            resolved += 1
    reports = [run_sync(hub, name, full=True) for name in sorted(reread)]
    return {"reingested": resolved, "still_rejected": still_bad,
            "reread": [r.as_dict() for r in reports]}


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
