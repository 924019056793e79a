"""Companies and interactions, a record at a time; an interaction's participants are
found among the contacts, or become people of their own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from hub.ingest.persons import PersonPass
from hub.ingest.prepare import Prepared, content_hash
from hub.ingest.quarantine import RecordRejected
from hub.match.companies import CompanyRef, CompanyResolver, rebuild_company
from hub.match.resolve import live_contact
from hub.normalize import (
    clean_company_name,
    clean_text,
    company_name_key,
    domain_from_website,
    normalize_country,
    normalize_email,
    normalize_phone,
)
from hub.records import ContactValue, Observation, PersonData
from hub.store.model import Interaction, InteractionContact, MatchKey, SharedPoint, SourceRecord

# Why an interaction's participant was not made a contact (the run's skips, by reason).
OWN_ADDRESS = "participant is one of us (own_domains, own_numbers)"
ROLE_ADDRESS = "participant is a role or no-reply address"
INVALID_ADDRESS = "participant has no valid address"
NO_CONTACTS = "connector creates no contacts from interactions"


class RecordPass(PersonPass):
    """Every other kind of record: companies, interactions, tombstones."""

    def _apply(self, observation: Observation, record: SourceRecord | None,
               digest: str) -> SourceRecord | None:
        if observation.deleted:
            if record is not None:
                self._tombstone(record)
            return record
        if observation.kind == "company":
            return self._company(observation, record, digest)
        return self._interaction(observation, record, digest)

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
        record = self._store(observation, record, digest, {
            "name": name, "domains": sorted(domains), "country": country,
            "website": clean_text(data.website), "industry": clean_text(data.industry),
            "employees": data.employees, "tags": data.tags, "custom": data.custom})
        record.company_id = company_id
        for changed in sorted({c for c in (previous, company_id) if c is not None}):
            rebuild_company(self.session, changed, self.now)  # from its records, never in place
        return record

    def _interaction(self, observation: Observation, record: SourceRecord | None,
                     digest: str) -> SourceRecord:
        data = observation.interaction
        assert data is not None
        participants = []
        links: set[tuple[int, str]] = set()
        for index, participant in enumerate(data.participants):
            entry = participant.model_dump(exclude_none=True)
            contact_id = self._participant(
                observation, index, participant.email, participant.phone, participant.name,
                no_contact=participant.no_contact or (
                    None if data.create_contacts else NO_CONTACTS))
            entry["own"] = contact_id == -1
            participants.append(entry)
            if contact_id is not None and contact_id > 0:
                links.add((contact_id, participant.role))
        row = self.session.scalars(select(Interaction).where(
            Interaction.connector == self.connector.name,
            Interaction.external_id == observation.external_id)).first()
        if row is None:
            row = Interaction(connector=self.connector.name,
                              external_id=observation.external_id)
        row.channel, row.direction, row.occurred_at = data.channel, data.direction, \
            data.occurred_at
        row.subject, row.summary = clean_text(data.subject), clean_text(data.summary)
        row.duration_s, row.status, row.thread_id = data.duration_s, data.status, data.thread_id
        row.participants = participants
        row.deleted_at = None
        self.session.add(row)
        self.session.flush()
        self.session.execute(delete(InteractionContact)
                             .where(InteractionContact.interaction_id == row.id))
        self.session.add_all(InteractionContact(interaction_id=row.id, contact_id=c, role=r)
                             for c, r in sorted(links))
        self.stats.interactions += 1
        return self._store(observation, record, digest, {"interaction_id": row.id})

    def _participant(self, observation: Observation, index: int, email: str | None,
                     phone: str | None, name: str | None, *,
                     no_contact: str | None = None) -> int | None:
        """The contact a participant is (-1: one of us; None: nobody identifiable, or
        nobody known when ``no_contact`` says why they must not become one). Each
        participant who is not made a contact is counted in the skips by reason."""
        keys: list[tuple[str, str]] = []
        values: dict[str, list[ContactValue]] = {"emails": [], "phones": []}
        if email:
            result = normalize_email(email)
            if result is not None and result.valid:
                if result.domain in self.p.policy.own_domains:
                    self.stats.skip(OWN_ADDRESS)
                    return -1
                if not result.is_role:
                    keys.append(("email", result.key))
                values["emails"].append(ContactValue(value=email))
            elif not phone:
                self.stats.skip(INVALID_ADDRESS)
                return None
        if phone:
            parsed = normalize_phone(phone, self.connector.default_region
                                     or self.p.policy.default_region)
            if parsed is not None and parsed.e164:
                if parsed.e164 in self.p.policy.own_numbers:
                    self.stats.skip(OWN_ADDRESS)
                    return -1
                shared = self.session.scalar(select(SharedPoint.id).where(
                    SharedPoint.kind == "phone", SharedPoint.value == parsed.e164))
                if shared is None:
                    keys.append(("phone", parsed.e164))
                values["phones"].append(ContactValue(value=phone))
        if not keys:
            if values["emails"]:
                self.stats.skip(ROLE_ADDRESS)
            return None
        self.session.flush()
        found = self.session.scalar(select(MatchKey.contact_id).where(
            MatchKey.kind == keys[0][0], MatchKey.key == keys[0][1])
            .order_by(MatchKey.source_record_id))
        if found is not None:
            return live_contact(self.session, found)
        if no_contact is not None:
            self.stats.unlinked += 1
            self.stats.skip(no_contact)
            return None
        # Someone we have never seen: their own record, stable across re-syncs.
        person = PersonData(full_name=name, emails=values["emails"], phones=values["phones"])
        synthetic = Observation(kind="person", external_id=f"participant:{keys[0][0]}:"
                                f"{keys[0][1]}", observed_at=observation.observed_at,
                                person=person)
        existing = self._existing([synthetic.external_id]).get(synthetic.external_id)
        prepared = self._prepare(Prepared(synthetic, content_hash(synthetic, self.salt)),
                                 existing)
        if prepared is None:
            return None
        outcome = self._store_persons([prepared])
        self.touched |= outcome.touched
        self.new_contacts |= outcome.new_contacts
        self.stats.contacts_created += outcome.contacts_created
        stored = self._existing([synthetic.external_id]).get(synthetic.external_id)
        if stored is None:
            return None
        # Someone the source's interactions name, not a record of its snapshot: a file
        # re-read (a new snapshot) must not delete them for not being one of its rows.
        stored.scope = stored.seen_token = None
        return stored.contact_id
