"""Routing as the pipeline and the daemon use it: :class:`Routing`.

``Routing.load`` reads the rules and scoring files once (a :class:`~hub.config.ConfigError`
names file, rule and key). ``after_batch`` runs inside the batch transaction: it rescores
the contacts the batch changed, applies lifecycle transitions, routes new leads from
connectors with ``route_new_contacts``, re-routes contacts whose owner became inactive,
and appends ``contact.assigned``/``contact.reassigned`` to the outbox in the same
transaction. ``periodic`` (the daemon) re-routes leads whose SLA ran out.

A manual assignment (``crmhub assign set``), or an owner set by hand some other way, is
never overridden by rules.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from hub.config import ConnectorConfig, HubConfig
from hub.plugins import HubPlugins
from hub.routing.conditions import Condition
from hub.routing.decide import Decision, decide
from hub.routing.directory import sync_directory
from hub.routing.facts import INTERACTION_FIELDS, POINT_FIELDS, load_facts
from hub.routing.lifecycle import INTERACTION, MERGED, Happening, Lifecycle, Merge
from hub.routing.live import LiveContext, lock_routing
from hub.routing.model import Assignment, Owner
from hub.routing.rules import RuleSet, load_rules
from hub.routing.scoring import Scoring, load_scoring
from hub.routing.sla import find_touch
from hub.routing.strategies import BUILTIN, Lead, Strategy
from hub.store.db import chunks
from hub.store.model import (
    Company,
    Contact,
    Interaction,
    InteractionContact,
    MergeEvent,
    OutboxEvent,
    SourceRecord,
    table_of,
)

log = logging.getLogger(__name__)

NEW = "new"                    # a new lead from a routing connector
OWNER_INACTIVE = "owner_inactive"
SLA = "sla"
ON_DEMAND = "on_demand"        # crmhub assign run
MANUAL = "manual"
MERGE = "merge"                # a lead that left its owner when its contact was merged
REFINED = "refined"            # a still-unworked lead a later source told more about
PASS_LIMIT = 500               # contacts one daemon pass re-routes at most, per kind


def strategy_classes(plugins: HubPlugins | None) -> dict[str, type[Strategy]]:
    """Registered strategies; the built-ins come through their entry point like any plugin's,
    and are added here when plugins were loaded without entry points (tests, embedding)."""
    found: dict[str, type[Strategy]] = dict(plugins.strategy_classes()) if plugins else {}
    for klass in BUILTIN:
        found.setdefault(klass.name, klass)
    return found


@dataclass
class Routed:
    """One assignment made: what ``after_batch`` and ``route`` return."""

    contact_id: int
    owner: str | None
    queue: str | None
    previous: str | None
    rule: str | None
    strategy: str
    reason: str
    by: str | None = None  # a manual assignment: who made it
    note: str | None = None  # and why, as they said

    def as_dict(self) -> dict[str, Any]:
        out = {"contact_id": self.contact_id, "owner": self.owner, "queue": self.queue,
               "previous_owner": self.previous, "rule": self.rule,
               "strategy": self.strategy, "reason": self.reason}
        if self.strategy == "manual":
            out |= {"by": self.by, "note": self.note}
        return out


class Routing:
    """The routing rules, scoring and lifecycle of one configuration."""

    def __init__(self, ruleset: RuleSet | None, scoring: Scoring | None):
        self.ruleset = ruleset
        self.scoring = scoring
        self.lifecycle = Lifecycle(scoring.lifecycle if scoring else None)
        reads: set[str] = set()
        if ruleset is not None:
            for rule in ruleset.rules:
                reads |= rule.condition.fields
        self.interaction_facts = bool(reads & INTERACTION_FIELDS)
        if scoring is not None:
            for _, condition in scoring.points:
                reads |= condition.fields
            for transition in scoring.lifecycle.transitions if scoring.lifecycle else []:
                reads |= transition.fields
        self.reads = reads  # every field some condition reads
        # The contact fields a routing rule reads (what a later source can fill in).
        self.rule_fields = sorted({
            f for rule in (ruleset.rules if ruleset is not None else [])
            for f in rule.condition.fields
            if "*" not in f and f not in ("owner", "stage", "score", "team")})
        self._open_rescored = False  # by the first daemon pass (see periodic)

    @classmethod
    def load(cls, config: HubConfig, plugins: HubPlugins | None = None) -> Routing:
        """Parse the ``[hub] rules`` and ``scoring`` files (raises ConfigError)."""
        ruleset = scoring = None
        if config.hub.rules is not None:
            sinks = plugins.sink_classes() if plugins is not None else None
            ruleset = load_rules(config.hub.rules, strategy_classes(plugins), sinks)
        if config.hub.scoring is not None:
            scoring = load_scoring(config.hub.scoring)
        return cls(ruleset, scoring)

    @property
    def enabled(self) -> bool:
        return self.ruleset is not None or self.scoring is not None

    # -- the pipeline's call -----------------------------------------------------------

    def after_batch(self, session: Session, *, connector: ConnectorConfig,
                    new_contact_ids: Iterable[int], changed_contact_ids: Iterable[int],
                    now: datetime) -> list[dict[str, Any]]:
        """Score, move through the lifecycle and route what this batch brought, inside its
        transaction. Returns the assignments made (also appended to the outbox)."""
        if not self.enabled:
            return []
        new = sorted(set(new_contact_ids))
        changed = sorted(set(changed_contact_ids) - set(new))
        session.flush()
        # Merges never move a survivor back (by the default stage order without a
        # scoring file); the transitions below may still move it on.
        merges = self._merges(session, [*new, *changed], now)
        self.lifecycle.carry_merges(session, merges, now)
        self._tell_merged_owners(session, merges, now)
        rescore, happened = self._batch_interactions(session, connector.name, now)
        for merge in merges:
            happened.setdefault(merge.survivor_id, []).append(Happening(MERGED))
        touched = sorted(set(new) | set(changed) | rescore | set(happened)
                         | self._company_contacts(session, connector.name, now))
        if not touched:
            return []
        # One load of the facts serves scoring, lifecycle and routing.
        facts = load_facts(session, touched, source=connector.name, now=now,
                           interactions=self.interaction_facts or self.lifecycle
                           .reads_interactions or (self.scoring is not None
                                                   and self.scoring.interaction_facts),
                           points_for=None if self.reads & POINT_FIELDS else new,
                           sources="sources" in self.reads)
        # A new contact is a lead by the stage it arrived in: scoring and the lifecycle may
        # make it a prospect in this very batch, and it must still get an owner.
        arrived = {c: facts[c]["stage"] for c in new if c in facts}
        if self.scoring is not None:
            self.scoring.rescore(session, touched, now, facts)
        if self.lifecycle.enabled:
            self.lifecycle.apply(session, touched, now, facts, happened)
        if self.ruleset is None:
            return []
        to_route: list[tuple[int, str]] = []
        if connector.route_new_contacts and new:
            first, open_stages = self.lifecycle.stages[0], self.ruleset.settings.open_stages
            to_route += [(c, NEW) for c in new if c in facts and facts[c]["_live"]
                         and facts[c]["owner"] is None and arrived[c] == first
                         and facts[c]["stage"] in open_stages]
        if changed and self.ruleset.settings.reroute_inactive:
            gone = [c for c in changed if c in facts and facts[c]["owner"] is not None
                    and facts[c]["owner"] not in self._active]
            to_route += [(c, OWNER_INACTIVE) for c in self._orphans(session, gone)]
        refined: dict[int, list[str]] = {}
        sources: dict[int, str] = {}
        if changed:
            refined, sources = self._refinable(session, changed, facts, now)
            to_route += [(c, REFINED) for c in refined if c not in dict(to_route)]
        if not to_route:
            return []
        routed = self.route(session, to_route, now, source=connector.name, facts=facts,
                            refined=refined, sources=sources)
        return [r.as_dict() for r in routed]

    def _refinable(self, session: Session, changed: list[int], facts: dict[int, dict[str, Any]],
                   now: datetime) -> tuple[dict[int, list[str]], dict[int, str]]:
        """Still-unworked leads whose golden record gained a field a rule reads, where the
        rules now choose another rule than the one that routed them: the fields filled
        since (each re-evaluates a lead once), and the connector that brought each lead."""
        assert self.ruleset is not None
        read = self.rule_fields
        if not read:
            return {}, {}
        refined: dict[int, list[str]] = {}
        sources: dict[int, str] = {}
        open_stages = self.ruleset.settings.open_stages
        for chunk in chunks(changed):
            for assignment in session.scalars(select(Assignment).where(
                    Assignment.contact_id.in_(chunk), Assignment.current,
                    Assignment.by == "auto", Assignment.reason.in_((NEW, REFINED)))):
                mine = facts.get(assignment.contact_id)
                if mine is None or not mine["_live"] or mine["stage"] not in open_stages \
                        or mine["owner"] != assignment.owner:
                    continue
                inputs = assignment.inputs or {}
                seen = inputs.get("facts") or {}
                before = set(inputs.get("refined") or ())
                filled = [f for f in read if f not in seen and f not in before
                          and mine.get(f) not in (None, "", [])]
                if not filled or self._worked(session, assignment, now):
                    continue
                lead = {**{k: v for k, v in mine.items() if not k.startswith("_")},
                        "source": seen.get("source")}
                now_rule = next((r.name for r in self.ruleset.rules if r.condition(lead)), None)
                if now_rule == assignment.rule:
                    continue
                log.info("contact %s re-evaluated: %s filled since it was routed by %s; "
                         "rule %s now matches", assignment.contact_id, ", ".join(filled),
                         assignment.rule or "the fallback", now_rule or "none")
                refined[assignment.contact_id] = sorted(before | set(filled))
                if seen.get("source"):
                    sources[assignment.contact_id] = str(seen["source"])
        return refined, sources

    def _worked(self, session: Session, assignment: Assignment, now: datetime) -> bool:
        """Whether the lead's owner touched it since it was assigned to them."""
        if assignment.sla_state == "met" or assignment.touched_at is not None:
            return True
        info = self.ruleset.owners.get(assignment.owner) \
            if self.ruleset is not None and assignment.owner else None
        return info is not None and \
            find_touch(session, assignment.contact_id, info, assignment.at, now) is not None

    @property
    def _active(self) -> set[str]:
        return {o for o, i in self.ruleset.owners.items() if i.spec.active} \
            if self.ruleset else set()

    def after_merges(self, session: Session, contact_ids: Iterable[int],
                     now: datetime) -> int:
        """After merges made outside a batch (``crmhub review merge``, ``match run``): the
        survivors among ``contact_ids`` keep the further stage, then the transitions run on
        them (those ``on = "contact.merged"`` too). Returns the stage moves made."""
        if not self.enabled:
            return 0
        session.flush()
        merges = self._merges(session, contact_ids, now)
        moved = self.lifecycle.carry_merges(session, merges, now)
        self._tell_merged_owners(session, merges, now)
        if merges and self.lifecycle.enabled:
            survivors = sorted({m.survivor_id for m in merges})
            moved += self.lifecycle.apply(session, survivors, now, happened={
                c: [Happening(MERGED)] for c in survivors})
        return moved

    def _tell_merged_owners(self, session: Session, merges: Sequence[Merge],
                            now: datetime) -> None:
        """A merged contact's owner loses the lead when the survivor has another owner:
        a ``contact.reassigned`` event (strategy ``merge``) tells both."""
        if not merges or self.ruleset is None:
            return
        told: list[Routed] = []
        for merge in merges:
            event = session.get(MergeEvent, merge.id)
            survivor = session.get(Contact, merge.survivor_id)
            left = (event.snapshot or {}).get("owner") if event is not None else None
            if survivor is None or survivor.owner is None or left in (None, survivor.owner):
                continue
            told.append(Routed(survivor.id, survivor.owner, None, left, None, MERGE, MERGE))
        if not told:
            return
        facts = load_facts(session, sorted({r.contact_id for r in told}))  # one load for all
        session.execute(insert(table_of(OutboxEvent)), [
            _event(routed, self.ruleset, now, facts.get(routed.contact_id, {}))
            for routed in told])

    def _merges(self, session: Session, contact_ids: Iterable[int],
                now: datetime) -> list[Merge]:
        """The merges made at ``now`` (this transaction) into these contacts."""
        return [Merge(*row) for chunk in chunks(sorted(set(contact_ids)))
                for row in session.execute(
                    select(MergeEvent.id, MergeEvent.survivor_id, MergeEvent.merged_id)
                    .where(MergeEvent.entity == "contact", MergeEvent.action == "merge",
                           MergeEvent.undone_at.is_(None), MergeEvent.created_at == now,
                           MergeEvent.survivor_id.in_(chunk)))]

    def _batch_interactions(self, session: Session, connector: str, now: datetime
                            ) -> tuple[set[int], dict[int, list[Happening]]]:
        """Contacts linked to interactions this batch stored (their score may change), and
        the interactions it brought for the first time, as events of their contacts."""
        scored = self.scoring is not None and self.scoring.reads_interactions
        if not scored and not self.lifecycle.on_interactions:
            return set(), {}
        rows = session.execute(
            select(InteractionContact.contact_id, Interaction.id, Interaction.channel,
                   Interaction.direction, Interaction.status, SourceRecord.first_seen,
                   Interaction.deleted_at)
            .join(Interaction, Interaction.id == InteractionContact.interaction_id)
            .join(SourceRecord, (SourceRecord.connector == Interaction.connector)
                  & (SourceRecord.external_id == Interaction.external_id))
            .where(SourceRecord.connector == connector, SourceRecord.kind == "interaction",
                   SourceRecord.last_seen == now)
            .order_by(Interaction.id)).all()
        happened: dict[int, list[Happening]] = {}
        if self.lifecycle.on_interactions:
            for contact_id, _, channel, direction, status, first_seen, deleted in rows:
                if first_seen == now and deleted is None:
                    happened.setdefault(contact_id, []).append(
                        Happening(INTERACTION, channel, direction, status))
        return ({row.contact_id for row in rows} if scored else set()), happened

    def _company_contacts(self, session: Session, connector: str, now: datetime) -> set[int]:
        """Live contacts of companies this batch's company records changed, when a score,
        transition or rule reads the company: their facts changed, the contacts did not."""
        if not any(f.startswith("company.") for f in self.reads):
            return set()
        return set(session.scalars(
            select(Contact.id).join(Company, Company.id == Contact.company_id)
            .join(SourceRecord, SourceRecord.company_id == Company.id)
            .where(SourceRecord.connector == connector, SourceRecord.kind == "company",
                   SourceRecord.last_seen == now, Company.updated_at == now,
                   Contact.merged_into_id.is_(None), Contact.deleted_at.is_(None))
            .distinct()))

    def _orphans(self, session: Session, ids: list[int] | None = None,
                 limit: int | None = None) -> list[int]:
        """Open contacts whose owner is not an active owner (inactive, or removed from the
        rules file) and came from an automatic assignment: an owner chosen by a person
        stays. Among ``ids``, else the first ``limit`` of all contacts."""
        assert self.ruleset is not None
        query = (select(Contact.id)
                 .join(Assignment, (Assignment.contact_id == Contact.id) & Assignment.current
                       & (Assignment.by == "auto") & (Assignment.owner == Contact.owner))
                 .where(Contact.owner.is_not(None), Contact.owner.not_in(sorted(self._active)),
                        Contact.merged_into_id.is_(None), Contact.deleted_at.is_(None),
                        Contact.stage.in_(self.ruleset.settings.open_stages))
                 .order_by(Contact.id))
        if ids is None:
            # Every owner a rule ever chose is in the owners table (synced before each
            # routing write), and one removed from the file is kept there as inactive: the
            # table narrows the pass to their contacts, through the owner index.
            inactive = set(session.scalars(select(Owner.id).where(Owner.active.is_(False))))
            inactive |= {o for o, i in self.ruleset.owners.items() if not i.spec.active}
            if not inactive:
                return []
            return list(session.scalars(query.where(Contact.owner.in_(sorted(inactive)))
                                        .limit(limit)))
        return sorted(c for chunk in chunks(sorted(set(ids)))
                      for c in session.scalars(query.where(Contact.id.in_(chunk))))

    # -- routing -----------------------------------------------------------------------

    def route(self, session: Session, contacts: list[tuple[int, str]], now: datetime, *,
              source: str | None = None, exclude: dict[int, frozenset[str]] | None = None,
              only_rule: dict[int, str] | None = None,
              facts: dict[int, dict[str, Any]] | None = None,
              seen: Mapping[int, str | None] | None = None,
              sources: Mapping[int, str] | None = None,
              refined: Mapping[int, list[str]] | None = None) -> list[Routed]:
        """Route each ``(contact id, reason)`` in order; write assignments and events.

        The caller chose the contacts, perhaps before this transaction held the routing
        lock. Under the lock each contact's row is locked and read again, and the contact
        is skipped when a person assigned it or set its owner by hand, when its owner is no
        longer the one it was chosen with (``seen``, by default the owner in the caller's
        ``facts``: another worker routed it), or when another transaction holds its row.

        Written in bulk at the end (assignments, contact owners, pointers, outbox), so the
        cost per lead is the decision itself."""
        ruleset = self.ruleset
        if ruleset is None or not contacts:
            return []
        contacts = list(dict(contacts).items())  # one decision per contact
        if seen is None:
            seen = {c: f.get("owner") for c, f in (facts or {}).items()}
        lock_routing(session)
        sync_directory(session, ruleset, now)
        owned, current, contacts = _lock_routable(session, contacts, seen)
        ids = [c for c, _ in contacts]
        if not contacts:
            return []
        if facts is None or any(c not in facts or not facts[c]["_points"] for c in ids):
            facts = load_facts(session, ids, source=source,
                               interactions=self.interaction_facts, now=now)
        for contact_id, connector in (sources or {}).items():
            if contact_id in facts:  # the connector that brought the lead, for `source`
                facts[contact_id]["source"] = connector
        ctx = LiveContext(session, ruleset, now)
        ctx.warm(self.pointer_keys)
        if any(rule.strategy.name == "account" for rule in ruleset.rules):
            ctx.prefetch_accounts({c: facts[c] for c in ids if c in facts})
        written = _Written()
        for contact_id, reason in contacts:
            if contact_id in facts:
                self._route_one(ctx, written, contact_id, reason, facts[contact_id],
                                owned[contact_id].owner, current.get(contact_id),
                                (exclude or {}).get(contact_id, frozenset()),
                                (only_rule or {}).get(contact_id), now,
                                (refined or {}).get(contact_id))
        session.flush()  # the previous assignments stop being current first
        ctx.flush()
        if written.rows:
            session.execute(insert(table_of(Assignment)), written.rows)
            session.execute(update(Contact), written.owners)
            session.execute(insert(table_of(OutboxEvent)), written.events)
            log.info("%d contact(s) routed (%s)", len(written.rows),
                     ", ".join(sorted({r.reason for r in written.out})))
        return written.out

    def _route_one(self, ctx: LiveContext, written: _Written, contact_id: int, reason: str,
                   facts: dict[str, Any], before: str | None, previous: Assignment | None,
                   excluded: frozenset[str], rule_name: str | None, now: datetime,
                   refined: list[str] | None = None) -> None:
        """Decide one lead, close its previous assignment, and queue what to write."""
        ruleset = self.ruleset
        assert ruleset is not None
        lead = Lead(contact_id, {k: v for k, v in facts.items() if not k.startswith("_")})
        ctx.begin(lead)
        decision = decide(ruleset, lead, ctx, exclude=excluded, only_rule=rule_name)
        decision.inputs = ctx.inputs
        if rule_name is not None:
            decision.inputs["only_rule"] = rule_name
        if refined:  # the fields that re-evaluated it: each does so once
            decision.inputs["refined"] = refined
        elif previous is not None and (previous.inputs or {}).get("refined"):
            decision.inputs["refined"] = previous.inputs["refined"]
        if previous is not None and decision.owner is None and previous.owner is None \
                and decision.queue == previous.queue and reason == ON_DEMAND:
            # Still waiting in the same queue: not a new decision, so no new assignment and
            # no new event (each `crmhub assign run` announced it again).
            log.debug("contact %s stays in queue %s", contact_id, decision.queue)
            return
        if previous is not None:
            previous.current = False
            if previous.sla_state == "pending":
                previous.sla_state = "breached" if reason == SLA else "closed"
        written.rows.append(self._row(contact_id, decision, before, reason, now))
        owner_info = ruleset.owners.get(decision.owner) if decision.owner else None
        written.owners.append({"id": contact_id, "owner": decision.owner, "updated_at": now,
                               "team": owner_info.spec.team if owner_info is not None
                               else decision.queue})
        routed = Routed(contact_id, decision.owner, decision.queue, before, decision.rule,
                        decision.strategy, reason)
        log.debug("contact %s routed to %s by %s (%s)", contact_id,
                  decision.owner or f"queue {decision.queue}", decision.rule or "fallback",
                  reason)
        company_id = facts.get("_company_id")
        ctx.released(before, company_id)
        ctx.assigned(decision.owner, company_id)
        written.out.append(routed)
        written.events.append(_event(routed, ruleset, now, facts))

    @property
    def pointer_keys(self) -> list[str]:
        """Every round-robin pointer the rules may move (read in one query per batch)."""
        keys: list[str] = []
        for rule in self.ruleset.rules if self.ruleset else []:
            keys.extend(getattr(rule.strategy, "pointer_keys", list)())
        return keys

    def _row(self, contact_id: int, decision: Decision, before: str | None, reason: str,
             now: datetime) -> dict[str, Any]:
        assert self.ruleset is not None
        due = None
        if decision.owner is not None and decision.sla_seconds:
            info = self.ruleset.owners[decision.owner]
            due = info.calendar.add_business(now, decision.sla_seconds)
        return {"contact_id": contact_id, "owner": decision.owner, "queue": decision.queue,
                "previous_owner": before, "rule": decision.rule,
                "rule_index": decision.rule_index, "strategy": decision.strategy,
                "reason": reason, "by": "auto", "actor": None,
                "explanation": decision.explanation, "inputs": decision.inputs,
                "ruleset": self.ruleset.digest, "current": True, "at": now,
                "sla_seconds": decision.sla_seconds if due else None, "sla_due_at": due,
                "sla_state": "pending" if due else None, "touched_at": None}

    def assign_manual(self, session: Session, contact_id: int, owner: str, *, actor: str | None,
                      now: datetime, note: str | None = None) -> Routed:
        """``crmhub assign set``: a person's choice, which rules never override."""
        # The contact's row first, then the routing lock: the order a batch takes them in,
        # so waiting for a batch that holds this contact can never deadlock with it.
        contact = session.get(Contact, contact_id, with_for_update=True)
        if contact is None or contact.merged_into_id is not None or contact.deleted_at:
            raise LookupError(f"no live contact {contact_id}")
        if self.ruleset is not None:
            info = self.ruleset.owners.get(owner)
            if info is None:
                raise LookupError(f"no owner {owner!r} in the rules file")
            if not info.spec.active:
                raise LookupError(f"owner {owner!r} is inactive (active = false in the rules "
                                  "file): choose an active owner")
            lock_routing(session)
            sync_directory(session, self.ruleset, now)
        for previous in session.scalars(select(Assignment).where(
                Assignment.contact_id == contact_id, Assignment.current)):
            previous.current = False
            if previous.sla_state == "pending":
                previous.sla_state = "closed"
        before = contact.owner
        session.add(Assignment(
            contact_id=contact_id, owner=owner, previous_owner=before, strategy="manual",
            reason=MANUAL, by="user", actor=actor, current=True, at=now,
            explanation={"manual": {"by": actor, "note": note}}, inputs={}))
        contact.owner = owner
        info = self.ruleset.owners.get(owner) if self.ruleset is not None else None
        contact.team = info.spec.team if info is not None else contact.team
        contact.updated_at = now
        routed = Routed(contact_id, owner, None, before, None, "manual", MANUAL, actor, note)
        facts = load_facts(session, [contact_id]).get(contact_id, {})
        session.execute(insert(table_of(OutboxEvent)),
                        [_event(routed, self.ruleset, now, facts)])
        return routed

    def on_demand(self, session: Session, now: datetime, *, where: Condition | None = None,
                  reassign: bool = False, limit: int = 10_000) -> list[Routed]:
        """``crmhub assign run``: open contacts without an owner (with ``reassign``, also
        those whose owner came from the rules), never one a person assigned.

        The routing lock is taken before the contacts are chosen, so a run or an ``assign
        set`` that committed meanwhile is seen; contacts another transaction holds are
        skipped (see :meth:`route`)."""
        assert self.ruleset is not None
        lock_routing(session)
        self.rescore_open(session, now)  # the scoring file may have changed since
        chosen: dict[int, str | None] = {}
        for contact_id, owner, by, assigned in session.execute(
                select(Contact.id, Contact.owner, Assignment.by, Assignment.owner)
                .outerjoin(Assignment, (Assignment.contact_id == Contact.id)
                           & Assignment.current)
                .where(Contact.merged_into_id.is_(None), Contact.deleted_at.is_(None),
                       Contact.stage.in_(self.ruleset.settings.open_stages))
                .order_by(Contact.id)):
            if by != "user" and (owner is None or (reassign and by == "auto"
                                                   and assigned == owner)):
                chosen[contact_id] = owner
        ids = list(chosen)
        if where is not None and ids:
            facts = load_facts(session, ids, interactions=bool(
                where.fields & INTERACTION_FIELDS), now=now)
            ids = [c for c in ids if c in facts and where(facts[c])]
        ids = ids[:limit]
        return self.route(session, [(c, ON_DEMAND) for c in ids], now,
                          seen={c: chosen[c] for c in ids})

    def rescore_open(self, session: Session, now: datetime, chunk: int = 500) -> int:
        """Rescore every open lead (stage in the rules' ``open_stages``, else lead and
        prospect) and apply the transitions, as a changed scoring file requires; only
        scores whose breakdown changed are written. Returns how many changed."""
        if self.scoring is None:
            return 0
        stages = self.ruleset.settings.open_stages if self.ruleset else self.lifecycle.stages[:2]
        ids = list(session.scalars(select(Contact.id).where(
            Contact.merged_into_id.is_(None), Contact.deleted_at.is_(None),
            Contact.stage.in_(stages)).order_by(Contact.id)))
        changed = self.rescore(session, ids, now, chunk)
        if changed:
            log.info("%d open lead(s) rescored", changed)
        return changed

    def rescore(self, session: Session, ids: Sequence[int], now: datetime,
                chunk: int = 500) -> int:
        """Rescore these contacts and apply the transitions (after their golden records
        changed outside a batch, ``crmhub contacts rebuild``). Returns how many changed."""
        if self.scoring is None:
            return 0
        session.flush()
        changed = 0
        for part in chunks(list(ids), chunk):
            facts = load_facts(session, part, now=now, interactions=self.interaction_facts
                               or self.lifecycle.reads_interactions
                               or self.scoring.interaction_facts,
                               sources="sources" in self.reads)
            changed += self.scoring.rescore(session, part, now, facts)
            if self.lifecycle.enabled:
                self.lifecycle.apply(session, part, now, facts)
        return changed

    # -- the daemon's calls ------------------------------------------------------------

    def reroute_sla(self, session: Session, now: datetime) -> int:
        """Leads whose owner has not touched them within the SLA go to someone else: by
        the same rule, then the next rules that match (see :func:`decide`), excluding
        everyone who already missed it. Returns how many moved."""
        if self.ruleset is None:
            return 0
        # The routing lock first, then only rows nobody holds: a batch that holds a contact
        # and waits for the routing lock is skipped, never waited for (no deadlock).
        lock_routing(session)
        query = select(Assignment).where(Assignment.sla_state == "pending",
                                         Assignment.sla_due_at <= now,
                                         Assignment.current).order_by(Assignment.sla_due_at,
                                                                      Assignment.id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        due = list(session.scalars(query.limit(PASS_LIMIT)))
        free = _lockable(session, [a.contact_id for a in due])
        due = [a for a in due if a.contact_id in free]
        to_route: list[tuple[int, str]] = []
        exclude: dict[int, frozenset[str]] = {}
        only: dict[int, str] = {}
        sources: dict[int, str] = {}
        for assignment in due:
            contact = session.get(Contact, assignment.contact_id)
            if contact is None or contact.merged_into_id is not None or contact.deleted_at \
                    or contact.owner != assignment.owner \
                    or contact.stage not in self.ruleset.settings.open_stages:
                assignment.sla_state = "closed"
                continue
            info = self.ruleset.owners.get(assignment.owner or "")
            touch = find_touch(session, assignment.contact_id, info, assignment.at, now) \
                if info is not None else None
            if touch is not None:
                assignment.sla_state = "met"
                assignment.touched_at = touch
                continue
            missed = set((assignment.explanation or {}).get("exclude", []))
            if assignment.owner:
                missed.add(assignment.owner)
            exclude[assignment.contact_id] = frozenset(missed)
            if assignment.rule:
                only[assignment.contact_id] = assignment.rule
            source = ((assignment.inputs or {}).get("facts") or {}).get("source")
            if source:
                sources[assignment.contact_id] = str(source)
            to_route.append((assignment.contact_id, SLA))
        routed = self.route(session, to_route, now, exclude=exclude, only_rule=only,
                            seen={a.contact_id: a.owner for a in due}, sources=sources)
        return len(routed)

    def periodic(self, session: Session, now: datetime) -> dict[str, int]:
        """The daemon's regular pass: SLA re-routing, contacts of owners who became
        inactive, and scores whose activity points decayed."""
        if self.ruleset is not None:
            lock_routing(session)
            sync_directory(session, self.ruleset, now)  # removed owners show as inactive
        out = {"sla": self.reroute_sla(session, now), "inactive": 0, "rescored": 0}
        if not self._open_rescored:
            # The first pass after the daemon started or reloaded: the scoring file may
            # have changed while no daemon ran it.
            out["rescored"] += self.rescore_open(session, now)
            self._open_rescored = True
        if self.ruleset is not None and self.ruleset.settings.reroute_inactive:
            lock_routing(session)
            # Filtered before the limit: contacts kept by hand never crowd out the others.
            ids = self._orphans(session, limit=PASS_LIMIT)
            moved = self.route(session, [(c, OWNER_INACTIVE) for c in ids], now)
            out["inactive"] = len(moved)
        if self.scoring is not None:
            out["rescored"] += self.scoring.rescore_decayed(session, now)
        return out


_ANY = object()  # no owner seen by the caller: any owner will do


@dataclass
class _Written:
    """What one routing pass writes in bulk at its end."""

    out: list[Routed] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # assignments
    owners: list[dict[str, Any]] = field(default_factory=list)  # contacts' owner and team
    events: list[dict[str, Any]] = field(default_factory=list)  # outbox


def _lock_routable(session: Session, contacts: list[tuple[int, str]],
                   seen: Mapping[int, str | None],
                   ) -> tuple[dict[int, Any], dict[int, Assignment], list[tuple[int, str]]]:
    """Lock the contacts' rows and read them again: their rows, their current assignments,
    and those still to route (each other one is logged with the reason it is not)."""
    ids = [c for c, _ in contacts]
    owned = _hold(session, ids)
    current = {a.contact_id: a for chunk in chunks(ids) for a in session.scalars(
        select(Assignment).where(Assignment.contact_id.in_(chunk), Assignment.current)
        .execution_options(populate_existing=True))}
    routable: list[tuple[int, str]] = []
    for contact_id, reason in contacts:
        why = _not_routable(owned.get(contact_id), current.get(contact_id),
                            seen.get(contact_id, _ANY))
        if why is None:
            routable.append((contact_id, reason))
        else:
            log.info("contact %s not routed (%s): %s", contact_id, reason, why)
    return owned, current, routable


def _hold(session: Session, contact_ids: list[int]) -> dict[int, Any]:
    """The contacts' rows as committed now, locked for this transaction. On PostgreSQL a
    row another transaction holds is left out, never waited for: that transaction may be
    a batch waiting for the routing lock this one holds, or ``assign set``."""
    query = select(Contact.id, Contact.owner, Contact.merged_into_id, Contact.deleted_at)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return {row.id: row for chunk in chunks(sorted(set(contact_ids)))
            for row in session.execute(query.where(Contact.id.in_(chunk)))}


def _not_routable(contact: Any, assignment: Assignment | None, seen: object) -> str | None:
    """Why rules must leave this contact alone now, or ``None``."""
    if contact is None:
        return "another transaction holds it, or it is gone"
    if contact.merged_into_id is not None or contact.deleted_at:
        return "no longer a live contact"
    if seen is not _ANY and contact.owner != seen:
        return f"its owner changed to {contact.owner} meanwhile"
    if assignment is not None and assignment.by == "user":
        return f"assigned to {assignment.owner} by {assignment.actor or 'a user'}"
    if contact.owner is not None and (assignment is None or assignment.owner != contact.owner):
        return f"its owner {contact.owner} was set by hand"
    return None


def _event(routed: Routed, ruleset: RuleSet | None, now: datetime,
           facts: Mapping[str, Any]) -> dict[str, Any]:
    kind = "contact.assigned" if routed.previous is None else "contact.reassigned"
    owner = _person(routed.owner, ruleset)
    # Who else should hear of it: the owner the lead leaves, and, for a lead left in a
    # queue, the manager of the queue's (first) team.
    previous = _person(routed.previous, ruleset) if routed.previous != routed.owner else None
    managers = ruleset.queue_managers(routed.queue) \
        if ruleset is not None and routed.queue and routed.owner is None else []
    manager = _person(managers[0], ruleset) if managers else None
    # The addresses as the sources wrote them (the golden record's), not the matching keys
    # (a Gmail address without its dots).
    shown = facts.get("_shown") or {}
    emails, phones = shown.get("email") or [], shown.get("phone") or []
    contact = {"name": facts.get("contact.full_name"), "email": emails[0] if emails else None,
               "phone": phones[0] if phones else None, "company": facts.get("company.name")}
    payload = {**routed.as_dict(), "owner": owner, "owner_id": routed.owner,
               "contact": contact}
    if previous is not None:
        payload["previous"] = previous
    if manager is not None:
        payload["queue_manager"] = manager
    return {"type": kind, "payload": payload, "created_at": now, "attempts": 0}


def _person(owner_id: str | None, ruleset: RuleSet | None) -> dict[str, Any] | None:
    """An owner as events name them: id, name, e-mail addresses, team."""
    if owner_id is None:
        return None
    info = ruleset.owners.get(owner_id) if ruleset is not None else None
    return {"id": owner_id, "name": (info.spec.name or owner_id) if info else owner_id,
            "emails": list(info.spec.emails) if info else [],
            "team": info.spec.team if info else None}


def _lockable(session: Session, contact_ids: list[int]) -> set[int]:
    """The contacts whose rows this transaction could lock now (PostgreSQL; all on SQLite)."""
    if not contact_ids or session.get_bind().dialect.name != "postgresql":
        return set(contact_ids)
    free: set[int] = set()
    for chunk in chunks(sorted(set(contact_ids))):
        free.update(session.scalars(select(Contact.id).where(Contact.id.in_(chunk))
                                    .with_for_update(skip_locked=True)))
    return free




__all__ = ["MANUAL", "NEW", "ON_DEMAND", "OWNER_INACTIVE", "SLA", "Routed", "Routing",
           "strategy_classes"]
