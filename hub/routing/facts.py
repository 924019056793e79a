"""The facts a condition reads about a contact, loaded for many contacts in a few queries.

Facts are a flat mapping from field path (``company.employees``) to value. Free-form maps
(``custom``, ``identifiers``, ``handles``, ``company.custom``) are flattened one level.
Interaction counts are loaded only when some condition reads them.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.store.db import chunks
from hub.store.model import (
    Company,
    CompanyDomain,
    Contact,
    ContactPoint,
    Interaction,
    InteractionContact,
    SourceRecord,
)

INTERACTION_FIELDS = {"interactions.count", "interactions.inbound", "interactions.outbound",
                      "interactions.days_since_last"}


_CONTACT_COLUMNS = (
    Contact.id, Contact.given_name, Contact.family_name, Contact.full_name, Contact.title,
    Contact.language, Contact.country, Contact.birthday, Contact.score, Contact.stage,
    Contact.owner, Contact.team, Contact.tags, Contact.address, Contact.custom,
    Contact.identifiers, Contact.handles, Contact.company_id, Contact.merged_into_id,
    Contact.deleted_at)
_COMPANY_COLUMNS = (Company.id, Company.name, Company.industry, Company.employees,
                    Company.revenue, Company.country, Company.owner, Company.tags,
                    Company.custom)


def contact_facts(contact: Any, company: Any, domains: list[str],
                  emails: list[str], phones: list[str], sources: list[str],
                  source: str | None) -> dict[str, Any]:
    address = contact.address or {}
    facts: dict[str, Any] = {
        "contact.given_name": contact.given_name, "contact.family_name": contact.family_name,
        "contact.full_name": contact.full_name, "contact.title": contact.title,
        "contact.language": contact.language, "contact.country": contact.country,
        "contact.birthday": contact.birthday, "contact.emails": emails,
        "contact.email_domain": emails[0].rsplit("@", 1)[-1] if emails else None,
        "contact.phones": phones,
        "score": contact.score, "stage": contact.stage, "owner": contact.owner,
        "team": contact.team, "tags": list(contact.tags or []), "source": source,
        "sources": sources,
        # Not condition fields (no dot): what routing itself needs.
        "_company_id": contact.company_id,
        "_live": contact.merged_into_id is None and contact.deleted_at is None,
    }
    for key in ("street", "city", "postcode", "region", "country"):
        facts[f"contact.address.{key}"] = address.get(key)
    for prefix, values in (("contact.custom.", contact.custom), ("custom.", contact.custom),
                           ("contact.identifiers.", contact.identifiers),
                           ("contact.handles.", contact.handles)):
        for key, value in (values or {}).items():
            facts[prefix + key] = value
    if company is not None:
        facts.update({
            "company.name": company.name, "company.domains": domains,
            "company.domain": domains[0] if domains else None,
            "company.industry": company.industry, "company.employees": company.employees,
            "company.revenue": company.revenue,
            "company.country": company.country, "company.owner": company.owner,
            "company.tags": list(company.tags or []),
        })
        for key, value in (company.custom or {}).items():
            facts["company.custom." + key] = value
    return facts


POINT_FIELDS = {"contact.emails", "contact.email_domain", "contact.phones"}


def load_facts(session: Session, contact_ids: list[int], *, source: str | None = None,
               interactions: bool = False, now: datetime | None = None,
               points_for: Collection[int] | None = None,
               sources: bool = True) -> dict[int, dict[str, Any]]:
    """Facts of these contacts, keyed by id, in a handful of queries.

    ``points_for``: the contacts whose e-mails and phones are needed (default: all; the
    others get ``_points = False``); ``sources=False`` skips the connectors list."""
    ids = sorted(set(contact_ids))
    contacts: dict[int, Any] = {}
    for chunk in chunks(ids):  # columns, not entities: provenance JSON is never decoded
        for contact in session.execute(select(*_CONTACT_COLUMNS).where(Contact.id.in_(chunk))):
            contacts[contact.id] = contact
    company_ids = sorted({c.company_id for c in contacts.values() if c.company_id})
    companies: dict[int, Any] = {}
    domains: dict[int, list[str]] = {}
    for chunk in chunks(company_ids):
        for found in session.execute(select(*_COMPANY_COLUMNS).where(Company.id.in_(chunk))):
            companies[found.id] = found
        for company_id, domain in session.execute(
                select(CompanyDomain.company_id, CompanyDomain.domain)
                .where(CompanyDomain.company_id.in_(chunk)).order_by(CompanyDomain.domain)):
            domains.setdefault(company_id, []).append(domain)
    points: dict[int, dict[str, list[str]]] = {}
    shown: dict[int, dict[str, list[str]]] = {}  # as the sources wrote them, for people
    connectors: dict[int, set[str]] = {}
    wanted = list(contacts) if points_for is None else sorted(set(points_for) & set(contacts))
    for chunk in chunks(wanted):
        for contact_id, kind, value, original in session.execute(
                select(ContactPoint.contact_id, ContactPoint.kind, ContactPoint.value,
                       ContactPoint.original)
                .where(ContactPoint.contact_id.in_(chunk), ContactPoint.kind.in_(
                    ("email", "phone")))
                .order_by(ContactPoint.contact_id, ContactPoint.is_primary.desc(),
                          ContactPoint.id)):
            mine = points.setdefault(contact_id, {"email": [], "phone": []})
            if value not in mine[kind]:
                mine[kind].append(value)
                shown.setdefault(contact_id, {"email": [], "phone": []})[kind].append(
                    original or value)
    for chunk in chunks(list(contacts)) if sources else ():
        for source_contact, connector in session.execute(
                select(SourceRecord.contact_id, SourceRecord.connector).distinct()
                .where(SourceRecord.contact_id.in_(chunk), SourceRecord.deleted_at.is_(None))):
            if source_contact is not None:
                connectors.setdefault(source_contact, set()).add(connector)
    out: dict[int, dict[str, Any]] = {}
    wanted_set = set(wanted)
    for contact_id, contact in contacts.items():
        company = companies.get(contact.company_id) if contact.company_id else None
        company_domains = domains.get(company.id, []) if company is not None else []
        mine = points.get(contact_id, {"email": [], "phone": []})
        out[contact_id] = contact_facts(
            contact, company, company_domains, mine["email"],
            mine["phone"], sorted(connectors.get(contact_id, ())), source)
        out[contact_id]["_points"] = points_for is None or contact_id in wanted_set
        out[contact_id]["_shown"] = shown.get(contact_id, {"email": [], "phone": []})
    if interactions and out:
        add_interaction_facts(session, out, now)
    return out


def add_interaction_facts(session: Session, facts: dict[int, dict[str, Any]],
                          now: datetime | None) -> None:
    for contact_id in facts:
        facts[contact_id].update({"interactions.count": 0, "interactions.inbound": 0,
                                  "interactions.outbound": 0,
                                  "interactions.days_since_last": None})
    for chunk in chunks(list(facts)):
        for contact_id, direction, count, last in session.execute(
                select(InteractionContact.contact_id, Interaction.direction,
                       func.count(func.distinct(Interaction.id)), func.max(Interaction.occurred_at))
                .join(Interaction, Interaction.id == InteractionContact.interaction_id)
                .where(InteractionContact.contact_id.in_(chunk), Interaction.deleted_at.is_(None))
                .group_by(InteractionContact.contact_id, Interaction.direction)):
            entry = facts[contact_id]
            entry["interactions.count"] += count
            if direction in ("inbound", "outbound"):
                entry[f"interactions.{direction}"] += count
            if now is not None and last is not None:
                days = (now - last).total_seconds() / 86400
                previous = entry["interactions.days_since_last"]
                entry["interactions.days_since_last"] = round(
                    days if previous is None else min(previous, days), 3)
