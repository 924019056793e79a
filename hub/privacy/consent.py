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

from hub.match.resolve import live_contacts
from hub.normalize import normalize_email, normalize_phone
from hub.store.db import chunks
from hub.store.model import Contact, ContactPoint, PointPreference

OPT_OUT, CONSENT = "opt_out", "consent"
Point = tuple[str, str]  # ("email", key) or ("phone", E.164)


def point_of(kind: str, value: str, region: str | None = None) -> Point | None:
    """The stored form of an e-mail or phone as a source wrote it (None: not valid)."""
    if kind == "email":
        result = normalize_email(value)
        return ("email", result.key) if result is not None and result.valid else None
    parsed = normalize_phone(value, region)
    return ("phone", parsed.e164) if parsed is not None and parsed.e164 else None


def _said(session: Session, point: Point, source: str) -> PointPreference | None:
    """What ``source`` said about a point, if anything."""
    kind, value = point
    return session.scalar(select(PointPreference).where(
        PointPreference.kind == kind, PointPreference.value == value,
        PointPreference.source == source))


def record(session: Session, point: Point, status: str, source: str, at: datetime) -> None:
    """Store one source's statement about a point (replacing its earlier one)."""
    kind, value = point
    row = _said(session, point, source)
    if row is None:
        session.add(PointPreference(kind=kind, value=value, status=status, source=source,
                                    at=at))
    elif row.at <= at:
        row.status, row.at = status, at


def withdraw(session: Session, point: Point, source: str) -> None:
    """Forget what ``source`` said about a point (it no longer says it)."""
    row = _said(session, point, source)
    if row is not None:
        session.delete(row)


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


def set_by_hand(session: Session, contact_id: int, wishes: Iterable[str], status: str,
                region: str | None, at: datetime) -> list[str]:
    """``crmhub contacts set ID --opt-out email``: each wish is ``email`` (every e-mail of
    the live contact), ``phone``, or one address or number of it; the points set, as
    shown. ValueError names a point the contact does not have."""
    wishes = list(wishes)
    if not wishes:
        return []
    if session.get(Contact, contact_id) is None:
        raise ValueError(f"no contact {contact_id}")
    live = live_contacts(session, [contact_id])[contact_id]
    held = [(p.kind, p.value) for p in session.scalars(
        select(ContactPoint).where(ContactPoint.contact_id == live,
                                   ContactPoint.kind.in_(("email", "phone"))))]
    done: list[str] = []
    for wish in wishes:
        if wish in ("email", "phone"):
            chosen = sorted({value for kind, value in held if kind == wish})
            if not chosen:
                raise ValueError(f"contact {contact_id} has no {wish}")
            targets = [(wish, value) for value in chosen]
        else:
            kind = "email" if "@" in wish else "phone"
            point = point_of(kind, wish, region)
            mine = {point_of(k, v, region) for k, v in held if k == kind}
            if point is None or point not in mine:
                raise ValueError(f"contact {contact_id} has no {kind} {wish!r}")
            targets = [(kind, wish)]
        for kind, value in targets:
            point = point_of(kind, value, region)
            if point is not None:
                record(session, point, status, "manual", at)
                done.append(value)
    return done
