"""Interactions, in bulk: their participants found among the contacts with one lookup per
batch, the unknown ones created together as people of their own, the rows written with
one statement per table.

A mail connector brings thousands of messages a run, each naming two to five people;
looked up and written one at a time, they cost a dozen statements each. Here a batch of
interactions costs a handful, whatever its size. A failure is narrowed down by halving
until the one interaction that causes it is quarantined and the rest are stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update

from hub.ingest.persons import Outcome, PersonPass
from hub.ingest.prepare import Prepared, content_hash
from hub.ingest.state import IngestStats
from hub.match.resolve import live_contacts
from hub.normalize import clean_text, normalize_email, normalize_phone
from hub.privacy.suppression import SUPPRESSED
from hub.records import ContactValue, Observation, Participant, PersonData
from hub.store.bulk import insert_rows, insert_with_ids
from hub.store.db import among, chunks, database_unavailable
from hub.store.model import (
    Interaction,
    InteractionContact,
    MatchKey,
    SharedPoint,
    SourceRecord,
    table_of,
)

# Why an interaction's participant was not made a contact (the run's skips, by reason).
OWN_ADDRESS = "participant is one of us (own_domains, own_numbers)"
ROLE_ADDRESS = "participant is a role or no-reply address"
INVALID_ADDRESS = "participant has no valid address"
NO_CONTACTS = "connector creates no contacts from interactions"

Key = tuple[str, str]  # ("email", match key) or ("phone", E.164)
Entry = tuple[Observation, SourceRecord | None, str]  # an interaction, its record, digest


@dataclass
class _Seat:
    """One participant of one interaction: what the source said and how to find them."""

    entry: dict[str, Any]
    role: str
    key: Key | None = None
    own: bool = False
    no_contact: str | None = None
    person: PersonData | None = None  # who they would be as a new contact


@dataclass
class _Result:
    """What a successful pass changed, applied to the batch only once it held."""

    stats: IngestStats = field(default_factory=IngestStats)
    people: Outcome = field(default_factory=Outcome)


class InteractionPass(PersonPass):
    """The live interaction records of a batch."""

    def _interactions(self, entries: list[Entry]) -> None:
        if not entries:
            return
        try:
            with self.session.begin_nested():
                result = self._store_interactions(entries)
        except Exception as exc:
            if database_unavailable(exc):
                raise
            if len(entries) == 1:
                self._reject(entries[0][0], exc)
                return
            middle = len(entries) // 2
            self._interactions(entries[:middle])
            self._interactions(entries[middle:])
            return
        self.stats.add(result.stats)
        people = result.people
        self.touched |= people.touched
        self.new_contacts |= people.new_contacts
        self.events.extend(people.events)
        self.stats.contacts_created += people.contacts_created
        self.stats.merged += people.merged

    def _store_interactions(self, entries: list[Entry]) -> _Result:
        result = _Result()
        seats = [self._seats(observation, result.stats) for observation, _, _ in entries]
        # An interaction whose only outside participants were forgotten people is theirs
        # alone (a call with us): it is not stored at all.
        kept = [n for n, ((observation, _, _), row) in enumerate(zip(entries, seats,
                                                                    strict=True))
                if not (observation.interaction is not None
                        and len(row) < len(observation.interaction.participants)
                        and all(seat.own for seat in row))]
        if len(kept) < len(entries):
            entries, seats = [entries[n] for n in kept], [seats[n] for n in kept]
            if not entries:
                return result
        contact_of = self._contacts([s for row in seats for s in row], result)
        rows, links = [], []
        for (observation, _, _), row in zip(entries, seats, strict=True):
            data = observation.interaction
            assert data is not None
            found: set[tuple[int, str]] = set()
            for seat in row:
                contact_id = contact_of.get(seat.key) if seat.key else None
                seat.entry["own"] = seat.own
                if contact_id is not None:
                    found.add((contact_id, seat.role))
                elif seat.key is not None:
                    result.stats.unlinked += 1
                    result.stats.skip(seat.no_contact or NO_CONTACTS)
            rows.append({
                "connector": self.connector.name, "external_id": observation.external_id,
                "channel": data.channel, "direction": data.direction,
                "occurred_at": data.occurred_at, "subject": clean_text(data.subject),
                "summary": clean_text(data.summary), "duration_s": data.duration_s,
                "status": data.status, "participants": [s.entry for s in row],
                "thread_id": data.thread_id, "deleted_at": None})
            links.append(sorted(found))
        ids = self._write_interactions(rows, links)
        # A forgotten participant's seat was dropped: the raw payload names them too.
        scrub = {observation.external_id for (observation, _, _), row in zip(
            entries, seats, strict=True) if observation.interaction is not None
            and len(row) < len(observation.interaction.participants)}
        self._write_interaction_records(entries, ids, result.stats, scrub)
        result.stats.interactions += len(entries)
        return result

    def _seats(self, observation: Observation, stats: IngestStats) -> list[_Seat]:
        data = observation.interaction
        assert data is not None
        seats = []
        for participant in data.participants:
            seat = _Seat(participant.model_dump(exclude_none=True), participant.role,
                         no_contact=participant.no_contact or (
                             None if data.create_contacts else NO_CONTACTS))
            self._identify(seat, participant, stats)
            if seat.key is not None and self.p.suppressor.hit(*seat.key):
                stats.skip(SUPPRESSED)  # a forgotten person: the others keep their seats
                continue
            seats.append(seat)
        return seats

    def _identify(self, seat: _Seat, participant: Participant, stats: IngestStats) -> None:
        """Set the seat's key (or mark it one of us), counting why someone has none."""
        policy = self.p.policy
        email, phone = participant.email, participant.phone
        emails: list[ContactValue] = []
        phones: list[ContactValue] = []
        if email:
            result = normalize_email(email)
            if result is not None and result.valid:
                if result.domain in policy.own_domains:
                    seat.own = True
                    stats.skip(OWN_ADDRESS)
                    return
                if not result.is_role:
                    seat.key = ("email", result.key)
                emails.append(ContactValue(value=email))
            elif not phone:
                stats.skip(INVALID_ADDRESS)
                return
        if phone:
            parsed = normalize_phone(phone, self.connector.default_region
                                     or policy.default_region)
            if parsed is not None and parsed.e164:
                if parsed.e164 in policy.own_numbers:
                    seat.own = True
                    stats.skip(OWN_ADDRESS)
                    return
                if seat.key is None:
                    seat.key = ("phone", parsed.e164)
                phones.append(ContactValue(value=phone))
        if seat.key is None:
            if emails:
                stats.skip(ROLE_ADDRESS)
            return
        seat.person = PersonData(full_name=participant.name, emails=emails, phones=phones)

    def _contacts(self, seats: list[_Seat], result: _Result) -> dict[Key, int]:
        """The contact of every key the seats hold: found, or created for those allowed."""
        self.session.flush()
        shared = self._shared_phones({s.key[1] for s in seats
                                      if s.key is not None and s.key[0] == "phone"})
        for seat in seats:
            if seat.key is not None and seat.key[0] == "phone" and seat.key[1] in shared:
                seat.key = None  # a capped shared number identifies nobody
        keys = {s.key for s in seats if s.key is not None}
        found = self._find(keys)
        wanted: dict[Key, PersonData] = {}
        for seat in seats:
            if seat.key is not None and seat.key not in found and seat.no_contact is None \
                    and seat.person is not None:
                wanted.setdefault(seat.key, seat.person)
        if wanted:
            found.update(self._create_participants(wanted, result))
        live = live_contacts(self.session, set(found.values()))
        return {key: live[contact_id] for key, contact_id in found.items()}

    def _shared_phones(self, numbers: set[str]) -> set[str]:
        shared: set[str] = set()
        for chunk in chunks(sorted(numbers)):
            shared.update(self.session.scalars(select(SharedPoint.value).where(
                SharedPoint.kind == "phone", among(self.session, SharedPoint.value, chunk))))
        return shared

    def _find(self, keys: set[Key]) -> dict[Key, int]:
        """Each key's contact: the one its earliest stored record belongs to."""
        found: dict[Key, tuple[int, int]] = {}
        for kind in ("email", "phone"):
            values = sorted(k for kd, k in keys if kd == kind)
            for chunk in chunks(values):
                for key, contact_id, record_id in self.session.execute(
                        select(MatchKey.key, MatchKey.contact_id, MatchKey.source_record_id)
                        .where(MatchKey.kind == kind, among(self.session, MatchKey.key, chunk))):
                    best = found.get((kind, key))
                    if best is None or record_id < best[1]:
                        found[(kind, key)] = (contact_id, record_id)
        return {key: contact_id for key, (contact_id, _) in found.items()}

    def _create_participants(self, wanted: dict[Key, PersonData],
                             result: _Result) -> dict[Key, int]:
        """Someone the batch names and nobody knows: a record of their own, stable across
        re-syncs (``participant:email:…``), through normal matching."""
        now = self.now
        ids = {key: f"participant:{key[0]}:{key[1]}" for key in wanted}
        existing = self._existing(list(ids.values()))
        persons = []
        for key, person in wanted.items():
            synthetic = Observation(kind="person", external_id=ids[key], observed_at=now,
                                    person=person)
            prepared = self._prepare(Prepared(synthetic, content_hash(synthetic, self.salt)),
                                     existing.get(ids[key]))
            if prepared is not None:
                persons.append(prepared)
        if persons:
            outcome = self._store_persons(persons)
            people = result.people
            people.touched |= outcome.touched
            people.new_contacts |= outcome.new_contacts
            people.events.extend(outcome.events)
            people.contacts_created += outcome.contacts_created
            people.merged += outcome.merged
        stored = self._existing(list(ids.values()))
        # Someone the source's interactions name, not a record of its snapshot: a file
        # re-read (a new snapshot) must not delete them for not being one of its rows.
        if self.batch.scope is not None or self.batch.token is not None:
            for chunk in chunks(sorted(r.id for r in stored.values())):
                self.session.execute(update(SourceRecord).where(SourceRecord.id.in_(chunk))
                                     .values(scope=None, seen_token=None))
        contacts = {key: record.contact_id for key, external_id in ids.items()
                    if (record := stored.get(external_id)) is not None}
        return {key: contact_id for key, contact_id in contacts.items() if contact_id is not None}

    def _write_interactions(self, rows: list[dict[str, Any]],
                            links: list[list[tuple[int, str]]]) -> list[int]:
        """Insert the new interactions, update the stored ones, replace their links; the
        interactions' ids in batch order."""
        session = self.session
        stored: dict[str, Interaction] = {}
        for chunk in chunks(sorted(row["external_id"] for row in rows)):
            stored.update((i.external_id, i) for i in session.scalars(select(Interaction).where(
                Interaction.connector == self.connector.name,
                among(session, Interaction.external_id, chunk))))
        fresh = [row for row in rows if row["external_id"] not in stored]
        new_ids = iter(insert_with_ids(session, table_of(Interaction), fresh) if fresh else [])
        ids = []
        for row in rows:
            known = stored.get(row["external_id"])
            if known is None:
                ids.append(next(new_ids))
                continue
            for attr, value in row.items():
                setattr(known, attr, value)
            ids.append(known.id)
        session.flush()
        for chunk in chunks(sorted(i.id for i in stored.values())):
            session.execute(delete(InteractionContact)
                            .where(InteractionContact.interaction_id.in_(chunk)))
        insert_rows(session, table_of(InteractionContact), [
            {"interaction_id": interaction_id, "contact_id": contact_id, "role": role}
            for interaction_id, found in zip(ids, links, strict=True)
            for contact_id, role in found])
        return ids

    def _write_interaction_records(self, entries: list[Entry], ids: list[int],
                                   stats: IngestStats, scrub: set[str]) -> None:
        fresh = []
        for (observation, record, digest), interaction_id in zip(entries, ids, strict=True):
            raw = None if observation.external_id in scrub else observation.raw or None
            values = {"kind": "interaction", "content_hash": digest,
                      "raw": raw, "data": {"interaction_id": interaction_id},
                      "observed_at": observation.observed_at, "last_seen": self.now,
                      "deleted_at": None, "scope": self.batch.scope,
                      "seen_token": self.batch.token}
            if record is None:
                fresh.append({"connector": self.connector.name,
                              "external_id": observation.external_id, "first_seen": self.now,
                              **values})
            else:
                for attr, value in values.items():
                    setattr(record, attr, value)
        if fresh:
            insert_with_ids(self.session, table_of(SourceRecord), fresh)
        stats.created += len(fresh)
        stats.updated += len(entries) - len(fresh)
