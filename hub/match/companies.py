"""Companies a batch names, found or created in bulk: by domain, then by name + country.

A name known in another country only makes a new company and a review candidate
(:mod:`hub.match.company`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from hub.match.company import live_company, propose
from hub.store.model import Company, CompanyDomain

CHUNK = 500


@dataclass(frozen=True)
class CompanyRef:
    name: str | None
    name_key: str | None
    domains: tuple[str, ...]
    country: str | None
    website: str | None = None


class CompanyResolver:
    """Resolves the company refs of a batch with a few queries, in input order."""

    def __init__(self, session: Session, now: datetime):
        self.session = session
        self.now = now

    def resolve(self, refs: Sequence[CompanyRef | None]) -> list[int | None]:
        session = self.session
        domains = sorted({d for r in refs if r for d in r.domains})
        keys = sorted({r.name_key for r in refs if r and r.name_key})
        by_domain: dict[str, int] = {}
        for start in range(0, len(domains), CHUNK):
            rows = session.execute(select(CompanyDomain.domain, CompanyDomain.company_id)
                                   .where(CompanyDomain.domain.in_(domains[start:start + CHUNK])))
            by_domain.update((domain, company_id) for domain, company_id in rows)
        # Merged companies count with the country they had: a user who merged Acme DE
        # into Acme FR said an Acme in DE is that company.
        by_name: dict[str, list[tuple[int, str | None]]] = {}
        for start in range(0, len(keys), CHUNK):
            for company_id, key, country, merged_into in session.execute(
                    select(Company.id, Company.name_key, Company.country,
                           Company.merged_into_id)
                    .where(Company.name_key.in_(keys[start:start + CHUNK]))
                    .order_by(Company.merged_into_id.is_not(None), Company.id)):
                live = company_id if merged_into is None else live_company(session, company_id)
                by_name.setdefault(str(key), []).append((live, country))
        planned: list[CompanyRef] = []  # new companies, id -(n+1)
        fill: dict[int, CompanyRef] = {}
        out: list[int | None] = []
        new_domains: dict[str, int] = {}
        unsure: list[tuple[int, int, str]] = []  # (namesake, new company, why)
        for ref in refs:
            if ref is None or not (ref.name_key or ref.domains):
                out.append(None)
                continue
            cid = next((by_domain[d] for d in ref.domains if d in by_domain), None)
            namesake = None
            if cid is None and ref.name_key:
                named = by_name.get(ref.name_key, [])
                cid = next((c for c, country in named
                            if ref.country is None or country in (None, ref.country)), None)
                namesake = named[0] if cid is None and named else None
            if cid is None:
                planned.append(ref)
                cid = -len(planned)
                if ref.name_key:
                    by_name.setdefault(ref.name_key, []).append((cid, ref.country))
                if namesake is not None:
                    unsure.append((namesake[0], cid, f"same name as company in "
                                   f"{namesake[1]}, but in {ref.country}"))
            elif cid > 0:
                fill.setdefault(cid, ref)
            for domain in ref.domains:
                if domain not in by_domain:
                    by_domain[domain] = cid
                    new_domains[domain] = cid
            out.append(cid)
        ids: list[int] = []
        if planned:
            ids = list(session.scalars(
                insert(Company).returning(Company.id, sort_by_parameter_order=True),
                [{"name": r.name, "name_key": r.name_key, "country": r.country,
                  "website": r.website, "address": {}, "phones": [], "tags": [], "custom": {},
                  "provenance": {}, "created_at": self.now, "updated_at": self.now}
                 for r in planned]))

        def real(cid: int) -> int:
            return cid if cid > 0 else ids[-cid - 1]

        if new_domains:
            session.execute(insert(CompanyDomain), [
                {"company_id": real(cid), "domain": domain}
                for domain, cid in sorted(new_domains.items())])
        self._fill(fill)
        for existing, new, why in unsure:
            propose(session, real(existing), real(new), why, self.now)
        return [real(cid) if cid is not None else None for cid in out]

    def _fill(self, refs: dict[int, CompanyRef]) -> None:
        """Existing companies learn a name, country or website they did not have."""
        if not refs:
            return
        for start in range(0, len(refs), CHUNK):
            chunk = sorted(refs)[start:start + CHUNK]
            for company in self.session.scalars(select(Company).where(Company.id.in_(chunk))):
                ref = refs[company.id]
                changed = False
                for attr in ("name", "name_key", "country", "website"):
                    value = getattr(ref, attr)
                    if value and not getattr(company, attr):
                        setattr(company, attr, value)
                        changed = True
                if changed:
                    company.updated_at = self.now
