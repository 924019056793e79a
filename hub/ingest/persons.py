"""Persons, in bulk: resolved against the store, stored with their match keys and points,
new contacts written from memory; splits and unsure pairs recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from hub.ingest.prepare import Prepared
from hub.ingest.quarantine import RecordRejected
from hub.ingest.snapshots import Tombstones
from hub.match.blocking import stored_keys
from hub.match.canonical import CanonicalPerson
from hub.match.companies import (
    PEOPLE_FIELDS,
    CompanyRef,
    CompanyResolver,
    PersonRef,
    rebuild_company,
    refresh_people_values,
)
from hub.match.engine import Resolution, pair
from hub.match.golden import Source, golden_values, policy_of
from hub.match.resolve import Item, mark_shared, merge_contacts
from hub.match.survivorship import SourceView
from hub.privacy import consent
from hub.privacy.consent import point_of
from hub.privacy.suppression import SUPPRESSED
from hub.records import Observation
from hub.store.bulk import insert_rows, insert_with_ids
from hub.store.db import chunks, database_unavailable
from hub.store.model import (
    Contact,
    ContactPoint,
    MatchCandidate,
    MatchKey,
    MergeEvent,
    SourceRecord,
    table_of,
)


@dataclass
class Person:
    """A person record ready to resolve: normalised once, here."""

    item: Prepared  # its header, digest and canonical form; the observation is not parsed
    record: SourceRecord | None
    digest: str
    canon: CanonicalPerson


@dataclass
class Outcome:
    """What a successful person pass changed, applied to the batch only once it held."""

    touched: set[int] = field(default_factory=set)
    new_contacts: set[int] = field(default_factory=set)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    contacts_created: int = 0
    merged: int = 0


class PersonPass(Tombstones):
    """The person records of a batch."""

    def _prepare(self, item: Prepared, record: SourceRecord | None) -> Person | None:
        """A live person record ready to resolve; ``None`` when it is not one."""
        if item.kind != "person" or item.deleted:
            return None
        self.p.preparer.normalise(self.connector, item)
        if item.error is not None:
            raise RecordRejected(item.error)
        canon = item.canon
        assert canon is not None
        if canon.own:
            self.stats.skipped_own += 1
            if record is not None and record.deleted_at is None:
                self._tombstone(record)
            return None
        suppressor = self.p.suppressor
        if suppressor.active and suppressor.any_hit((k.kind, k.key) for k in canon.keys):
            self.stats.skip(SUPPRESSED)  # a forgotten person: nothing of it is stored
            if record is not None and record.deleted_at is None:
                self._tombstone(record)
            return None
        self._preferences(item.observation)
        if not canon.identifiable:
            raise RecordRejected("carries nothing that identifies a person "
                                 "(no name, e-mail, phone, handle or identifier)")
        return Person(item, record, item.digest, canon)

    def _preferences(self, observation: Observation) -> None:
        """Opt-out and consent the source states on the record's e-mails and phones,
        kept per point with the source and the time."""
        person = observation.person
        if person is None:
            return
        region = self.connector.default_region or self.p.policy.default_region
        for kind, values in (("email", person.emails), ("phone", person.phones)):
            for value in values:
                if value.opt_out is None and value.consent is None:
                    continue
                point = point_of(kind, value.value, region)
                if point is None:
                    continue
                if value.opt_out or value.consent is False:
                    consent.record(self.session, point, consent.OPT_OUT,
                                   self.connector.name, observation.observed_at)
                elif value.consent:
                    consent.record(self.session, point, consent.CONSENT,
                                   self.connector.name, observation.observed_at)
                else:  # no longer opted out, as far as this source knows
                    consent.withdraw(self.session, point, self.connector.name)

    def _persons(self, persons: list[Person]) -> None:
        """Resolve and store persons in bulk; a failure is narrowed down by halving until
        the one record that causes it is quarantined and the rest are stored. A failure of
        the database itself ends the batch (it is no record's fault)."""
        if not persons:
            return
        try:
            with self.session.begin_nested():
                outcome = self._store_persons(persons)
        except Exception as exc:
            if database_unavailable(exc):
                raise
            if len(persons) == 1:
                self._reject(persons[0].item.observation, exc)
                return
            middle = len(persons) // 2
            self._persons(persons[:middle])
            self._persons(persons[middle:])
            return
        self.touched |= outcome.touched
        self.new_contacts |= outcome.new_contacts
        self.events.extend(outcome.events)
        self.stats.created += outcome.created
        self.stats.updated += outcome.updated
        self.stats.contacts_created += outcome.contacts_created
        self.stats.merged += outcome.merged

    def _store_persons(self, persons: list[Person]) -> Outcome:
        """Resolve the batch's persons, then write in bulk: new contacts, merges, the
        records, their match keys and the new contacts' points."""
        session, out = self.session, Outcome()
        resolution = self.p.resolver.resolve(session, [
            Item(p.canon, p.record.contact_id if p.record is not None else None,
                 p.record.id if p.record is not None else None)
            for p in persons])
        refs = [company_ref(p.canon, self.connector.name, p.item.external_id,
                            p.item.observed_at) for p in persons]
        left = [(p.record.company_id, self.connector.name, p.item.external_id)
                for p in persons if p.record is not None and p.record.company_id is not None]
        company_resolver = CompanyResolver(session, self.now)
        companies = company_resolver.resolve(refs)
        rebuild = refresh_people_values(session, [
            (company_id, ref.person) for company_id, ref in zip(companies, refs, strict=True)
            if company_id is not None and company_id not in company_resolver.created
            and ref is not None and ref.person is not None], left, self.now)
        born = self._born(persons, resolution, companies)
        new_ids, new_points = self._create_contacts(resolution, born, out)

        def real(node: int) -> int:
            return node if node > 0 else new_ids[-node - 1]

        self._merge(resolution, out)
        if resolution.capped:
            mark_shared(session, [(c.kind, c.key, c.reason) for c in resolution.capped],
                        self.now)
        # New contacts holding stored records are rebuilt from the store.
        holding = {n for p, n in zip(persons, resolution.contact_of, strict=True)
                   if p.record is not None and n < 0}
        out.touched.update(real(node) for node in born if node in holding)
        ids, record_of = self._write_records(persons, resolution, companies, real, out)
        for company_id in sorted(rebuild):  # a value's record left, or an old company
            rebuild_company(session, company_id, self.now)
        self._write_keys(persons, resolution, record_of, real)
        for point in new_points:  # positions and provisional contacts become real ids
            point["contact_id"] = real(point["contact_id"])
            if point["source_record_id"] is not None:
                point["source_record_id"] = ids[point["source_record_id"] - 1]
        insert_rows(session, table_of(ContactPoint), new_points)
        self._splits(resolution, persons, record_of, real, out)
        self._reviews(resolution, record_of, real)
        return out

    def _born(self, persons: list[Person], resolution: Resolution,
              companies: list[int | None]) -> dict[int, list[Source]]:
        """The sources of each contact this pass creates (a negative node).

        Their only sources are this pass's records, so their golden records come from
        memory, with the records' future ids standing in as their positions among the new
        records (ids are handed out in that order).
        """
        born: dict[int, list[Source]] = {}
        position = 0
        for person, node, company_id in zip(persons, resolution.contact_of, companies,
                                            strict=True):
            if person.record is None:
                position += 1
                if node < 0:
                    view = SourceView(position, self.connector.name,
                                      person.item.external_id,
                                      person.item.observed_at, person.canon.data)
                    born.setdefault(node, []).append((view, company_id))
            elif node < 0:  # a stored record split off into a new contact
                born.setdefault(node, [])
        return born

    def _create_contacts(self, resolution: Resolution, born: dict[int, list[Source]],
                         out: Outcome) -> tuple[list[int], list[dict[str, Any]]]:
        """Insert the new contacts with their golden records; their ids, in node order,
        and their points (still naming positions and provisional nodes)."""
        if not resolution.new_contacts:
            return [], []
        rows, points = [], []
        for n in range(1, resolution.new_contacts + 1):
            values, contact_points = golden_values(-n, born.get(-n, []),
                                                   policy_of(self.session))
            rows.append({"stage": "lead", "score": 0.0, "created_at": self.now,
                         "updated_at": self.now, **values})
            points.extend(contact_points)
        new_ids = insert_with_ids(self.session, table_of(Contact), rows)
        out.new_contacts.update(new_ids)
        out.contacts_created = len(new_ids)
        return new_ids, points

    def _merge(self, resolution: Resolution, out: Outcome) -> None:
        for merge in resolution.merges:
            event = merge_contacts(self.session, merge.survivor, merge.merged,
                                   reason=merge.reason, decided_by=merge.decided_by,
                                   score=merge.score, comparison=merge.comparison,
                                   now=self.now)
            out.merged += 1
            out.touched.add(merge.survivor)
            out.events.append(("contact.merged", {
                "survivor_id": merge.survivor, "merged_id": merge.merged,
                "merge_id": event.id, "score": round(merge.score, 6),
                "reason": merge.reason, "connector": self.connector.name}))

    def _write_records(self, persons: list[Person], resolution: Resolution,
                       companies: list[int | None], real: Callable[[int], int],
                       out: Outcome) -> tuple[list[int], list[int]]:
        """Insert the new records and update the stored ones (their old keys go); the new
        records' ids and every person's record id, in batch order."""
        session = self.session
        fresh: list[dict[str, Any]] = []
        changed: list[SourceRecord] = []
        packed = [p.pack() for p in resolution.profiles] if \
            len(resolution.profiles) == len(persons) else [None] * len(persons)
        scores = resolution.scores if len(resolution.scores) == len(persons) else \
            [None] * len(persons)
        for person, node, company_id, stored, scored in zip(
                persons, resolution.contact_of, companies, packed, scores, strict=True):
            contact_id = real(node)
            if node > 0:  # new contacts get their golden record from memory
                out.touched.add(contact_id)
            values = self._record_values(person, contact_id, company_id)
            values["match_profile"] = stored
            # The score that placed the record with others (`crmhub contacts explain`).
            values["joined"] = scored.as_dict() if scored is not None else None
            if person.record is None:
                fresh.append({"connector": self.connector.name,
                              "external_id": person.item.external_id,
                              "kind": "person", "first_seen": self.now, **values})
            else:
                if person.record.contact_id is not None:
                    out.touched.add(person.record.contact_id)
                for attr, value in values.items():
                    setattr(person.record, attr, value)
                changed.append(person.record)
        session.flush()
        ids: list[int] = []
        if fresh:
            ids = insert_with_ids(session, table_of(SourceRecord), fresh)
        out.created, out.updated = len(fresh), len(changed)
        for chunk in chunks([r.id for r in changed]):
            session.execute(delete(MatchKey).where(MatchKey.source_record_id.in_(chunk)))
        fresh_ids = iter(ids)
        record_of = [p.record.id if p.record is not None else next(fresh_ids) for p in persons]
        for person, record_id, profile in zip(persons, record_of, resolution.profiles,
                                              strict=False):
            self.p.resolver.remember(record_id, person.digest, profile)
        return ids, record_of

    def _write_keys(self, persons: list[Person], resolution: Resolution,
                    record_of: list[int], real: Callable[[int], int]) -> None:
        keys: list[dict[str, Any]] = []
        for person, node, record_id in zip(persons, resolution.contact_of, record_of,
                                           strict=True):
            keys.extend({"contact_id": real(node), "source_record_id": record_id,
                         "kind": kind, "key": key, "given": given}
                        for kind, key, given in stored_keys(
                            ((k.kind, k.key) for k in person.canon.keys), person.canon.data))
        insert_rows(self.session, table_of(MatchKey), keys)

    def _splits(self, resolution: Resolution, persons: list[Person], record_of: list[int],
                real: Callable[[int], int], out: Outcome) -> None:
        for split in resolution.splits:
            new_id = real(resolution.contact_of[split.item])
            event = MergeEvent(entity="contact", action="split", survivor_id=split.old_contact,
                               merged_id=new_id, score=0.0, comparison=split.comparison,
                               decided_by="auto", reason=split.reason, created_at=self.now,
                               snapshot={"source_records": [record_of[split.item]]})
            self.session.add(event)
            out.touched.update((split.old_contact, new_id))
            out.events.append(("contact.split", {
                "contact_id": split.old_contact, "new_contact_id": new_id,
                "source_record_id": record_of[split.item], "reason": split.reason,
                "connector": self.connector.name}))
        if resolution.splits:
            self.session.flush()

    def _reviews(self, resolution: Resolution, record_of: list[int],
                 real: Callable[[int], int]) -> None:
        """Unsure pairs go to the review queue, once per pair of source records."""
        rows: dict[tuple[int, int], dict[str, Any]] = {}
        for review in resolution.reviews:
            mine = record_of[review.item]
            other = review.other_record if review.other_record > 0 \
                else record_of[-review.other_record - 1]
            left, right = pair(mine, other)
            here, there = real(resolution.contact_of[review.item]), real(review.other_node)
            if here == there:
                continue
            rows.setdefault((left, right), {
                "entity": "contact", "left_record_id": left, "right_record_id": right,
                "left_id": here if left == mine else there,
                "right_id": there if left == mine else here,
                "score": review.scored.probability, "weight": review.scored.weight,
                "comparison": review.scored.as_dict(), "status": "open",
                "created_at": self.now})
        if not rows:
            return
        known: set[tuple[int, int]] = set()
        for chunk in chunks(sorted({left for left, _ in rows})):
            known.update((a, b) for a, b in self.session.execute(
                select(MatchCandidate.left_record_id, MatchCandidate.right_record_id)
                .where(MatchCandidate.entity == "contact",
                       MatchCandidate.left_record_id.in_(chunk))))
        fresh = [row for key, row in sorted(rows.items()) if key not in known]
        if fresh:
            self.session.execute(insert(table_of(MatchCandidate)), fresh)

    def _record_values(self, person: Person, contact_id: int,
                       company_id: int | None) -> dict[str, Any]:
        item = person.item
        return {"kind": "person", "content_hash": person.digest,
                "raw": item.raw or None, "data": person.canon.data,
                "observed_at": item.observed_at, "last_seen": self.now,
                "deleted_at": None, "scope": self.batch.scope, "seen_token": self.batch.token,
                "contact_id": contact_id, "company_id": company_id}


def company_ref(canon: CanonicalPerson, connector: str, external_id: str,
                observed_at: datetime) -> CompanyRef | None:
    company = canon.data.get("company")
    if not company:
        return None
    domains = (company["domain"],) if company.get("domain") else ()
    return CompanyRef(company.get("name"), company.get("name_key"), domains,
                      canon.data.get("country"), company.get("website"),
                      PersonRef(connector, external_id, observed_at,
                                {k: company[k] for k in PEOPLE_FIELDS if company.get(k)}))
