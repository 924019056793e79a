"""Replay (shadow mode): past routing decisions run again with a draft rule set.

Nothing is written. Each live decision stored what it read (the lead's facts, pointer
positions, open leads, daily and monthly counts, account owners), and the replay serves
those answers back. As long as the draft decides like the live rules did, the replayed
world *is* the live one, so an unchanged rule set reproduces every decision exactly.

Where the draft decides differently the two worlds drift apart, and the replay tracks the
difference: a round-robin pointer that moved otherwise is simulated from then on, and
loads and counts are the live ones corrected by the leads the draft gave to someone else.
Owners the live decision never considered start from their load at the time of replay
and their assignment history. SLA re-routes are replayed with the owners excluded live.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.config import parse_duration
from hub.routing.decide import Decision, decide
from hub.routing.live import colleague_owners
from hub.routing.model import Assignment
from hub.routing.rules import OwnerInfo, RuleSet
from hub.routing.strategies import Lead
from hub.store.model import Contact


def _label(owner: str | None, queue: str | None) -> str:
    return owner if owner is not None else f"queue:{queue}"


def _pointer_state(value: dict[str, Any] | None) -> tuple[Any, ...]:
    value = value or {}
    return (value.get("position", 0), value.get("last_owner"),
            tuple(sorted((value.get("weights") or {}).items())))


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

    def begin(self, row: Assignment) -> None:
        self.now = row.at
        self.stored = row.inputs or {}
        self.contact_id = row.contact_id
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

    def settle(self, live_owner: str | None, sim_owner: str | None) -> None:
        """After a decision: the live world gave the lead to ``live_owner``, the draft to
        ``sim_owner``; follow the first and keep the difference."""
        if live_owner is not None:
            if live_owner in self.live_open:
                self.live_open[live_owner] += 1
            info = self.ruleset.owners.get(live_owner)
            if info is not None:
                for kind in ("day", "month"):
                    key = (live_owner, self._period_key(info, kind))
                    if key in self.live_period:
                        self.live_period[key] += 1
        if live_owner == sim_owner:
            return
        for owner, step in ((live_owner, -1), (sim_owner, 1)):
            if owner is None:
                continue
            self.delta_open[owner] += step
            info = self.ruleset.owners.get(owner)
            if info is not None:
                for kind in ("day", "month"):
                    self.delta_period[(owner, self._period_key(info, kind))] += step

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
        self.sim_pointers[key] = dict(value)
        live_after = (self.stored.get("pointers_after") or {}).get(key)
        if live_after is not None and _pointer_state(live_after) == _pointer_state(value):
            self.diverged.discard(key)
        else:
            self.diverged.add(key)

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
        if "account" in self.stored:
            return list(self.stored["account"])
        found = [str(lead.facts["company.owner"])] if lead.facts.get("company.owner") else []
        found += colleague_owners(self.session, lead)
        return list(dict.fromkeys(found))

    def owner_weight(self, owner: str) -> float:
        info = self.ruleset.owners.get(owner)
        return info.spec.weight if info is not None else 1.0

    def owner_capacity(self, owner: str) -> int | None:
        info = self.ruleset.owners.get(owner)
        return info.spec.capacity if info is not None else None


@dataclass
class ReplayReport:
    since: datetime
    decisions: int = 0
    changed: int = 0
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    moves: list[dict[str, Any]] = field(default_factory=list)
    same_ruleset: bool = False

    def as_dict(self) -> dict[str, Any]:
        owners = sorted(set(self.before) | set(self.after))
        return {"since": self.since.isoformat(), "decisions": self.decisions,
                "changed": self.changed, "same_ruleset": self.same_ruleset,
                "owners": [{"owner": o, "before": self.before[o], "after": self.after[o],
                            "change": self.after[o] - self.before[o]} for o in owners],
                "moves": self.moves}


def replay(session: Session, ruleset: RuleSet, *, since: datetime,
           until: datetime | None = None, limit_moves: int | None = None,
           only: Container[int] | None = None) -> ReplayReport:
    """Replay every automatic decision since ``since`` with ``ruleset``; writes nothing.

    ``only``: the contacts whose decisions are reported (``rules test --as``). Every
    decision is still replayed, since pointers and loads depend on all of them."""
    report = ReplayReport(since=since)
    ctx = ReplayContext(session, ruleset)
    digests: set[str | None] = set()
    query = select(Assignment).where(Assignment.by == "auto", Assignment.at >= since) \
        .order_by(Assignment.at, Assignment.id).execution_options(yield_per=2000)
    if until is not None:
        query = query.where(Assignment.at < until)
    for row in session.scalars(query):
        digests.add(row.ruleset)
        ctx.begin(row)
        facts = (row.inputs or {}).get("facts") or {}
        exclude = frozenset((row.explanation or {}).get("exclude") or ())
        decision: Decision = decide(ruleset, Lead(row.contact_id, facts), ctx, exclude=exclude,
                                    only_rule=(row.inputs or {}).get("only_rule"))
        ctx.settle(row.owner, decision.owner)
        if only is not None and row.contact_id not in only:
            session.expunge(row)
            continue
        before, after = _label(row.owner, row.queue), _label(decision.owner, decision.queue)
        report.decisions += 1
        report.before[before] += 1
        report.after[after] += 1
        if before != after:
            report.changed += 1
            if limit_moves is None or len(report.moves) < limit_moves:
                report.moves.append({
                    "contact_id": row.contact_id, "at": row.at.isoformat(),
                    "before": before, "after": after, "rule_before": row.rule,
                    "rule_after": decision.rule, "reason": row.reason})
        session.expunge(row)
    report.same_ruleset = digests == {ruleset.digest}
    return report


def parse_since(text: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``2w`` ago, or an ISO date/time."""
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        value = datetime.fromisoformat(text)
        return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)
