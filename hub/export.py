"""Golden records as export objects (jsonl, or csv with flattened keys): the keys the
README lists under "Export object", stable across versions."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.privacy.consent import opted_out, point_of
from hub.store.model import (
    Company,
    CompanyDomain,
    Contact,
    ContactPoint,
    Interaction,
    InteractionContact,
    MergeEvent,
    PointPreference,
    SourceRecord,
)

CSV_COLUMNS = [
    "id", "given_name", "family_name", "full_name", "title", "birthday", "emails", "phones",
    "handles", "company.id", "company.name", "company.domains", "address.street", "address.city",
    "address.postcode", "address.region", "address.country", "stage", "score", "owner", "tags",
    "identifiers", "custom", "sources", "interactions.count", "interactions.last_at",
    "merged_from", "opt_out",
]


def live_contacts_query(owner: str | None = None, visible: Any = None) -> Any:
    """Live contacts; ``visible`` is a visibility clause (:mod:`hub.routing.visibility`)."""
    query = select(Contact).where(Contact.merged_into_id.is_(None), Contact.deleted_at.is_(None))
    if owner is not None:
        query = query.where(Contact.owner == owner)
    if visible is not None:
        query = query.where(visible)
    return query.order_by(Contact.id)


def export_contacts(session: Session, *, owner: str | None = None, visible: Any = None,
                    chunk: int = 1000) -> Iterator[dict[str, Any]]:
    """Every live contact as an export object, loading related rows a chunk at a time."""
    last_id = 0
    while True:
        contacts = list(session.scalars(live_contacts_query(owner, visible)
                                        .where(Contact.id > last_id).limit(chunk)))
        if not contacts:
            return
        yield from export_objects(session, contacts)
        last_id = contacts[-1].id


def export_objects(session: Session, contacts: list[Contact]) -> Iterator[dict[str, Any]]:
    """Export objects of these contacts, their related rows loaded in a few queries."""
    ids = [c.id for c in contacts]
    points: dict[int, list[ContactPoint]] = {}
    for point in session.scalars(select(ContactPoint).where(ContactPoint.contact_id.in_(ids))
                                 .order_by(ContactPoint.id)):
        points.setdefault(point.contact_id, []).append(point)
    sources: dict[int, list[dict[str, Any]]] = {}
    for contact_id, connector, external_id, observed_at in session.execute(
            select(SourceRecord.contact_id, SourceRecord.connector, SourceRecord.external_id,
                   SourceRecord.observed_at)
            .where(SourceRecord.contact_id.in_(ids), SourceRecord.deleted_at.is_(None),
                   SourceRecord.kind == "person")
            .order_by(SourceRecord.connector, SourceRecord.external_id)):
        if contact_id is None:
            continue
        sources.setdefault(contact_id, []).append(
            {"connector": connector, "external_id": external_id,
             "observed_at": observed_at.isoformat()})
    activity = {cid: (count, last) for cid, count, last in session.execute(
        select(InteractionContact.contact_id, func.count(func.distinct(Interaction.id)),
               func.max(Interaction.occurred_at))
        .join(Interaction, Interaction.id == InteractionContact.interaction_id)
        .where(InteractionContact.contact_id.in_(ids), Interaction.deleted_at.is_(None))
        .group_by(InteractionContact.contact_id))}
    merged: dict[int, list[int]] = {}
    for survivor, merged_id in session.execute(
            select(MergeEvent.survivor_id, MergeEvent.merged_id)
            .where(MergeEvent.survivor_id.in_(ids), MergeEvent.undone_at.is_(None),
                   MergeEvent.entity == "contact").order_by(MergeEvent.id)):
        merged.setdefault(survivor, []).append(merged_id)
    company_ids = sorted({c.company_id for c in contacts if c.company_id})
    companies = {c.id: c for c in session.scalars(
        select(Company).where(Company.id.in_(company_ids)))} if company_ids else {}
    domains: dict[int, list[str]] = {}
    for company_id, domain in session.execute(
            select(CompanyDomain.company_id, CompanyDomain.domain)
            .where(CompanyDomain.company_id.in_(company_ids)).order_by(CompanyDomain.domain)):
        domains.setdefault(company_id, []).append(domain)
    said = _opted_out(session, [p for mine in points.values() for p in mine])
    for contact in contacts:
        mine = points.get(contact.id, [])
        company = companies.get(contact.company_id) if contact.company_id else None
        count, last = activity.get(contact.id, (0, None))
        yield {
            "id": contact.id,
            "given_name": contact.given_name, "family_name": contact.family_name,
            "full_name": contact.full_name, "title": contact.title, "birthday": contact.birthday,
            "emails": [_point(p) for p in mine if p.kind == "email"],
            "phones": [_point(p) for p in mine if p.kind == "phone"],
            "handles": contact.handles or {},
            "company": {"id": company.id, "name": company.name,
                        "domains": domains.get(company.id, [])} if company else None,
            "address": _address(contact),
            "stage": contact.stage, "score": contact.score, "owner": contact.owner,
            "tags": contact.tags or [], "identifiers": contact.identifiers or {},
            "custom": contact.custom or {},
            "sources": sources.get(contact.id, []),
            "interactions": {"count": count, "last_at": last.isoformat() if last else None},
            "merged_from": merged.get(contact.id, []),
            "opt_out": sorted({p.value for p in mine if p.id in said}),
        }


def _opted_out(session: Session, points: list[ContactPoint]) -> set[int]:
    """The ids of the points whose owner opted out (one query; none while nobody has)."""
    if not points or session.scalar(select(PointPreference.id).limit(1)) is None:
        return set()
    wanted = {p.id: point for p in points
              if (point := point_of(p.kind, p.value)) is not None}
    out = opted_out(session, wanted.values())
    return {point_id for point_id, point in wanted.items() if point in out}


def _point(point: ContactPoint) -> dict[str, Any]:
    """A golden e-mail or phone in its normalised form (lower-case e-mail, E.164 phone);
    the source's spelling stays in its source record."""
    return {"value": point.value, "label": point.label, "primary": point.is_primary}


def _address(contact: Contact) -> dict[str, Any]:
    """The golden address with its country: the ISO code is stored beside the address
    (it also comes from a phone or a country column), and belongs in it."""
    address = dict(contact.address or {})
    if contact.country and not address.get("country"):
        address["country"] = contact.country
    return address


def without_ids(row: dict[str, Any]) -> dict[str, Any]:
    """An export object for comparisons: no database ids, no clock times."""
    out = {k: v for k, v in row.items() if k not in ("id", "merged_from")}
    if out.get("company"):
        out["company"] = {k: v for k, v in out["company"].items() if k != "id"}
    out["sources"] = [{k: v for k, v in s.items() if k != "observed_at"}
                      for s in out.get("sources", [])]
    return out


def flatten(row: dict[str, Any]) -> dict[str, str]:
    """One CSV row: points and lists joined with '; ', maps as JSON."""
    company = row.get("company") or {}
    address = row.get("address") or {}
    interactions = row.get("interactions") or {}

    def points(items: Iterable[dict[str, Any]]) -> str:
        return "; ".join(p["value"] for p in sorted(items, key=lambda p: not p.get("primary")))

    values: dict[str, Any] = {
        **{k: row.get(k) for k in ("id", "given_name", "family_name", "full_name", "title",
                                   "birthday", "stage", "score", "owner")},
        "emails": points(row.get("emails", [])), "phones": points(row.get("phones", [])),
        "handles": json.dumps(row.get("handles") or {}, ensure_ascii=False, sort_keys=True),
        "company.id": company.get("id"), "company.name": company.get("name"),
        "company.domains": "; ".join(company.get("domains") or []),
        **{f"address.{k}": address.get(k) for k in ("street", "city", "postcode", "region",
                                                    "country")},
        "tags": "; ".join(row.get("tags") or []),
        "identifiers": json.dumps(row.get("identifiers") or {}, ensure_ascii=False,
                                  sort_keys=True),
        "custom": json.dumps(row.get("custom") or {}, ensure_ascii=False, sort_keys=True,
                             default=str),
        "sources": "; ".join(f"{s['connector']}:{s['external_id']}"
                             for s in row.get("sources", [])),
        "interactions.count": interactions.get("count"),
        "interactions.last_at": interactions.get("last_at"),
        "merged_from": "; ".join(str(i) for i in row.get("merged_from") or []),
        "opt_out": "; ".join(row.get("opt_out") or []),
    }
    return {k: "" if values.get(k) is None else str(values[k]) for k in CSV_COLUMNS}


def write_csv(rows: Iterable[dict[str, Any]], out: io.TextIOBase | Any) -> int:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(flatten(row))
        count += 1
    return count


def write_jsonl(rows: Iterable[dict[str, Any]], out: Any) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        count += 1
    return count
