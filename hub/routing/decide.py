"""One routing decision: rules in order, candidates in order, the first available owner.

The decision is a pure function of the rule set, the lead's facts and what the context
answers (pointers, loads, counts, account owners). The live context reads the database and
records every answer in ``inputs``; the replay context serves those answers back, which is
why a replay with an unchanged rule set gives exactly the live decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hub.routing.rules import OwnerInfo, Rule, RuleSet
from hub.routing.strategies import Context, Lead

# Why a candidate was passed over (the decision log's vocabulary).
INACTIVE = "inactive"
UNKNOWN = "unknown_owner"
EXCLUDED = "excluded"
OUT_OF_OFFICE = "out_of_office"
OUTSIDE_HOURS = "outside_working_hours"
OVER_CAPACITY = "over_capacity"
OVER_DAILY_CAP = "over_daily_cap"
OVER_MONTHLY_CAP = "over_monthly_cap"


class DecisionContext(Context, Protocol):
    """A strategy context that also answers the engine's availability questions."""

    def period_counts(self, owner: OwnerInfo) -> tuple[int, int]: ...


@dataclass
class Decision:
    """The outcome and its story (``explanation``) and what it read (``inputs``)."""

    owner: str | None
    queue: str | None
    rule: str | None
    rule_index: int | None
    strategy: str
    sla_seconds: float | None
    explanation: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)


def skip_reason(ruleset: RuleSet, owner_id: str, rule: Rule | None, ctx: DecisionContext,
                exclude: frozenset[str], now: datetime) -> tuple[str, str] | None:
    """``(reason, detail)`` when ``owner_id`` cannot take a lead now, else ``None``."""
    info = ruleset.owners.get(owner_id)
    if info is None:
        return UNKNOWN, "not in the rules file"
    spec = info.spec
    if not spec.active:
        return INACTIVE, "marked inactive (or removed from the rules file)"
    if owner_id in exclude:
        return EXCLUDED, "excluded: missed the SLA on this lead"
    for absence in info.absences:
        if absence.covers(now):
            return OUT_OF_OFFICE, f"out of office until {absence.end.isoformat()}"
    if rule is not None and rule.working_hours_only and not info.calendar.working(now):
        return OUTSIDE_HOURS, f"outside working hours ({info.calendar.tz.key})"
    if spec.capacity is not None:
        load = ctx.open_leads(owner_id)
        if load >= spec.capacity:
            return OVER_CAPACITY, f"{load} open leads, capacity {spec.capacity}"
    daily = rule.daily_cap if rule is not None and rule.daily_cap is not None else spec.daily_cap
    monthly = rule.monthly_cap if rule is not None and rule.monthly_cap is not None \
        else spec.monthly_cap
    if daily is not None or monthly is not None:
        today, month = ctx.period_counts(info)
        if daily is not None and today >= daily:
            return OVER_DAILY_CAP, f"{today} leads today, daily cap {daily}"
        if monthly is not None and month >= monthly:
            return OVER_MONTHLY_CAP, f"{month} leads this month, monthly cap {monthly}"
    return None


def decide(ruleset: RuleSet, lead: Lead, ctx: DecisionContext, *,
           exclude: frozenset[str] = frozenset(), only_rule: str | None = None) -> Decision:
    """Route one lead.

    ``only_rule``: an SLA re-route starts with the rule that routed the lead. That rule
    already matched the lead, so its condition is not read again (a score that moved
    since must not drop the lead to the fallback). When its candidates are exhausted,
    the rules after it whose conditions match are tried before the fallback, unless the
    rule says ``sla_stay_in_rule``. A rule no longer in the set: the rules from the top."""
    now = ctx.now
    tried: list[dict[str, Any]] = []
    first_match: int | None = None
    start = next((r for r in ruleset.rules if r.name == only_rule), None) \
        if only_rule is not None else None
    for rule in ruleset.rules:
        if start is not None and rule.index < start.index:
            continue
        if start is not None and rule is not start and start.sla_stay_in_rule:
            break
        if rule is not start and not rule.condition(lead.facts):
            continue
        if first_match is None:
            first_match = rule.index
        plan = rule.strategy.plan(lead, ctx)
        candidates: list[dict[str, Any]] = []
        eligible: list[str] = []
        for owner in plan.candidates:
            why = skip_reason(ruleset, owner, rule, ctx, exclude, now)
            if why is None:
                eligible.append(owner)
                candidates.append({"owner": owner, "skipped": None})
                if not _needs_all(rule):
                    break
            else:
                candidates.append({"owner": owner, "skipped": why[0], "detail": why[1]})
        entry: dict[str, Any] = {"rule": rule.name, "index": rule.index,
                                 "strategy": rule.strategy.name, "candidates": candidates,
                                 "note": plan.note}
        tried.append(entry)
        if not eligible:
            entry["outcome"] = "no available owner" if plan.candidates else "no candidate"
            continue
        chosen = eligible[0]
        rule.strategy.chosen(lead, ctx, plan, chosen, eligible)
        for candidate in candidates:
            if candidate["owner"] == chosen:
                candidate["chosen"] = True
        entry["outcome"] = f"assigned to {chosen}"
        return Decision(chosen, None, rule.name, rule.index, rule.strategy.name,
                        rule.sla_seconds, {"first_match": first_match, "tried": tried,
                                           "exclude": sorted(exclude)})
    return _fallback(ruleset, ctx, tried, first_match, exclude, now)


def _needs_all(rule: Rule) -> bool:
    # Weighted round robin credits every owner who could have taken the lead.
    return rule.strategy.name == "weighted_round_robin"


def _fallback(ruleset: RuleSet, ctx: DecisionContext, tried: list[dict[str, Any]],
              first_match: int | None, exclude: frozenset[str], now: datetime) -> Decision:
    fallback = ruleset.fallback
    story: dict[str, Any] = {"first_match": first_match, "tried": tried,
                             "exclude": sorted(exclude)}
    why = "no rule matched" if first_match is None else "no rule found an available owner"
    if fallback.owner is not None:
        skipped = skip_reason(ruleset, fallback.owner, None, ctx, exclude, now)
        if skipped is None or skipped[0] in (OVER_CAPACITY, OVER_DAILY_CAP, OVER_MONTHLY_CAP):
            # The fallback owner takes the lead even over capacity: someone must.
            story["fallback"] = {"owner": fallback.owner, "why": why,
                                 "note": skipped[1] if skipped else None}
            return Decision(fallback.owner, None, None, None, "fallback", None, story)
        story["fallback"] = {"owner": fallback.owner, "skipped": skipped[0],
                             "detail": skipped[1]}
    story["queue"] = {"queue": fallback.queue, "why": why}
    return Decision(None, fallback.queue, None, None, "fallback", None, story)
