"""Companies through the contacts' machinery: found or created in bulk, golden record,
review, merge and unmerge.

* **Resolution** (:class:`CompanyResolver`): the companies a batch names are found or
  created in bulk, by domain, then by name + country; a name known in another country only
  makes a new company and a review candidate.
* **Golden record** (:func:`rebuild_company`): a company's name, website, country,
  industry, size, tags and custom fields are computed from its live source records, never
  edited in place: ``company`` records (a CRM's account list) by the survivorship policy of
  ``[match.survivorship]``; where none carries a field, the company block of the people
  who work there: the most trusted source first (``source_priority``), then the most
  recent record, ties to connector and external id, so the result never depends on the
  order records arrived in. Every field records its origin in ``provenance``; a value a
  contact gave is marked ``"via": "contact"``. A sync keeps it current without reading
  the company's people: a new record's value wins when it ranks above the stored
  origin, and only when the record that gave a value leaves or changes is the company
  rebuilt from all of them (:func:`refresh_people_values`).
* **Review**: a company named like a stored one (same normalised name) in another
  country may be a subsidiary or the same company: it is kept apart and the pair goes to
  the review queue (``match_candidates.entity = "company"``; the pair is kept as company
  ids, which outlive merges). ``crmhub review merge|reject`` answers it; a rejection is
  remembered and the pair is never proposed again.
* **Merge** (:func:`merge_companies`): the merged company's domains, source records and
  contacts move to the survivor, which takes its owner when it has none; the snapshot
  says what moved. **Unmerge** (:func:`unmerge_company`) moves exactly that back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from hub.match.golden import policy_of, rebuild_contacts
from hub.match.resolve import pair, rejected_between, remember_rejection
from hub.match.survivorship import (
    DEFAULT_POLICY,
    MANUAL,
    SourceView,
    SurvivorshipPolicy,
    pick,
    priority_reason,
    ranking,
    source_origin,
)
from hub.normalize import company_name_key
from hub.store.model import (
    Company,
    CompanyDomain,
    Contact,
    MatchCandidate,
    MergeEvent,
    OutboxEvent,
    SourceRecord,
)

ENTITY = "company"
FIELDS = ("name", "website", "country", "industry", "employees", "revenue")
# What the company block of a person record can give.
PEOPLE_FIELDS = ("name", "website", "industry", "employees", "revenue")
VIA_CONTACT = "contact"  # provenance["field"]["via"] of a value a contact's record gave
SAME_NAME_OTHER_COUNTRY = 0.5  # the review score of that rule (companies are not scored)


class CompanyMergeError(Exception):
    """A company merge or unmerge that cannot be carried out; the message says why."""


def live_company(session: Session, company_id: int) -> int:
    """The company ``company_id`` was merged into, followed to the end."""
    seen = {company_id}
    current = company_id
    while True:
        nxt = session.scalar(select(Company.merged_into_id).where(Company.id == current))
        if nxt is None or nxt in seen:
            return current
        seen.add(nxt)
        current = nxt


# -- golden record -----------------------------------------------------------------------


def rebuild_company(session: Session, company_id: int, now: datetime) -> bool:
    """Recompute one company from its sources; whether anything changed."""
    company = session.get(Company, company_id)
    if company is None:
        return False
    session.flush()
    policy = policy_of(session) or DEFAULT_POLICY
    own: list[SourceView] = []
    people: list[PersonRef] | None = None
    for row in session.execute(
            select(SourceRecord.id, SourceRecord.connector, SourceRecord.external_id,
                   SourceRecord.observed_at, SourceRecord.data)
            .where(SourceRecord.company_id == company_id, SourceRecord.kind == ENTITY,
                   SourceRecord.deleted_at.is_(None))):
        own.append(SourceView(row.id, row.connector, row.external_id, row.observed_at,
                              row.data or {}))
    # A manual correction (`crmhub companies set`) first, then the others best-ranked
    # first: the order pick() expects, the same as a contact's sources.
    ranked = sorted(own, key=ranking(policy), reverse=True)
    newest = [*(s for s in ranked if s.connector == MANUAL),
              *(s for s in ranked if s.connector != MANUAL)]
    provenance: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for name in FIELDS:
        won = pick(name, policy.rule_of("company"), policy,
                   [(s, v) for s in newest if (v := s.data.get(name)) not in (None, "")])
        if won is not None:
            values[name] = won[1]
            provenance[name] = source_origin(won[0], won[2])
        elif name in PEOPLE_FIELDS:
            if people is None:
                people = _people(session, company_id, policy)
            best = next(((ref, v) for ref in people if (v := ref.values.get(name))), None)
            if best is not None:
                values[name] = best[1]
                provenance[name] = best[0].origin(policy)
    tags = sorted({t for s in newest for t in s.data.get("tags") or []})
    custom: dict[str, Any] = {}
    for s in reversed(newest):  # the newest record's value of each key wins
        custom.update({k: v for k, v in (s.data.get("custom") or {}).items() if v != ""})
    before = _state(company)
    for name in FIELDS:
        if name in values:
            setattr(company, name, values[name])
        elif (company.provenance or {}).get(name):  # the source that gave it is gone
            setattr(company, name, None)
        # else: a value the resolver filled in (a country) stays until a source gives one
    if not company.name_key and values.get("name"):  # the matching key is kept once set
        company.name_key = company_name_key(values["name"]) or None
    if own:
        company.tags, company.custom = tags, custom
    company.provenance = provenance
    if _state(company) != before:
        company.updated_at = now
        return True
    return False


@dataclass(frozen=True)
class PersonRef:
    """A person record as a source of its company's name and website."""

    connector: str
    external_id: str
    observed_at: datetime
    values: dict[str, Any]  # the company block's name and website, where given

    def rank(self, policy: SurvivorshipPolicy) -> tuple[int, datetime, str, str]:
        """Higher wins: the most trusted source, then the most recent record, then
        connector and external id (a function of the record, not of its arrival)."""
        return (policy.rank.get(self.connector, -1), self.observed_at, self.connector,
                self.external_id)

    def origin(self, policy: SurvivorshipPolicy) -> dict[str, Any]:
        why = priority_reason(policy, self.connector) \
            if self.connector in policy.source_priority else "most recent"
        return {"connector": self.connector, "external_id": self.external_id,
                "observed_at": self.observed_at.isoformat(), "via": VIA_CONTACT,
                "rule": f"named by a contact working there: {why}"}


def _stored_rank(origin: dict[str, Any], policy: SurvivorshipPolicy,
                 ) -> tuple[int, datetime, str, str]:
    return PersonRef(origin["connector"], origin["external_id"],
                     datetime.fromisoformat(origin["observed_at"]), {}).rank(policy)


def _people(session: Session, company_id: int,
            policy: SurvivorshipPolicy) -> list[PersonRef]:
    """The company blocks of every live person record at the company, best first; only
    the block is read, not the records."""
    refs = [PersonRef(r.connector, r.external_id, r.observed_at,
                      {k: block[k] for k in PEOPLE_FIELDS if block.get(k)})
            for r in session.execute(
                select(SourceRecord.connector, SourceRecord.external_id,
                       SourceRecord.observed_at, SourceRecord.data["company"].label("block"))
                .where(SourceRecord.company_id == company_id,
                       SourceRecord.kind == "person", SourceRecord.deleted_at.is_(None)))
            if isinstance(block := r.block, dict)]
    return sorted(refs, key=lambda ref: ref.rank(policy), reverse=True)


def _from_contact(company: Company, name: str) -> bool | None:
    """Whether a field's value is a contact's (True), a company record's (False), or of
    unknown origin (None: a company stored before values had provenance)."""
    origin = (company.provenance or {}).get(name)
    if origin is None:
        return None if getattr(company, name) else True
    return bool(origin.get("via") == VIA_CONTACT)


def _best(offers: Iterable[tuple[int, PersonRef]],
          policy: SurvivorshipPolicy) -> dict[tuple[int, str], PersonRef]:
    """The best-ranked record giving each (company, field)."""
    best: dict[tuple[int, str], PersonRef] = {}
    for company_id, ref in offers:
        for name in PEOPLE_FIELDS:
            if ref.values.get(name):
                held = best.get((company_id, name))
                if held is None or ref.rank(policy) > held.rank(policy):
                    best[(company_id, name)] = ref
    return best


def refresh_people_values(session: Session, offers: Sequence[tuple[int, PersonRef]],
                          left: Sequence[tuple[int, str, str]], now: datetime) -> set[int]:
    """Keep the contact-given values of companies current after a batch of person
    records; the companies rebuilt in full.

    ``offers`` are (company, record) pairs of the batch; a record's value replaces a
    contact-given one when it ranks above the stored origin. ``left`` are (company,
    connector, external id) of records that were at a company before the batch changed
    them: a company whose value one of them gave, or whose values have no origin yet,
    is rebuilt from all its people after the batch's records are written (call
    :func:`rebuild_company` on the ids returned, once they are).
    """
    ids = sorted({c for c, _ in offers} | {c for c, _, _ in left})
    if not ids:
        return set()
    policy = policy_of(session) or DEFAULT_POLICY
    companies: dict[int, Company] = {}
    for start in range(0, len(ids), CHUNK):
        companies.update((c.id, c) for c in session.scalars(
            select(Company).where(Company.id.in_(ids[start:start + CHUNK]))))
    rebuild: set[int] = set()
    for company_id, connector, external_id in left:
        company = companies.get(company_id)
        if company is not None and any(
                (origin := (company.provenance or {}).get(name)) and
                origin.get("via") == VIA_CONTACT and
                (origin["connector"], origin["external_id"]) == (connector, external_id)
                for name in PEOPLE_FIELDS):
            rebuild.add(company_id)
    for (company_id, name), ref in sorted(_best(offers, policy).items(),
                                          key=lambda item: item[0]):
        company = companies.get(company_id)
        if company is None or company_id in rebuild:
            continue
        mine = _from_contact(company, name)
        if mine is None:
            rebuild.add(company_id)
            continue
        origin = (company.provenance or {}).get(name)
        if not mine or (origin is not None and
                        _stored_rank(origin, policy) >= ref.rank(policy)):
            continue
        setattr(company, name, ref.values[name])
        company.provenance = {**(company.provenance or {}), name: ref.origin(policy)}
        company.updated_at = now
    return rebuild


def _state(company: Company) -> dict[str, Any]:
    return {name: getattr(company, name) for name in
            (*FIELDS, "name_key", "tags", "custom", "provenance")}


def company_view(session: Session, company_id: int) -> dict[str, Any] | None:
    """One company as ``crmhub companies show`` prints it."""
    company = session.get(Company, company_id)
    if company is None:
        return None
    domains = sorted(session.scalars(select(CompanyDomain.domain).where(
        CompanyDomain.company_id == company_id)))
    contacts = session.scalar(select(func.count()).select_from(Contact).where(
        Contact.company_id == company_id, Contact.merged_into_id.is_(None),
        Contact.deleted_at.is_(None))) or 0
    return {"id": company.id, **{name: getattr(company, name) for name in FIELDS},
            "owner": company.owner, "tags": company.tags, "custom": company.custom,
            "domains": domains, "contacts": contacts, "merged_into": company.merged_into_id,
            "provenance": company.provenance or {}}


# -- review ------------------------------------------------------------------------------


def propose(session: Session, existing: int, new: int, reason: str, now: datetime) -> bool:
    """Queue a pair of companies for review unless a user already answered it."""
    if rejected_between(session, [existing], [new], entity=ENTITY):
        return False
    left, right = pair(existing, new)
    if session.scalar(select(MatchCandidate.id).where(
            MatchCandidate.entity == ENTITY, MatchCandidate.left_record_id == left,
            MatchCandidate.right_record_id == right)) is not None:
        return False
    session.add(MatchCandidate(
        entity=ENTITY, left_id=left, right_id=right, left_record_id=left,
        right_record_id=right, score=SAME_NAME_OTHER_COUNTRY, weight=0.0,
        comparison={"levels": {"name": "exact", "country": "different"}, "rule": reason},
        status="open", created_at=now))
    return True


# -- merge and unmerge -------------------------------------------------------------------


def merge_companies(session: Session, survivor_id: int, merged_id: int, *, reason: str,
                    decided_by: str, now: datetime, score: float = 1.0,
                    comparison: dict[str, Any] | None = None) -> MergeEvent:
    """Fold ``merged_id`` into ``survivor_id``; what moved is kept for unmerge."""
    survivor, merged = session.get(Company, survivor_id), session.get(Company, merged_id)
    if survivor is None or merged is None:
        raise CompanyMergeError(f"no company {merged_id if survivor else survivor_id}")
    if survivor_id == merged_id:
        raise CompanyMergeError(f"company {survivor_id} cannot be merged into itself")
    for company in (survivor, merged):
        if company.merged_into_id is not None:
            raise CompanyMergeError(f"company {company.id} was merged into "
                                    f"{company.merged_into_id} already")
    if rejected_between(session, [survivor_id], [merged_id], entity=ENTITY):
        raise CompanyMergeError(f"companies {survivor_id} and {merged_id} were rejected as "
                                "different companies by a user")
    domains = list(session.scalars(select(CompanyDomain.id).where(
        CompanyDomain.company_id == merged_id)))
    records = list(session.scalars(select(SourceRecord.id).where(
        SourceRecord.company_id == merged_id)))
    contacts = list(session.scalars(select(Contact.id).where(Contact.company_id == merged_id)))
    took_owner = survivor.owner is None and merged.owner is not None
    event = MergeEvent(entity=ENTITY, survivor_id=survivor_id, merged_id=merged_id,
                       score=score, comparison=comparison or {"rule": reason},
                       decided_by=decided_by, reason=reason, created_at=now,
                       snapshot={"domains": domains, "source_records": records,
                                 "contacts": contacts, "took_owner": took_owner})
    session.add(event)
    _move(session, domains, records, contacts, survivor_id)
    if took_owner:
        survivor.owner = merged.owner
    merged.merged_into_id, merged.updated_at = survivor_id, now
    session.flush()
    rebuild_company(session, survivor_id, now)
    rebuild_contacts(session, contacts, now)
    session.add(OutboxEvent(type="company.merged", created_at=now, attempts=0, payload={
        "survivor_id": survivor_id, "merged_id": merged_id, "merge_id": event.id,
        "reason": reason, "decided_by": decided_by}))
    return event


def unmerge_company(session: Session, event: MergeEvent, *, by: str,
                    now: datetime) -> MergeEvent:
    """Move back exactly what the merge moved (what moved on since stays), restore the
    merged company, rebuild both and remember them as two companies."""
    merged = session.get(Company, event.merged_id)
    if merged is None:
        raise CompanyMergeError(f"merge {event.id}: company {event.merged_id} no longer "
                                "exists")
    holder = live_company(session, event.survivor_id)
    here = sorted({event.survivor_id, holder})
    snapshot = event.snapshot or {}
    domains = list(session.scalars(select(CompanyDomain.id).where(
        CompanyDomain.id.in_(_ids(snapshot.get("domains"))),
        CompanyDomain.company_id.in_(here))))
    records = list(session.scalars(select(SourceRecord.id).where(
        SourceRecord.id.in_(_ids(snapshot.get("source_records"))),
        SourceRecord.company_id.in_(here))))
    contacts = list(session.scalars(select(Contact.id).where(
        Contact.id.in_(_ids(snapshot.get("contacts"))), Contact.company_id.in_(here))))
    _move(session, domains, records, contacts, merged.id)
    survivor = session.get(Company, holder)
    if snapshot.get("took_owner") and survivor is not None and survivor.owner == merged.owner:
        survivor.owner = None
    merged.merged_into_id, merged.updated_at = None, now
    event.undone_at = now
    remember_rejection(session, [holder], [merged.id], by=by, now=now, entity=ENTITY)
    session.flush()
    rebuild_company(session, holder, now)
    rebuild_company(session, merged.id, now)
    moved_people = set(contacts) | set(session.scalars(select(SourceRecord.contact_id).where(
        SourceRecord.id.in_(records or [-1]), SourceRecord.contact_id.is_not(None))))
    rebuild_contacts(session, [c for c in moved_people if c is not None], now)
    session.add(OutboxEvent(type="company.unmerged", created_at=now, attempts=0, payload={
        "survivor_id": holder, "restored_id": merged.id, "merge_id": event.id, "by": by}))
    return event


def _move(session: Session, domains: Sequence[int], records: Sequence[int],
          contacts: Sequence[int], to: int) -> None:
    for column, ids in ((CompanyDomain.id, domains), (SourceRecord.id, records),
                        (Contact.id, contacts)):
        for start in range(0, len(ids), 500):
            session.execute(update(column.class_).where(column.in_(ids[start:start + 500]))
                            .values(company_id=to))


def _ids(values: Iterable[Any] | None) -> list[int]:
    return [int(v) for v in values or ()] or [-1]


CHUNK = 500


@dataclass(frozen=True)
class CompanyRef:
    name: str | None
    name_key: str | None
    domains: tuple[str, ...]
    country: str | None
    website: str | None = None
    person: PersonRef | None = None  # the person record naming it, if one does


class CompanyResolver:
    """Resolves the company refs of a batch with a few queries, in input order."""

    def __init__(self, session: Session, now: datetime):
        self.session = session
        self.now = now
        self.created: set[int] = set()  # the companies the last resolve created

    def resolve(self, refs: Sequence[CompanyRef | None]) -> list[int | None]:
        session = self.session
        self.created = set()
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
            given = self._named_by_people(refs, out, len(planned))
            ids = list(session.scalars(
                insert(Company).returning(Company.id, sort_by_parameter_order=True),
                [{"name_key": r.name_key, "country": r.country, "name": r.name,
                  "website": r.website, "address": {}, "phones": [], "tags": [], "custom": {},
                  "provenance": {}, "created_at": self.now, "updated_at": self.now,
                  **given[n]}
                 for n, r in enumerate(planned)]))
            self.created = set(ids)

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

    def _named_by_people(self, refs: Sequence[CompanyRef | None], out: list[int | None],
                         count: int) -> list[dict[str, Any]]:
        """The name and website of each new company (``-(n+1)``) from the best-ranked
        person record of the batch naming it, with provenance."""
        policy = policy_of(self.session) or DEFAULT_POLICY
        named: list[dict[str, Any]] = [{} for _ in range(count)]
        for (cid, name), person in _best(
                [(cid, ref.person) for ref, cid in zip(refs, out, strict=True)
                 if ref is not None and ref.person is not None and cid is not None and cid < 0],
                policy).items():
            values = named[-cid - 1]
            values[name] = person.values[name]
            values["provenance"] = {**values.get("provenance", {}),
                                    name: person.origin(policy)}
        return named

    def _fill(self, refs: dict[int, CompanyRef]) -> None:
        """Existing companies learn a matching key or country they did not have (their
        name and website follow the golden-record rules: :func:`rebuild_company`,
        :func:`refresh_people_values`)."""
        if not refs:
            return
        for start in range(0, len(refs), CHUNK):
            chunk = sorted(refs)[start:start + CHUNK]
            for company in self.session.scalars(select(Company).where(Company.id.in_(chunk))):
                ref = refs[company.id]
                changed = False
                for attr in ("name_key", "country"):
                    value = getattr(ref, attr)
                    if value and not getattr(company, attr):
                        setattr(company, attr, value)
                        changed = True
                if changed:
                    company.updated_at = self.now
