"""Companies and tombstones, a record at a time (interactions go in bulk, in
:mod:`hub.ingest.interactions`)."""

from __future__ import annotations

from typing import Any

from hub.ingest.interactions import InteractionPass
from hub.ingest.quarantine import RecordRejected
from hub.match.canonical import company_facts
from hub.match.companies import CompanyRef, CompanyResolver, rebuild_company
from hub.normalize import (
    clean_company_name,
    clean_text,
    company_name_key,
    domain_from_website,
    is_not_employer,
    normalize_country,
)
from hub.records import Observation
from hub.store.model import SourceRecord


class RecordPass(InteractionPass):
    """Every other kind of record: companies and tombstones, one at a time."""

    def _apply(self, observation: Observation, record: SourceRecord | None,
               digest: str) -> SourceRecord | None:
        if observation.deleted:
            if record is not None:
                self._tombstone(record)
            return record
        assert observation.kind == "company"  # interactions go in bulk (InteractionPass)
        return self._company(observation, record, digest)

    def _store(self, observation: Observation, record: SourceRecord | None, digest: str,
               data: dict[str, Any]) -> SourceRecord:
        if record is None:
            record = SourceRecord(connector=self.connector.name,
                                  external_id=observation.external_id, kind=observation.kind,
                                  first_seen=self.now)
            self.session.add(record)
            self.stats.created += 1
        else:
            self.stats.updated += 1
        record.kind = observation.kind
        record.content_hash = digest
        record.raw = observation.raw or None
        record.data = data
        record.observed_at = observation.observed_at
        record.last_seen = self.now
        record.deleted_at = None
        record.scope = self.batch.scope
        record.seen_token = self.batch.token
        return record

    def _company(self, observation: Observation, record: SourceRecord | None,
                 digest: str) -> SourceRecord:
        data = observation.company
        assert data is not None
        name = clean_company_name(data.name)
        if is_not_employer(name):
            name = None
        domains = {d.strip().lower().removeprefix("www.") for d in data.domains if d.strip()}
        website_domain = domain_from_website(data.website)
        if website_domain:
            domains.add(website_domain)
        country = normalize_country(data.address.country) if data.address else None
        if not name and not domains:
            raise RecordRejected("a company needs a name, a domain or a website")
        [company_id] = CompanyResolver(self.session, self.now).resolve([CompanyRef(
            name, company_name_key(name) or None, tuple(sorted(domains)), country,
            clean_text(data.website))])
        previous = record.company_id if record is not None else None
        flags: list[str] = []
        facts = company_facts(data.industry, data.employees, data.revenue, flags)
        record = self._store(observation, record, digest, {
            "name": name, "domains": sorted(domains), "country": country,
            "website": clean_text(data.website), "industry": facts.get("industry"),
            "employees": facts.get("employees"), "revenue": facts.get("revenue"),
            "tags": data.tags, "custom": data.custom, **({"flags": flags} if flags else {})})
        record.company_id = company_id
        for changed in sorted({c for c in (previous, company_id) if c is not None}):
            rebuild_company(self.session, changed, self.now)  # from its records, never in place
        return record
