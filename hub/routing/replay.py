"""Replay (shadow mode): past routing decisions run again with a draft rule set.

Nothing is written. Each live decision stored what it read (the lead's facts, pointer
positions, open leads, daily and monthly counts, account owners), and the replay serves
those answers back. As long as the draft decides like the live rules did, the replayed
world *is* the live one, so an unchanged rule set reproduces every decision exactly.

Where the draft decides differently the two worlds drift apart, and the replay tracks the
difference, lead by lead:

* a round-robin pointer that moved otherwise is simulated from then on;
* loads and counts are the live ones corrected by the leads the draft gave to someone
  else (owners the live decision never considered start from their load at the time of
  replay and their assignment history);
* account owners: while no colleague of the lead has another owner in the draft, the
  recorded answer; otherwise the draft's owners of the colleagues, counted again;
* SLAs follow the draft: a live re-route happens in the draft only when the draft's owner
  of the lead let the draft's SLA lapse without a touch (a synced or recorded one); a
  lead whose draft SLA lapses where the live one did not is re-routed at that moment,
  a decision only the draft makes.

The report counts leads, not decisions: each lead once, with the owner it has after the
last live decision (before) and in the draft (after).
"""

from __future__ import annotations

import copy
import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.config import parse_duration
from hub.routing.decide import Decision, decide
from hub.routing.model import Assignment
from hub.routing.rules import OwnerInfo, RuleSet
from hub.routing.sla import find_touch
from hub.routing.strategies import Lead
from hub.store.db import chunks
from hub.store.model import CompanyDomain, Contact


def _label(owner: str | None, queue: str | None) -> str:
    return owner if owner is not None else f"queue:{queue}"


def _pointer_state(value: dict[str, Any] | None) -> tuple[Any, ...]:
    value = value or {}
    return (value.get("position", 0), value.get("last_owner"),
            tuple(sorted((value.get("weights") or {}).items())))


_KEEP: Any = object()  # no decision in that world


class ReplayContext:
    """Serves a live decision's recorded answers, corrected for the draft's divergence."""

    def __init__(self, session: Session, ruleset: RuleSet):
        self.session = session
        self.ruleset = ruleset
        self.now: datetime = datetime.min
        self.stored: dict[str, Any] = {}
        self.contact_id = 0
        self.sim_pointers: dict[str, dict[str, Any]] = {}
        self.diverged: set[str] = set()
        self.live_open: dict[str, int] = {}
        self.delta_open: Counter[str] = Counter()
        self.live_period: dict[tuple[str, str], int] = {}
        self.delta_period: Counter[tuple[str, str]] = Counter()
        self._current_open: dict[str, int] | None = None
        self.moved: set[str] = set()  # the pointers the draft moved in this decision
        # Each replayed lead's owner in the live world and in the draft's.
        self.live_of: dict[int, str | None] = {}
        self.sim_of: dict[int, str | None] = {}
        self.split: set[int] = set()  # the leads whose owners differ between the worlds
        self.before_window: dict[int, str | None] = {}  # owners before their first decision
        self._staff: dict[int, list[int]] = {}
        self._company_of: dict[int, int | None] = {}
        self._owner_now: dict[int, str | None] = {}

    def begin(self, row: Assignment | None, contact_id: int, at: datetime) -> None:
        """The next decision: a live one (``row``, its recorded answers) or one only the
        draft makes (nothing recorded: everything comes from the simulation)."""
        self.now = at
        self.stored = (row.inputs or {}) if row is not None else {}
        self.contact_id = contact_id
        self.moved = set()
        if contact_id not in self.live_of:
            first = self.before_window.get(contact_id)
            self.live_of[contact_id] = self.sim_of[contact_id] = first
        for owner, value in (self.stored.get("open") or {}).items():
            self.live_open[owner] = int(value)
        for kind in ("day", "month"):
            for owner, value in (self.stored.get(kind) or {}).items():
                info = self.ruleset.owners.get(owner)
                if info is not None:
                    self.live_period[(owner, self._period_key(info, kind))] = int(value)

    def _period_key(self, info: OwnerInfo, kind: str) -> str:
        return info.calendar.day_key(self.now) if kind == "day" else \
            info.calendar.month_key(self.now)

    def _period_keys(self, owner: str) -> list[tuple[str, str]]:
        info = self.ruleset.owners.get(owner)
        return [] if info is None else [(owner, self._period_key(info, kind))
                                        for kind in ("day", "month")]

    def record(self, contact_id: int, *, live: Any = _KEEP, sim: Any = _KEEP) -> None:
        """After a decision: the live world gave the lead to ``live``, the draft to ``sim``
        (``_KEEP``: that world made no decision). Loads follow each lead's owner in both
        worlds; daily and monthly counts follow the decisions."""
        same = live is not _KEEP and live == sim  # the counts move alike in both worlds
        if live is not _KEEP and live is not None:
            keys = self._period_keys(live)
            for key in keys:
                if key in self.live_period:
                    self.live_period[key] += 1
                if not same:
                    self.delta_period[key] -= 1
        if sim is not _KEEP and sim is not None and not same:
            for key in self._period_keys(sim):
                self.delta_period[key] += 1
        old_live, old_sim = self.live_of.get(contact_id), self.sim_of.get(contact_id)
        new_live = old_live if live is _KEEP else live
        new_sim = old_sim if sim is _KEEP else sim
        if new_live != old_live:
            for owner, step in ((old_live, -1), (new_live, 1)):
                if owner is not None and owner in self.live_open:
                    self.live_open[owner] += step
        for owner, step in ((old_sim, -1), (old_live, 1), (new_sim, 1), (new_live, -1)):
            if owner is not None:
                self.delta_open[owner] += step
        self.live_of[contact_id], self.sim_of[contact_id] = new_live, new_sim
        if new_live != new_sim:
            self.split.add(contact_id)
        else:
            self.split.discard(contact_id)

    # -- the Context protocol ------------------------------------------------------------

    def pool(self, team: str | None, owners: list[str]) -> list[str]:
        members = list(self.ruleset.members.get(team, [])) if team else []
        return list(dict.fromkeys([*members, *owners]))

    def pointer(self, key: str) -> dict[str, Any]:
        recorded = (self.stored.get("pointers") or {}).get(key)
        if key in self.diverged or recorded is None:
            return self.sim_pointers.setdefault(key, {"position": 0, "last_owner": None,
                                                      "weights": {}, "assigned": 0})
        return copy.deepcopy(recorded)

    def set_pointer(self, key: str, value: dict[str, Any]) -> None:
        self.moved.add(key)
        self.sim_pointers[key] = dict(value)
        live_after = (self.stored.get("pointers_after") or {}).get(key)
        if live_after is not None and _pointer_state(live_after) == _pointer_state(value):
            self.diverged.discard(key)
        else:
            self.diverged.add(key)

    def settle_pointers(self) -> None:
        """After a live decision: a pointer the live rules moved and the draft did not is
        the draft's own from now on, where it stood before the live decision."""
        recorded = self.stored.get("pointers") or {}
        for key in self.stored.get("pointers_after") or {}:
            if key not in self.moved and key not in self.diverged:
                self.diverged.add(key)
                self.sim_pointers[key] = copy.deepcopy(recorded.get(key) or {
                    "position": 0, "last_owner": None, "weights": {}, "assigned": 0})

    def open_leads(self, owner: str) -> int:
        if owner not in self.live_open:
            if self._current_open is None:
                self._current_open = {o: n for o, n in self.session.execute(
                    select(Contact.owner, func.count()).where(
                        Contact.owner.is_not(None),
                        Contact.stage.in_(self.ruleset.settings.open_stages),
                        Contact.merged_into_id.is_(None), Contact.deleted_at.is_(None))
                    .group_by(Contact.owner)) if o is not None}
            self.live_open[owner] = self._current_open.get(owner, 0)
        return max(0, self.live_open[owner] + self.delta_open[owner])

    def period_counts(self, owner: OwnerInfo) -> tuple[int, int]:
        out = []
        for kind in ("day", "month"):
            key = (owner.id, self._period_key(owner, kind))
            if key not in self.live_period:
                start = owner.calendar.day_start(self.now) if kind == "day" else \
                    owner.calendar.month_start(self.now)
                self.live_period[key] = self.session.scalar(
                    select(func.count()).select_from(Assignment).where(
                        Assignment.owner == owner.id, Assignment.at >= start,
                        Assignment.at < self.now)) or 0
            out.append(max(0, self.live_period[key] + self.delta_period[key]))
        return out[0], out[1]

    def account_owners(self, lead: Lead) -> list[str]:
        """The recorded answer while the lead's colleagues have the same owners in both
        worlds; else the company's owner, then the draft's owners of the colleagues
        (most colleagues first, then by name), the lead itself never among them."""
        if "account" in self.stored and not self.split:
            return list(self.stored["account"])  # no lead has another owner in the draft
        colleagues = self._colleagues(lead)
        if "account" in self.stored and not self.split.intersection(colleagues):
            return list(self.stored["account"])
        found = [str(lead.facts["company.owner"])] if lead.facts.get("company.owner") else []
        counts: Counter[str] = Counter()
        for colleague in colleagues:
            owner = self.sim_of[colleague] if colleague in self.sim_of else \
                self.before_window.get(colleague, self._owner_now.get(colleague))
            if owner is not None:
                counts[owner] += 1
        found += [o for o, _ in sorted(counts.items(), key=lambda i: (-i[1], i[0]))]
        return list(dict.fromkeys(found))

    def _colleagues(self, lead: Lead) -> list[int]:
        """Live contacts of the lead's company or of its e-mail domain's, the lead aside."""
        session = self.session
        if lead.contact_id not in self._company_of:
            self._company_of[lead.contact_id] = session.scalar(
                select(Contact.company_id).where(Contact.id == lead.contact_id))
        companies = {self._company_of[lead.contact_id]}
        domain = lead.facts.get("contact.email_domain")
        if domain:
            companies.update(session.scalars(select(CompanyDomain.company_id).where(
                CompanyDomain.domain == domain)))
        out: list[int] = []
        for company_id in sorted(c for c in companies if c is not None):
            if company_id not in self._staff:
                rows = session.execute(select(Contact.id, Contact.owner).where(
                    Contact.company_id == company_id, Contact.merged_into_id.is_(None),
                    Contact.deleted_at.is_(None))).all()
                self._staff[company_id] = [r.id for r in rows]
                self._owner_now.update((r.id, r.owner) for r in rows)
            out += [c for c in self._staff[company_id] if c != lead.contact_id]
        return list(dict.fromkeys(out))

    def owner_weight(self, owner: str) -> float:
        info = self.ruleset.owners.get(owner)
        return info.spec.weight if info is not None else 1.0

    def owner_capacity(self, owner: str) -> int | None:
        info = self.ruleset.owners.get(owner)
        return info.spec.capacity if info is not None else None


@dataclass
class _SimLead:
    """A lead as the draft has it: its owner (or queue), the rule and its SLA."""

    owner: str | None
    queue: str | None
    rule: str | None
    at: datetime
    due: datetime | None
    exclude: frozenset[str]
    facts: dict[str, Any]
    version: int = 0


@dataclass
class ReplayReport:
    since: datetime
    decisions: int = 0  # live decisions replayed, all of them
    leads: int = 0  # the leads reported (those ``--as`` may see, or all)
    changed: int = 0  # leads whose owner differs
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    moves: list[dict[str, Any]] = field(default_factory=list)
    sla_not_rerouted: int = 0  # live SLA re-routes the draft would not have made
    sla_rerouted: int = 0  # SLA re-routes only the draft makes
    same_ruleset: bool = False
    # Each reported lead: (before, after), owner or "queue:NAME" (not in as_dict: large).
    leads_by_contact: dict[int, tuple[str, str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        owners = sorted(set(self.before) | set(self.after))
        return {"since": self.since.isoformat(), "decisions": self.decisions,
                "leads": self.leads, "changed": self.changed,
                "same_ruleset": self.same_ruleset, "sla_not_rerouted": self.sla_not_rerouted,
                "sla_rerouted": self.sla_rerouted,
                "owners": [{"owner": o, "before": self.before[o], "after": self.after[o],
                            "change": self.after[o] - self.before[o]} for o in owners],
                "moves": self.moves}


Sees = Callable[[str | None, str | None], bool]  # (owner, queue) -> visible


class _Replay:
    """One replay: the live decisions in order, with the draft's own SLA re-routes
    interleaved at the moments they fall due."""

    def __init__(self, session: Session, ruleset: RuleSet, since: datetime,
                 until: datetime | None, end: datetime):
        self.session, self.ruleset, self.end = session, ruleset, end
        self.ctx = ReplayContext(session, ruleset)
        self.sim: dict[int, _SimLead] = {}
        self.live: dict[int, tuple[str | None, str | None, str | None, datetime]] = {}
        self.live_due: dict[int, datetime | None] = {}
        self.due: list[tuple[datetime, int, int, int]] = []  # (due, seq, contact, version)
        self.seq = 0
        self.report = ReplayReport(since=since)
        self.query = select(Assignment).where(Assignment.by == "auto", Assignment.at >= since)
        if until is not None:
            self.query = self.query.where(Assignment.at < until)
        self._first_owners()

    def _first_owners(self) -> None:
        """Each lead's owner before its first decision in the window, in both worlds."""
        first = self.ctx.before_window
        for contact_id, previous in self.session.execute(
                self.query.with_only_columns(Assignment.contact_id, Assignment.previous_owner)
                .order_by(Assignment.at, Assignment.id)):
            first.setdefault(contact_id, previous)

    def run(self) -> ReplayReport:
        digests: set[str | None] = set()
        for row in self.session.scalars(self.query.order_by(Assignment.at, Assignment.id)
                                        .execution_options(yield_per=2000)):
            self._lapse(row.at)
            digests.add(row.ruleset)
            self._live(row)
            self.session.expunge(row)
        self._lapse(self.end, inclusive=True)
        self.report.same_ruleset = digests == {self.ruleset.digest}
        return self.report

    def _live(self, row: Assignment) -> None:
        contact_id = row.contact_id
        self.report.decisions += 1
        self.live[contact_id] = (row.owner, row.queue, row.rule, row.at)
        self.live_due[contact_id] = row.sla_due_at
        ctx = self.ctx
        ctx.begin(row, contact_id, row.at)
        inputs = row.inputs or {}
        facts = inputs.get("facts") or {}
        state = self.sim.get(contact_id)
        if row.reason == "sla" and state is not None:
            if not self._lapsed(contact_id, state, row.at):
                # The draft's owner still has the lead: the live re-route does not happen.
                self.report.sla_not_rerouted += 1
                ctx.settle_pointers()
                ctx.record(contact_id, live=row.owner)
                return
            exclude = state.exclude | ({state.owner} if state.owner else set())
            decision = decide(self.ruleset, Lead(contact_id, facts), ctx,
                              exclude=frozenset(exclude), only_rule=state.rule)
        else:
            exclude = frozenset((row.explanation or {}).get("exclude") or ())
            decision = decide(self.ruleset, Lead(contact_id, facts), ctx, exclude=exclude,
                              only_rule=inputs.get("only_rule"))
        ctx.settle_pointers()
        ctx.record(contact_id, live=row.owner, sim=decision.owner)
        self._settle(contact_id, decision, row.at, facts)

    def _settle(self, contact_id: int, decision: Decision, at: datetime,
                facts: dict[str, Any]) -> None:
        """The draft's state of the lead after its decision, with its SLA due."""
        due = None
        if decision.owner is not None and decision.sla_seconds:
            due = self.ruleset.owners[decision.owner].calendar.add_business(
                at, decision.sla_seconds)
        previous = self.sim.get(contact_id)
        state = _SimLead(decision.owner, decision.queue, decision.rule, at, due,
                         frozenset((decision.explanation or {}).get("exclude") or ()), facts,
                         (previous.version + 1) if previous else 0)
        self.sim[contact_id] = state
        if due is not None:
            self.seq += 1
            heapq.heappush(self.due, (due, self.seq, contact_id, state.version))

    def _lapsed(self, contact_id: int, state: _SimLead, at: datetime) -> bool:
        """Whether the draft's SLA on the lead ran out by ``at`` with no touch by its
        draft owner."""
        if state.due is None or state.due > at or state.owner is None:
            return False
        info = self.ruleset.owners.get(state.owner)
        return info is None or find_touch(self.session, contact_id, info, state.at,
                                          at) is None

    def _lapse(self, until: datetime, inclusive: bool = False) -> None:
        """The draft's SLAs that run out before ``until`` and that no live re-route of the
        same assignment answers: re-routed by the draft alone, when they fall due."""
        while self.due and (self.due[0][0] < until or (inclusive and self.due[0][0] <= until)):
            due, _, contact_id, version = heapq.heappop(self.due)
            state = self.sim[contact_id]
            if state.version != version:
                continue
            same = self.ctx.live_of.get(contact_id) == state.owner and \
                self.live_due.get(contact_id) == due
            if same:
                continue  # the live world has the same SLA running: its re-route answers
            if not self._lapsed(contact_id, state, due) or not self._open_now(contact_id):
                state.due = None  # touched in time (or no longer a lead)
                continue
            self.report.sla_rerouted += 1
            ctx = self.ctx
            ctx.begin(None, contact_id, due)
            exclude = state.exclude | ({state.owner} if state.owner else set())
            decision = decide(self.ruleset, Lead(contact_id, state.facts), ctx,
                              exclude=frozenset(exclude), only_rule=state.rule)
            ctx.record(contact_id, sim=decision.owner)
            self._settle(contact_id, decision, due, state.facts)

    def _open_now(self, contact_id: int) -> bool:
        """Whether the lead is still a live, open lead (a draft-only re-route is only
        imagined for those: when a closed one closed is not known)."""
        stage = self.session.scalar(select(Contact.stage).where(
            Contact.id == contact_id, Contact.merged_into_id.is_(None),
            Contact.deleted_at.is_(None)))
        return stage in self.ruleset.settings.open_stages

    def finish(self, sees: Sees | None, limit_moves: int | None) -> ReplayReport:
        """Count each lead once: the live owner after its last decision, the draft's."""
        report = self.report
        ids = sorted(self.live)
        gone: set[int] = set()
        manual: dict[int, str | None] = {}
        for chunk in chunks(ids):
            gone.update(self.session.scalars(select(Contact.id).where(
                Contact.id.in_(chunk),
                Contact.merged_into_id.is_not(None) | Contact.deleted_at.is_not(None))))
            manual.update(self.session.execute(select(Assignment.contact_id, Assignment.owner)
                                               .where(Assignment.contact_id.in_(chunk),
                                                      Assignment.current,
                                                      Assignment.by == "user")).all())
        for contact_id in ids:
            if contact_id in gone:
                continue
            live_owner, live_queue, live_rule, at = self.live[contact_id]
            state = self.sim[contact_id]
            sim_owner, sim_queue, sim_rule = state.owner, state.queue, state.rule
            if contact_id in manual:  # a person's choice stands in both worlds
                live_owner = sim_owner = manual[contact_id]
                live_queue = sim_queue = None
            if sees is not None and not (sees(live_owner, live_queue)
                                         or sees(sim_owner, sim_queue)):
                continue
            before, after = _label(live_owner, live_queue), _label(sim_owner, sim_queue)
            report.leads_by_contact[contact_id] = (before, after)
            report.leads += 1
            report.before[before] += 1
            report.after[after] += 1
            if before != after:
                report.changed += 1
                if limit_moves is None or len(report.moves) < limit_moves:
                    report.moves.append({
                        "contact_id": contact_id, "at": max(at, state.at).isoformat(),
                        "before": before, "after": after, "rule_before": live_rule,
                        "rule_after": sim_rule})
        return report


def replay(session: Session, ruleset: RuleSet, *, since: datetime,
           until: datetime | None = None, limit_moves: int | None = None,
           sees: Sees | None = None, now: datetime | None = None) -> ReplayReport:
    """Replay every automatic decision since ``since`` with ``ruleset``; writes nothing.

    ``sees``: which leads are reported, by their owner or queue before or after
    (``rules test --as``: the leads that owner keeps, loses or gains). Every decision is
    still replayed, since pointers and loads depend on all of them. ``now`` ends the
    window in which the draft's own SLAs may run out (default: ``until``, else the newest
    decision)."""
    end = until or now
    if end is None:
        end = session.scalar(select(func.max(Assignment.at)).where(
            Assignment.by == "auto", Assignment.at >= since)) or since
    run = _Replay(session, ruleset, since, until, end)
    run.run()
    return run.finish(sees, limit_moves)


def parse_since(text: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``2w`` ago, or an ISO date/time."""
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        value = datetime.fromisoformat(text)
        return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)
