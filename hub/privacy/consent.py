"""Opt-out and consent per contact point (GDPR article 21): an e-mail address or a phone
number, as a source said it (an unsubscribe column, a lead form's consent box, a ``Do Not
Call`` column) or a person set it (``crmhub contacts set ID --opt-out email``), with the
source and the time. The latest statement about a point holds, whatever its source.

Points are kept by their matching form (an e-mail's key, a number in E.164), so the
statement follows the address whatever notation a later source writes it in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from hub.normalize import normalize_email, normalize_phone
from hub.store.db import chunks
from hub.store.model import PointPreference

OPT_OUT, CONSENT = "opt_out", "consent"
Point = tuple[str, str]  # ("email", key) or ("phone", E.164)


def point_of(kind: str, value: str, region: str | None = None) -> Point | None:
    """The stored form of an e-mail or phone as a source wrote it (None: not valid)."""
    if kind == "email":
        result = normalize_email(value)
        return ("email", result.key) if result is not None and result.valid else None
    parsed = normalize_phone(value, region)
    return ("phone", parsed.e164) if parsed is not None and parsed.e164 else None


def record(session: Session, point: Point, status: str, source: str, at: datetime) -> None:
    """Store one source's statement about a point (replacing its earlier one)."""
    kind, value = point
    row = session.scalar(select(PointPreference).where(
        PointPreference.kind == kind, PointPreference.value == value,
        PointPreference.source == source))
    if row is None:
        session.add(PointPreference(kind=kind, value=value, status=status, source=source,
                                    at=at))
    elif row.at <= at:
        row.status, row.at = status, at


def current(session: Session, points: Iterable[Point]) -> dict[Point, PointPreference]:
    """The statement that holds for each point that has one (the latest)."""
    out: dict[Point, PointPreference] = {}
    for chunk in chunks(sorted(set(points))):
        for row in session.scalars(select(PointPreference).where(
                tuple_(PointPreference.kind, PointPreference.value).in_(chunk))):
            key = (row.kind, row.value)
            if key not in out or (row.at, row.id) > (out[key].at, out[key].id):
                out[key] = row
    return out


def opted_out(session: Session, points: Iterable[Point]) -> set[Point]:
    return {point for point, row in current(session, points).items() if row.status == OPT_OUT}


def preferences(session: Session, golden: dict[str, Any],
                region: str | None = None) -> list[dict[str, Any]]:
    """Each e-mail and phone of an exported contact with its opt-out or consent, if any."""
    shown: list[tuple[str, str, Point]] = []
    for kind, values in (("email", golden.get("emails") or []),
                         ("phone", golden.get("phones") or [])):
        for item in values:
            text = item.get("value") if isinstance(item, dict) else item
            if text and (point := point_of(kind, str(text), region)) is not None:
                shown.append((kind, str(text), point))
    held = current(session, [point for _, _, point in shown])
    out = []
    for kind, text, point in shown:
        row = held.get(point)
        out.append({"kind": kind, "value": text,
                    "status": row.status if row is not None else None,
                    "source": row.source if row is not None else None,
                    "at": row.at.isoformat() if row is not None else None})
    return out
