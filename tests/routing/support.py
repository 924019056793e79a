"""What the routing tests share: the owners file, contacts made with the ORM, rules from text,
batches of new leads and the owners and assignments they got."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub.config import ConnectorConfig
from hub.routing.engine import Routing
from hub.routing.model import Assignment
from hub.routing.rules import load_rules
from hub.routing.scoring import load_scoring
from hub.routing.strategies import BUILTIN
from hub.store.db import session_factory
from hub.store.model import Company, CompanyDomain, Contact, ContactPoint

# Monday 5 January 2026, 10:00 in Paris.
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEADS = ConnectorConfig(name="web-forms", kind="csv")
MIGRATION = ConnectorConfig(name="old-crm", kind="csv", route_new_contacts=False)

OWNERS = """
[settings]
timezone = "Europe/Paris"

[[teams]]
id = "sales"
manager = "marie"

[[owners]]
id = "marie"
role = "manager"
emails = ["marie@acme.fr"]

[[owners]]
id = "alice"
team = "sales"
emails = ["alice@acme.fr"]
extensions = ["201"]

[[owners]]
id = "bob"
team = "sales"
emails = ["bob@acme.fr"]
extensions = ["202"]

[[owners]]
id = "chloe"
team = "sales"
emails = ["chloe@acme.fr"]
"""


# The company's owner only (not other contacts at its domain), else the triage queue.
ACCOUNT_OWNER_ONLY = OWNERS + """
[[rules]]
name = "account"
strategy = "account"
same_domain = false
[fallback]
queue = "triage"
"""


def routing_from(tmp_path: Path, rules: str | None, scoring: str | None = None) -> Routing:
    strategies = {k.name: k for k in BUILTIN}
    ruleset = score = None
    if rules is not None:
        path = tmp_path / "rules.toml"
        path.write_text(rules, encoding="utf-8")
        ruleset = load_rules(path, strategies)
    if scoring is not None:
        path = tmp_path / "scoring.toml"
        path.write_text(scoring, encoding="utf-8")
        score = load_scoring(path)
    return Routing(ruleset, score)


def add_contact(session: Session, *, email: str | None = None, company: str | None = None,
                domain: str | None = None, employees: int | None = None,
                owner: str | None = None, stage: str = "lead", now: datetime = T0,
                **fields: Any) -> int:
    company_id = None
    if company or domain:
        found = session.scalar(select(CompanyDomain.company_id).where(
            CompanyDomain.domain == domain)) if domain else None
        if found is None:
            row = Company(name=company, employees=employees, created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            if domain:
                session.add(CompanyDomain(company_id=row.id, domain=domain))
            found = row.id
        company_id = found
    contact = Contact(company_id=company_id, owner=owner, stage=stage, created_at=now,
                      updated_at=now, **fields)
    session.add(contact)
    session.flush()
    if email:
        session.add(ContactPoint(contact_id=contact.id, kind="email", value=email,
                                 is_primary=True))
    session.flush()
    return contact.id


def new_leads(engine: Engine, routing: Routing, leads: list[dict[str, Any]], *,
              now: datetime = T0, connector: ConnectorConfig = LEADS) -> list[dict[str, Any]]:
    """One batch: create the contacts and call after_batch in the same transaction."""
    with session_factory(engine).begin() as session:
        ids = [add_contact(session, now=now, **lead) for lead in leads]
        return routing.after_batch(session, connector=connector, new_contact_ids=ids,
                                   changed_contact_ids=[], now=now)


def owners_of(engine: Engine) -> dict[int, str | None]:
    with session_factory(engine)() as session:
        return {c: o for c, o in session.execute(
            select(Contact.id, Contact.owner).order_by(Contact.id))}


def current(engine: Engine, contact_id: int) -> Assignment:
    with session_factory(engine)() as session:
        found = session.scalars(select(Assignment).where(
            Assignment.contact_id == contact_id, Assignment.current)).one()
        session.expunge(found)
        return found
