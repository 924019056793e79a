"""Keeping golden records in step with their sources: contacts, their points, companies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.match.survivorship import SourceView, build_golden
from hub.model import Company, CompanyDomain, Contact, ContactPoint, SourceRecord

CONTACT_FIELDS = ("given_name", "family_name", "full_name", "title", "birthday", "language",
                  "country", "tags", "identifiers", "custom", "handles", "flags")


def contact_state(contact: Contact) -> dict[str, Any]:
    """The fields whose change makes a ``contact.updated`` event."""
    state = {name: getattr(contact, name) for name in CONTACT_FIELDS}
    state["address"] = contact.address
    state["company_id"] = contact.company_id
    return state


def rebuild_contact(session: Session, contact: Contact, now: datetime) -> bool:
    """Recompute ``contact`` from its live source records; returns whether it changed."""
    before = contact_state(contact)
    records = list(session.scalars(
        select(SourceRecord).where(SourceRecord.contact_id == contact.id,
                                   SourceRecord.kind == "person",
                                   SourceRecord.deleted_at.is_(None))
        .order_by(SourceRecord.id)))
    session.execute(delete(ContactPoint).where(ContactPoint.contact_id == contact.id))
    if not records:
        if contact.deleted_at is None:
            contact.deleted_at = now
            contact.updated_at = now
        return True
    contact.deleted_at = None
    views = [SourceView(r.id, r.connector, r.external_id, r.observed_at, r.data) for r in records]
    golden, provenance = build_golden(views)
    for name in ("given_name", "family_name", "full_name", "title", "birthday", "language",
                 "country"):
        setattr(contact, name, golden[name])
    contact.address = golden["address"] or {}
    contact.tags = golden["tags"]
    contact.identifiers = golden["identifiers"]
    contact.custom = golden["custom"]
    contact.handles = golden["handles"]
    contact.flags = golden["flags"]
    contact.provenance = provenance
    company_from = provenance.get("company")
    contact.company_id = None
    if company_from is not None:
        by_key = {(r.connector, r.external_id): r for r in records}
        winner = by_key.get((company_from["connector"], company_from["external_id"]))
        contact.company_id = winner.company_id if winner else None
    points = [
        ContactPoint(contact_id=contact.id, source_record_id=p["sources"][0], kind=kind,
                     value=p.get("key") or p["value"] if kind == "email" else p["value"],
                     original=p["value"], label=p.get("label"), is_primary=bool(p.get("primary")),
                     flags=p.get("flags") or [])
        for kind, group in (("email", golden["emails"]), ("phone", golden["phones"]))
        for p in group
    ]
    points.extend(ContactPoint(contact_id=contact.id, source_record_id=None, kind=kind,
                               value=handle, original=handle, label=None, is_primary=False,
                               flags=[])
                  for kind, handle in golden["handles"].items())
    session.add_all(points)
    changed = contact_state(contact) != before
    if changed:
        contact.updated_at = now
    return changed


class CompanyResolver:
    """Finds or creates the company a record names: by domain, then name + country."""

    def __init__(self, session: Session, now: datetime):
        self.session = session
        self.now = now

    def resolve(self, name: str | None, name_key: str | None, domains: list[str],
                country: str | None, website: str | None = None) -> int | None:
        session = self.session
        company: Company | None = None
        if domains:
            found = session.scalar(select(CompanyDomain.company_id)
                                   .where(CompanyDomain.domain.in_(domains))
                                   .order_by(CompanyDomain.company_id).limit(1))
            company = session.get(Company, found) if found is not None else None
        if company is None and name_key:
            query = select(Company).where(Company.name_key == name_key,
                                          Company.merged_into_id.is_(None))
            query = query.where((Company.country == country) | Company.country.is_(None)) \
                if country else query
            company = session.scalars(query.order_by(Company.id).limit(1)).first()
        if company is None:
            if not name_key and not domains:
                return None
            company = Company(name=name, name_key=name_key, country=country, website=website,
                              created_at=self.now, updated_at=self.now)
            session.add(company)
            session.flush()
        else:
            changed = False
            for attr, value in (("name", name), ("name_key", name_key), ("country", country),
                                ("website", website)):
                if value and not getattr(company, attr):
                    setattr(company, attr, value)
                    changed = True
            if changed:
                company.updated_at = self.now
        known = set(session.scalars(select(CompanyDomain.domain).where(
            CompanyDomain.domain.in_(domains)))) if domains else set()
        for domain in domains:
            if domain not in known:
                session.add(CompanyDomain(company_id=company.id, domain=domain))
        session.flush()
        return company.id
