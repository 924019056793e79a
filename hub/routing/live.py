"""The live decision context: the database answers, and every answer is recorded.

Routing inside one batch serialises with every other routing transaction: on PostgreSQL a
transaction-level advisory lock is taken before any load or pointer is read, so two
workers never read the same round-robin pointer or the same open-lead count (the pointer
row is also read ``FOR UPDATE``). SQLite has one writer at a time already. Loads and
counts are read once per batch and kept up to date in memory as leads are assigned.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.routing.model import Assignment, RoundRobinState
from hub.routing.rules import OwnerInfo, RuleSet
from hub.routing.strategies import Lead
from hub.store.model import CompanyDomain, Contact

ROUTING_LOCK = 0x63726D68_0005  # "crmh" + 5: one advisory lock key for all routing


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    return {**value, "weights": dict(value.get("weights") or {})}


def lock_routing(session: Session) -> None:
    """Serialise routing transactions (PostgreSQL); a no-op on SQLite's single writer."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(ROUTING_LOCK)))


class LiveContext:
    """Answers strategies' and the engine's questions from the database."""

    def __init__(self, session: Session, ruleset: RuleSet, now: datetime):
        self.session = session
        self.ruleset = ruleset
        self.now = now
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self._pointers: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._open: dict[str, int] | None = None
        self._periods: dict[str, list[int]] | None = None
        self._accounts: dict[int, Counter[str]] | None = None
        self._company_of: dict[int, int | None] = {}
        self._domain_company: dict[str, int] = {}
        self.inputs: dict[str, Any] = {}

    # -- per decision --------------------------------------------------------------------

    def begin(self, lead: Lead) -> None:
        facts = {k: v for k, v in lead.facts.items() if v is not None and v != "" and v != []}
        self.inputs = {"now": self.now.isoformat(), "facts": facts, "pointers": {},
                       "pointers_after": {}, "open": {}, "day": {}, "month": {}}

    def assigned(self, owner: str | None, company_id: int | None = None) -> None:
        """Keep in-memory loads and counts right after ``owner`` got a lead."""
        if owner is None:
            return
        if self._accounts is not None and company_id is not None:
            colleagues = self._accounts.get(company_id)
            if colleagues is None:
                colleagues = self._accounts[company_id] = Counter()
            colleagues[owner] += 1
        if self._open is not None:
            self._open[owner] = self._open.get(owner, 0) + 1
        if self._periods is not None:
            counts = self._periods.setdefault(owner, [0, 0])
            counts[0] += 1
            counts[1] += 1

    def released(self, owner: str | None, company_id: int | None = None) -> None:
        """``owner`` lost an open lead (re-routed away from them)."""
        if owner is None:
            return
        if self._open is not None and self._open.get(owner):
            self._open[owner] -= 1
        if self._accounts is not None and company_id is not None and \
                self._accounts.get(company_id, Counter())[owner] > 0:
            self._accounts[company_id][owner] -= 1

    def prefetch_accounts(self, facts: Mapping[int, Mapping[str, Any]]) -> None:
        """Owners of contacts at the companies (and e-mail domains) of these leads, in two
        queries for the whole batch, for the ``account`` strategy."""
        self._company_of = {c: f.get("_company_id") for c, f in facts.items()}
        domains = sorted({str(f["contact.email_domain"]) for f in facts.values()
                          if f.get("contact.email_domain")})
        self._domain_company = {}
        for start in range(0, len(domains), 500):
            self._domain_company.update({d: c for d, c in self.session.execute(
                select(CompanyDomain.domain, CompanyDomain.company_id).where(
                    CompanyDomain.domain.in_(domains[start:start + 500])))})
        companies = sorted({c for c in self._company_of.values() if c is not None}
                           | set(self._domain_company.values()))
        self._accounts = {}
        for start in range(0, len(companies), 500):
            for company_id, owner, count in self.session.execute(
                    select(Contact.company_id, Contact.owner, func.count()).where(
                        Contact.company_id.in_(companies[start:start + 500]),
                        Contact.owner.is_not(None), Contact.merged_into_id.is_(None),
                        Contact.deleted_at.is_(None))
                    .group_by(Contact.company_id, Contact.owner)):
                if company_id is not None and owner is not None:
                    self._accounts.setdefault(company_id, Counter())[owner] = count

    # -- the Context protocol ------------------------------------------------------------

    def pool(self, team: str | None, owners: list[str]) -> list[str]:
        members = list(self.ruleset.members.get(team, [])) if team else []
        return list(dict.fromkeys([*members, *owners]))

    def pointer(self, key: str) -> dict[str, Any]:
        if key not in self._pointers:
            self._pointers[key] = self._read_pointer(key)
        value = self._pointers[key]
        recorded = self.inputs["pointers"]
        if key not in recorded:
            recorded[key] = _copy(value)
        return value

    def warm(self, keys: list[str]) -> None:
        """Everything a batch of decisions reads, in a few queries up front: the pointers
        and, when any owner has a capacity or a cap, loads and counts."""
        self.preload(keys)
        specs = [info.spec for info in self.ruleset.owners.values()]
        if self._open is None and any(s.capacity is not None for s in specs):
            self.inputs = {"open": {}}
            self.open_leads("")
        if self._periods is None and any(s.daily_cap is not None or s.monthly_cap is not None
                                         for s in specs):
            self._periods = self._load_periods()

    def preload(self, keys: list[str]) -> None:
        """Read (and on PostgreSQL lock) these pointers in one query per 500 keys."""
        wanted = sorted(set(keys) - set(self._pointers))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            if self.postgres:  # rows exist before they are locked: no insert race later
                self.session.execute(pg_insert(RoundRobinState).values([
                    {"key": k, "position": 0, "weights": {}, "assigned": 0,
                     "updated_at": self.now} for k in chunk])
                    .on_conflict_do_nothing(index_elements=["key"]))
            query = select(RoundRobinState.key, RoundRobinState.position,
                           RoundRobinState.last_owner, RoundRobinState.weights,
                           RoundRobinState.assigned).where(RoundRobinState.key.in_(chunk))
            if self.postgres:
                query = query.with_for_update()
            found = {row.key: row for row in self.session.execute(query)}
            for key in chunk:
                row = found.get(key)
                self._pointers[key] = {"position": 0, "last_owner": None, "weights": {},
                                       "assigned": 0} if row is None else {
                    "position": row.position, "last_owner": row.last_owner,
                    "weights": dict(row.weights or {}), "assigned": row.assigned}

    def _read_pointer(self, key: str) -> dict[str, Any]:
        if self.postgres:
            self.session.execute(pg_insert(RoundRobinState).values(
                key=key, position=0, weights={}, assigned=0, updated_at=self.now)
                .on_conflict_do_nothing(index_elements=["key"]))
            query = select(RoundRobinState).where(RoundRobinState.key == key).with_for_update()
        else:
            query = select(RoundRobinState).where(RoundRobinState.key == key)
        row = self.session.scalars(query).first()
        if row is None:
            return {"position": 0, "last_owner": None, "weights": {}, "assigned": 0}
        return {"position": row.position, "last_owner": row.last_owner,
                "weights": dict(row.weights or {}), "assigned": row.assigned}

    def set_pointer(self, key: str, value: dict[str, Any]) -> None:
        value = dict(value)
        value["assigned"] = int(value.get("assigned", 0)) + 1
        self._pointers[key] = value
        self._dirty.add(key)
        self.inputs["pointers_after"][key] = _copy(value)

    def flush(self) -> None:
        """Write the pointers that moved (the rows are ours: locked or SQLite's writer)."""
        if not self._dirty:
            return
        rows = [{"key": key, "position": int(value.get("position", 0)),
                 "last_owner": value.get("last_owner"), "weights": value.get("weights") or {},
                 "assigned": value["assigned"], "updated_at": self.now}
                for key in sorted(self._dirty) for value in [self._pointers[key]]]
        build = pg_insert if self.postgres else sqlite_insert
        statement = build(RoundRobinState)
        self.session.execute(statement.on_conflict_do_update(
            index_elements=["key"], set_={c: statement.excluded[c] for c in rows[0]
                                          if c != "key"}), rows)
        self._dirty.clear()

    def open_leads(self, owner: str) -> int:
        if self._open is None:
            stages = self.ruleset.settings.open_stages
            self._open = {o: n for o, n in self.session.execute(
                select(Contact.owner, func.count()).where(
                    Contact.owner.is_not(None), Contact.stage.in_(stages),
                    Contact.merged_into_id.is_(None), Contact.deleted_at.is_(None))
                .group_by(Contact.owner)) if o is not None}
        value = self._open.get(owner, 0)
        self.inputs["open"][owner] = value
        return value

    def period_counts(self, owner: OwnerInfo) -> tuple[int, int]:
        if self._periods is None:
            self._periods = self._load_periods()
        day, month = self._periods.get(owner.id, [0, 0])
        self.inputs["day"][owner.id] = day
        self.inputs["month"][owner.id] = month
        return day, month

    def _load_periods(self) -> dict[str, list[int]]:
        """Leads received today and this month, per owner, each in their own time zone."""
        by_zone: dict[str, list[OwnerInfo]] = defaultdict(list)
        for info in self.ruleset.owners.values():
            by_zone[info.calendar.tz.key].append(info)
        counts: dict[str, list[int]] = {}
        for infos in by_zone.values():
            calendar = infos[0].calendar
            day_start = calendar.day_start(self.now)
            month_start = min(calendar.month_start(self.now), day_start)
            ids = [i.id for i in infos]
            for owner, today, month in self.session.execute(
                    select(Assignment.owner,
                           func.sum(case((Assignment.at >= day_start, 1), else_=0)),
                           func.count())
                    .where(Assignment.owner.in_(ids), Assignment.at >= month_start)
                    .group_by(Assignment.owner)):
                counts[owner] = [int(today or 0), int(month or 0)]
        return counts

    def account_owners(self, lead: Lead) -> list[str]:
        facts = lead.facts
        found: list[str] = []
        company_owner = facts.get("company.owner")
        if company_owner:
            found.append(str(company_owner))
        if self._accounts is not None and lead.contact_id in self._company_of:
            counts: Counter[str] = Counter()
            domain = facts.get("contact.email_domain")
            for company_id in {self._company_of[lead.contact_id],
                               self._domain_company.get(str(domain)) if domain else None}:
                if company_id is not None:
                    counts.update(self._accounts.get(company_id, Counter()))
            mine = facts.get("owner")
            if mine and self._company_of[lead.contact_id] is not None:
                counts[str(mine)] -= 1  # the lead itself is not a colleague
            found += [o for o, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
                      if n > 0]
            owners = list(dict.fromkeys(found))
            self.inputs["account"] = owners
            return owners
        found += colleague_owners(self.session, lead)
        owners = list(dict.fromkeys(found))
        self.inputs["account"] = owners
        return owners

    def owner_weight(self, owner: str) -> float:
        info = self.ruleset.owners.get(owner)
        return info.spec.weight if info is not None else 1.0

    def owner_capacity(self, owner: str) -> int | None:
        info = self.ruleset.owners.get(owner)
        return info.spec.capacity if info is not None else None


def colleague_owners(session: Session, lead: Lead) -> list[str]:
    """The owners of the lead's colleagues, most colleagues first (then by name): contacts
    of the lead's company or of the company its e-mail domain belongs to, the lead aside.
    The ``account`` strategy's query, live and in a replay."""
    company_ids: set[int] = set()
    contact = session.get(Contact, lead.contact_id)
    if contact is not None and contact.company_id:
        company_ids.add(contact.company_id)
    domain = lead.facts.get("contact.email_domain")
    if domain:
        company_ids.update(session.scalars(select(CompanyDomain.company_id).where(
            CompanyDomain.domain == domain)))
    if not company_ids:
        return []
    rows = session.execute(
        select(Contact.owner, func.count().label("n")).where(
            Contact.company_id.in_(sorted(company_ids)), Contact.owner.is_not(None),
            Contact.id != lead.contact_id, Contact.merged_into_id.is_(None),
            Contact.deleted_at.is_(None))
        .group_by(Contact.owner).order_by(func.count().desc(), Contact.owner))
    return [owner for owner, _ in rows if owner is not None]
