"""Manual corrections (``crmhub contacts set``, ``crmhub companies set``): the ``manual``
source, first in survivorship.

A correction is stored as a source record of the ``manual`` connector for that contact or
company, so it survives every re-sync (connectors never write it) and shows in provenance
like any other source. ``stage`` and ``owner`` are properties of the contact, set directly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.ingest.prepare import content_hash
from hub.match.blocking import stored_keys
from hub.match.canonical import Policy, canonical_person, company_facts
from hub.match.companies import FIELDS, rebuild_company
from hub.match.golden import rebuild_contact
from hub.match.survivorship import MANUAL
from hub.normalize import clean_company_name, clean_text, normalize_country
from hub.records import CompanyData, Observation, PersonData
from hub.store.model import Company, Contact, MatchKey, SourceRecord

SCALAR = {"given_name", "family_name", "full_name", "title", "birthday", "language"}
DIRECT = {"stage", "owner", "team"}
POINTS = {"email": "emails", "phone": "phones"}
KEYED = ("custom.", "identifiers.", "handles.")


class ManualError(ValueError):
    """A correction that names an unknown field or contact."""


def settable_fields() -> str:
    return ", ".join([*sorted(SCALAR | DIRECT), "email", "phone", "tags", "company",
                      "custom.KEY", "identifiers.KEY", "handles.KEY"])


def _manual_record(session: Session,
                   external_id: str) -> tuple[SourceRecord | None, dict[str, Any]]:
    """The manual record of a contact or company, if any, and the values it holds."""
    record = session.scalars(select(SourceRecord).where(
        SourceRecord.connector == MANUAL, SourceRecord.external_id == external_id)).first()
    return record, dict(record.raw or {}) if record is not None else {}


Live = TypeVar("Live", Contact, Company)


def _live(session: Session, model: type[Live], row_id: int, noun: str) -> Live:
    """The contact or company ``row_id``, or ManualError when it is gone or merged."""
    row = session.get(model, row_id)
    if row is None or row.merged_into_id is not None:
        target = f" (merged into {row.merged_into_id})" if row else ""
        raise ManualError(f"no live {noun} {row_id}{target}")
    return row


def set_fields(session: Session, contact_id: int, assignments: dict[str, str],
               policy: Policy, now: datetime | None = None) -> Contact:
    now = now or datetime.now(UTC)
    contact = _live(session, Contact, contact_id, "contact")
    external_id = f"contact:{contact_id}"
    record, values = _manual_record(session, external_id)
    for field, value in assignments.items():
        if field in DIRECT:
            setattr(contact, field, value or None)
        elif field in SCALAR or field in POINTS or field in ("tags", "company") \
                or field.startswith(KEYED):
            values[field] = value
        else:
            raise ManualError(f"unknown field {field!r}; settable: {settable_fields()}")
    person = PersonData(
        **{k: v for k, v in values.items() if k in SCALAR},
        emails=[{"value": values["email"], "primary": True}] if values.get("email") else [],
        phones=[{"value": values["phone"], "primary": True}] if values.get("phone") else [],
        tags=[t.strip() for t in values.get("tags", "").split(",") if t.strip()],
        company={"name": values["company"]} if values.get("company") else None,
        custom={k[7:]: v for k, v in values.items() if k.startswith("custom.")},
        identifiers={k[12:]: v for k, v in values.items() if k.startswith("identifiers.")},
        handles={k[8:]: v for k, v in values.items() if k.startswith("handles.")},
    )
    observation = Observation(kind="person", external_id=external_id, observed_at=now,
                              raw=values, person=person)
    canon = canonical_person(person, policy, None)
    if record is None:
        record = SourceRecord(connector=MANUAL, external_id=external_id, kind="person",
                              first_seen=now)
        session.add(record)
    record.raw, record.data = values, canon.data
    record.content_hash = content_hash(observation)
    record.observed_at = record.last_seen = now
    record.contact_id = contact_id
    record.deleted_at = None
    session.flush()
    session.execute(delete(MatchKey).where(MatchKey.source_record_id == record.id))
    session.add_all(MatchKey(contact_id=contact_id, source_record_id=record.id, kind=kind,
                             key=key, given=given)
                    for kind, key, given in stored_keys(((k.kind, k.key) for k in canon.keys),
                                                        canon.data))
    rebuild_contact(session, contact, now)
    contact.updated_at = now
    return contact


COMPANY_FIELDS = FIELDS  # every golden company value can be set by hand


def set_company_fields(session: Session, company_id: int, assignments: dict[str, str],
                       now: datetime | None = None) -> Company:
    """Set company values by hand (``employees=250``); an empty value withdraws the
    correction of that field, and the sources' value comes back."""
    now = now or datetime.now(UTC)
    company = _live(session, Company, company_id, "company")
    external_id = f"company:{company_id}"
    record, values = _manual_record(session, external_id)
    for field, value in assignments.items():
        if field not in COMPANY_FIELDS:
            raise ManualError(f"unknown field {field!r}; settable: {', '.join(COMPANY_FIELDS)}")
        if value:
            values[field] = value
        else:
            values.pop(field, None)
    flags: list[str] = []
    facts = company_facts(values.get("industry"), values.get("employees"),
                          values.get("revenue"), flags)
    if flags:
        bad = [f.split(".", 1)[1] for f in flags if f.startswith("unparsed:")]
        raise ManualError(f"{', '.join(f'{b}={values[b]!r}' for b in bad)}: not a number "
                          "(write employees=250, revenue=2500000 or revenue=2.5M)")
    country = normalize_country(values["country"]) if values.get("country") else None
    if values.get("country") and country is None:
        raise ManualError(f"country={values['country']!r}: not a country (write FR or France)")
    data: dict[str, Any] = {"name": clean_company_name(values.get("name")), "domains": [],
            "country": country, "website": clean_text(values.get("website")),
            "industry": facts.get("industry"), "employees": facts.get("employees"),
            "revenue": facts.get("revenue"), "tags": [], "custom": {}}
    observation = Observation(kind="company", external_id=external_id, observed_at=now,
                              raw=values, company=CompanyData(name=values.get("name")))
    if record is None:
        record = SourceRecord(connector=MANUAL, external_id=external_id, kind="company",
                              first_seen=now)
        session.add(record)
    record.raw, record.data = values, data
    record.content_hash = content_hash(observation)
    record.observed_at = record.last_seen = now
    record.company_id = company_id
    record.deleted_at = None if values else now  # nothing corrected: no manual source
    rebuild_company(session, company_id, now)
    return company
