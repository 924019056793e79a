"""Rejected input: list, show, retry after a config or mapping fix, purge.

Retrying closes the open items and runs their input again. A pull source (one whose
connector syncs) is re-read in full, so a fixed mapping or setting applies to the raw rows
again. A push source (webhooks) has nothing to re-read, so its stored observations are
ingested again. Whatever still fails comes back as new open items with its reason.

What ``list`` and ``show`` print is masked unless the admin asks to see it
(``--reveal``): the quarantine holds personal data as the source sent it. Every text
(reason, external id, payload, each string of the observation) gets the log masker's
treatment (e-mails, phone numbers and registered secrets, whatever ``mask_pii`` says for
the logs: ``--reveal`` alone shows them), and the words of the names an observation
carries (given, family and full names, participants') are masked wherever they appear in
the item as words of their own. The
observation's fields that are personal by what they are (names, birth date, street,
e-mail addresses, phone numbers, handles) are masked even when no pattern recognises
them: the first character and ``***``. A payload that could not be parsed has no
observation, so names written in it stay readable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.connectors import Batch
from hub.logs import mask_personal_data
from hub.records import Observation
from hub.service.runtime import Hub
from hub.service.sync import run_sync
from hub.store.model import QuarantineItem


def list_items(session: Session, *, status: str | None = "open",
               connector: str | None = None, limit: int = 100) -> list[QuarantineItem]:
    query = select(QuarantineItem).order_by(QuarantineItem.id)
    if status:
        query = query.where(QuarantineItem.status == status)
    if connector:
        query = query.where(QuarantineItem.connector == connector)
    return list(session.scalars(query.limit(limit)))


def item_dict(item: QuarantineItem, full: bool = False, *,
              reveal: bool = False) -> dict[str, Any]:
    """An item as ``crmhub quarantine`` prints it: personal data masked unless ``reveal``;
    ``full`` adds the payload and the observation."""
    out: dict[str, Any] = {"id": item.id, "connector": item.connector,
                           "external_id": item.external_id, "location": item.location,
                           "reason": item.reason, "status": item.status,
                           "created_at": item.created_at.isoformat()}
    if full:
        out["payload"] = item.payload
        out["observation"] = item.observation
    if reveal:
        return out
    mask = _masker(_names(item.observation))
    for key in ("external_id", "reason", "payload"):
        if isinstance(out.get(key), str):
            out[key] = mask(out[key])
    if item.observation is None and isinstance(out.get("payload"), str):
        # Input no observation was made of: which words are names is unknown, so every
        # capitalised word is masked (the layout, the lengths and the digits stay).
        out["payload"] = _CAPITALISED.sub(lambda m: m.group()[0] + "***", out["payload"])
    if out.get("observation") is not None:
        out["observation"] = _mask_observation(out["observation"], mask, ())
    return out


# Observation fields that are personal data by what they are, as (parent, key) with ""
# for any parent: masked even when no pattern recognises the value.
_PERSONAL_FIELDS = {("", "given_name"), ("", "family_name"), ("", "full_name"),
                    ("", "birthday"), ("", "street"), ("emails", "value"),
                    ("phones", "value"), ("", "handles"), ("participants", "name"),
                    ("participants", "email"), ("participants", "phone"),
                    ("participants", "handle")}
_NAME_FIELDS = ("given_name", "family_name", "full_name")
_CAPITALISED = re.compile(r"(?<![\w@.*])[^\W\d_a-z][^\W\d_]+(?![\w@*])")


def _names(observation: dict[str, Any] | None) -> set[str]:
    """The words of the names an observation carries (a person's, its participants')."""
    if not observation:
        return set()
    people: list[Any] = [observation.get("person")]
    interaction = observation.get("interaction")
    if isinstance(interaction, dict):
        people.extend(interaction.get("participants") or [])
    words: set[str] = set()
    for person in people:
        if not isinstance(person, dict):
            continue
        for key in (*_NAME_FIELDS, "name"):
            value = person.get(key)
            if isinstance(value, str):
                words.update(w for w in value.split() if len(w) >= 2)
    return words


def _masker(names: set[str]) -> Callable[[str], str]:
    """Masks what the log masker masks, then ``names`` as whole words in any case (not
    glued to a word, directly or through ``@ . - /``: a domain keeps its name part)."""
    if not names:
        return mask_personal_data
    ordered = sorted(names, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w@./-])(?:" + "|".join(re.escape(n) for n in ordered)
                         + r")(?![\w@])(?![./-]\w)", re.IGNORECASE)

    def mask(text: str) -> str:
        return pattern.sub(lambda m: m.group()[0] + "***", mask_personal_data(text))

    return mask


def _hide(value: str, mask: Callable[[str], str]) -> str:
    """A personal value masked: as the patterns mask it, else its first character."""
    masked = mask(value)
    return masked if masked != value else value[:1] + "***"


def _mask_observation(value: Any, mask: Callable[[str], str], path: tuple[str, ...],
                      personal: bool = False) -> Any:
    """``value`` with every string masked; ``personal`` fields hidden whatever they hold."""
    if isinstance(value, str):
        return _hide(value, mask) if personal else mask(value)
    if isinstance(value, dict):
        parent = next((p for p in reversed(path) if not p.isdigit()), "")
        return {key: _mask_observation(
                    item, mask, (*path, key),
                    personal or ("", key) in _PERSONAL_FIELDS
                    or (parent, key) in _PERSONAL_FIELDS)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_observation(item, mask, (*path, str(i)), personal)
                for i, item in enumerate(value)]
    return value


def retry(hub: Hub, ids: list[int] | None = None,
          connector: str | None = None) -> dict[str, Any]:
    """Retry open items; returns what was retried and what is still open afterwards."""
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
    reread, reingested, stored = [], 0, 0
    for name in names:
        if rereadable[name]:
            report = run_sync(hub, name, full=True).as_dict()
            reread.append(report)
            stored += report["created"] + report["updated"]
        else:
            batch = Batch([Observation.model_validate(o) for o in observations.get(name, [])])
            stats = hub.pipeline.ingest(configured[name], batch)
            reingested += stats.received
            stored += stats.created + stats.updated
    with hub.pipeline.sessions() as session:
        still_open = session.scalar(select(func.count()).select_from(QuarantineItem).where(
            QuarantineItem.status == "open", QuarantineItem.connector.in_(names))) or 0
    # stored: the records the retry created or changed, whichever way it went (a re-read
    # source's full sync also counts the records it had to update).
    return {"retried": len(items), "reread": reread, "reingested": reingested,
            "stored": stored, "still_open": still_open,
            "cannot_retry": [i.id for i in stuck]}


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
