"""Assignment strategies: each proposes candidate owners in order of preference.

A strategy never checks availability itself: the engine walks the candidates it proposes,
skips those who are inactive, out of office, over capacity or cap, outside working hours
(when the rule asks) or excluded by an SLA, records why, and gives the lead to the first
one left. The strategy is then told who won, so that a round robin moves its pointer.

Built-in strategies are registered through ``crmhub_register_assignment_strategies`` like a
plugin's (:mod:`hub.routing.builtin`). A plugin's strategy subclasses :class:`Strategy`::

    class Dice(Strategy):
        name = "dice"
        class Params(StrategyParams):
            owners: list[str]
        def plan(self, lead, ctx):
            return Plan(sorted(self.params.owners, key=lambda o: hash((o, lead.contact_id))))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StrategyParams(BaseModel):
    """The rule keys a strategy reads (beside name, when, strategy, sla...). Unknown keys are
    errors, so a typo in a rule is reported with a hint instead of being ignored."""

    model_config = ConfigDict(extra="forbid")


class PoolParams(StrategyParams):
    """A pool of owners: a team's active members and/or a list, in the order given."""

    team: str | None = None
    owners: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some_pool(self) -> PoolParams:
        if self.team is None and not self.owners:
            raise ValueError("name a team or a list of owners")
        return self


@dataclass
class Lead:
    """What routing knows about one contact: its facts and its ids."""

    contact_id: int
    facts: Mapping[str, Any]


class Context(Protocol):
    """What a strategy may read and write while deciding; live or replayed."""

    now: datetime

    def pool(self, team: str | None, owners: list[str]) -> list[str]: ...

    def pointer(self, key: str) -> dict[str, Any]: ...

    def set_pointer(self, key: str, value: dict[str, Any]) -> None: ...

    def open_leads(self, owner: str) -> int: ...

    def account_owners(self, lead: Lead) -> list[str]: ...

    def owner_weight(self, owner: str) -> float: ...

    def owner_capacity(self, owner: str) -> int | None: ...


@dataclass
class Plan:
    """Candidates in order of preference, and a note for the decision log."""

    candidates: list[str]
    note: dict[str, Any] = field(default_factory=dict)


class Strategy(ABC):
    """Base class of assignment strategies; ``name`` is what ``strategy = ...`` refers to."""

    name: ClassVar[str]
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(self, params: StrategyParams, rule: str):
        self.params = params
        self.rule = rule

    def references(self) -> tuple[list[str], list[str]]:
        """(owner ids, team ids) the parameters name, checked against the rules file."""
        return [], []

    @abstractmethod
    def plan(self, lead: Lead, ctx: Context) -> Plan:
        """The owners this strategy would try for ``lead``, in order, with its inputs."""

    def chosen(self, lead: Lead, ctx: Context, plan: Plan, owner: str,  # noqa: B027
               eligible: list[str]) -> None:
        """Called with the owner who got the lead (``eligible``: who could have)."""


class Fixed(Strategy):
    """One owner; ``backups`` are tried in order when they are unavailable."""

    name = "fixed"

    class Params(StrategyParams):
        owner: str
        backups: list[str] = Field(default_factory=list)

    params: Params

    def references(self) -> tuple[list[str], list[str]]:
        return [self.params.owner, *self.params.backups], []

    def plan(self, lead: Lead, ctx: Context) -> Plan:
        return Plan([self.params.owner, *self.params.backups])


def _rotate(pool: list[str], start: int) -> list[str]:
    if not pool:
        return []
    start %= len(pool)
    return pool[start:] + pool[:start]


class RoundRobin(Strategy):
    """Turns over a team or a list; the pointer is stored per rule in ``rr_state``.

    The pointer is the position in the pool of the next owner whose turn it is; when that
    owner is skipped the next available one gets the lead and the pointer moves past *them*,
    so the skipped owner loses this turn and is next served when the rotation comes round
    to them again (nobody returns from an absence to a backlog of owed leads).
    """

    name = "round_robin"
    Params = PoolParams
    params: PoolParams

    def references(self) -> tuple[list[str], list[str]]:
        return list(self.params.owners), [self.params.team] if self.params.team else []

    def key(self, lead: Lead) -> str:
        return f"rule:{self.rule}"

    def pointer_keys(self) -> list[str]:
        """Every pointer this rule may move (preloaded once per batch)."""
        return [f"rule:{self.rule}"]

    def pool(self, lead: Lead, ctx: Context) -> list[str]:
        return ctx.pool(self.params.team, self.params.owners)

    def plan(self, lead: Lead, ctx: Context) -> Plan:
        pool = self.pool(lead, ctx)
        key = self.key(lead)
        state = ctx.pointer(key)
        position = _start(pool, state)
        return Plan(_rotate(pool, position), {"pointer": key, "position": position,
                                              "pool": pool})

    def chosen(self, lead: Lead, ctx: Context, plan: Plan, owner: str,
               eligible: list[str]) -> None:
        pool = plan.note["pool"]
        state = dict(ctx.pointer(plan.note["pointer"]))
        state["position"] = (pool.index(owner) + 1) % len(pool)
        state["last_owner"] = owner
        ctx.set_pointer(plan.note["pointer"], state)


def _start(pool: list[str], state: Mapping[str, Any]) -> int:
    """Where the turn is: after the last owner served when they are still in the pool (so a
    pool that changed keeps the order), else the stored position."""
    if not pool:
        return 0
    last = state.get("last_owner")
    if last in pool:
        return (pool.index(last) + 1) % len(pool)
    return int(state.get("position", 0)) % len(pool)


class WeightedRoundRobin(RoundRobin):
    """Smooth weighted round robin (as nginx): with weights 3:1, a a b a a a b a...

    Each owner carries a running credit; every lead adds each available owner's weight to
    their credit, the highest credit wins and pays back the total. Unavailable owners earn
    nothing meanwhile, so nobody comes back from holiday to a burst of leads.
    """

    name = "weighted_round_robin"

    class Params(PoolParams):
        weights: dict[str, float] = Field(default_factory=dict)

    params: Params

    def weight(self, owner: str, ctx: Context) -> float:
        return float(self.params.weights.get(owner, ctx.owner_weight(owner)))

    def plan(self, lead: Lead, ctx: Context) -> Plan:
        pool = self.pool(lead, ctx)
        key = self.key(lead)
        credits = dict(ctx.pointer(key).get("weights") or {})
        order = sorted(range(len(pool)), key=lambda i: (
            -(credits.get(pool[i], 0.0) + self.weight(pool[i], ctx)), i))
        return Plan([pool[i] for i in order],
                    {"pointer": key, "credits": {o: credits.get(o, 0.0) for o in pool},
                     "pool": pool})

    def chosen(self, lead: Lead, ctx: Context, plan: Plan, owner: str,
               eligible: list[str]) -> None:
        key = plan.note["pointer"]
        state = dict(ctx.pointer(key))
        credits = dict(state.get("weights") or {})
        total = 0.0
        for other in eligible:
            weight = self.weight(other, ctx)
            credits[other] = round(credits.get(other, 0.0) + weight, 9)
            total += weight
        credits[owner] = round(credits.get(owner, 0.0) - total, 9)
        state["weights"] = {o: c for o, c in credits.items() if o in plan.note["pool"]}
        state["last_owner"] = owner
        ctx.set_pointer(key, state)


class LoadBalanced(Strategy):
    """The owner with the fewest open leads relative to their capacity.

    Open leads are the contacts an owner holds in stage ``lead`` or ``prospect``. An owner
    without a capacity counts their weight as a relative capacity. Daily and monthly caps
    (owner settings, or ``daily_cap``/``monthly_cap`` on the rule) are checked by the engine.
    Ties go to the pool order.
    """

    name = "load_balanced"

    class Params(PoolParams):
        daily_cap: int | None = Field(default=None, ge=0)
        monthly_cap: int | None = Field(default=None, ge=0)

    params: Params

    def references(self) -> tuple[list[str], list[str]]:
        return list(self.params.owners), [self.params.team] if self.params.team else []

    def plan(self, lead: Lead, ctx: Context) -> Plan:
        pool = ctx.pool(self.params.team, self.params.owners)
        loads = {}
        for owner in pool:
            capacity = ctx.owner_capacity(owner)
            open_leads = ctx.open_leads(owner)
            base = capacity if capacity else ctx.owner_weight(owner)
            loads[owner] = open_leads / base if base > 0 else float("inf")
        order = sorted(range(len(pool)), key=lambda i: (loads[pool[i]], i))
        return Plan([pool[i] for i in order],
                    {"load": {o: round(v, 4) for o, v in loads.items()}})


class Account(Strategy):
    """The owner of the contact's company, else the usual owner of other contacts at that
    company or at the company of its e-mail domain (most contacts first). With
    ``same_domain = false`` only the company's own owner: colleagues' owners are not
    followed. Nobody found: the next rule is tried."""

    name = "account"

    class Params(StrategyParams):
        same_domain: bool = True

    params: Params

    def plan(self, lead: Lead, ctx: Context) -> Plan:
        if not self.params.same_domain:
            company_owner = lead.facts.get("company.owner")
            owners = [str(company_owner)] if company_owner else []
            return Plan(owners, {"account_owners": owners, "same_domain": False})
        owners = ctx.account_owners(lead)
        return Plan(owners, {"account_owners": owners})


class TerritoryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    countries: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    postcodes: list[str] = Field(default_factory=list)  # prefixes
    team: str | None = None
    owners: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> TerritoryEntry:
        if not (self.countries or self.regions or self.postcodes):
            raise ValueError("a territory needs countries, regions or postcodes")
        if self.team is None and not self.owners:
            raise ValueError("a territory needs a team or owners")
        self.countries = [c.upper() for c in self.countries]
        self.regions = [r.casefold() for r in self.regions]
        return self


class Territory(RoundRobin):
    """Geography: the most specific territory that holds the contact (longest postcode
    prefix, then region, then country), then round robin among its owners."""

    name = "territory"

    class Params(StrategyParams):
        territories: list[TerritoryEntry] = Field(min_length=1)

    params: Params  # type: ignore[assignment]

    def references(self) -> tuple[list[str], list[str]]:
        owners = [o for t in self.params.territories for o in t.owners]
        teams = [t.team for t in self.params.territories if t.team]
        return owners, teams

    def territory(self, lead: Lead) -> tuple[int, TerritoryEntry] | None:
        facts = lead.facts
        country = str(facts.get("contact.country") or facts.get("contact.address.country")
                      or "").upper()
        region = str(facts.get("contact.address.region") or "").casefold()
        postcode = str(facts.get("contact.address.postcode") or "").replace(" ", "").upper()
        best: tuple[tuple[int, int], int, TerritoryEntry] | None = None
        for index, entry in enumerate(self.params.territories):
            if entry.countries and country not in entry.countries:
                continue
            if entry.regions and region not in entry.regions:
                continue
            prefix = 0
            if entry.postcodes:
                hits = [len(p) for p in entry.postcodes
                        if postcode.startswith(p.replace(" ", "").upper())]
                if not hits:
                    continue
                prefix = max(hits)
            rank = (prefix, 1 if entry.regions else 0)
            if best is None or rank > best[0]:
                best = (rank, index, entry)
        return (best[1], best[2]) if best else None

    def key(self, lead: Lead) -> str:
        found = self.territory(lead)
        return f"rule:{self.rule}:territory:{found[0] if found else '-'}"

    def pointer_keys(self) -> list[str]:
        return [f"rule:{self.rule}:territory:{i}" for i in range(len(self.params.territories))]

    def pool(self, lead: Lead, ctx: Context) -> list[str]:
        found = self.territory(lead)
        if found is None:
            return []
        return ctx.pool(found[1].team, found[1].owners)

    def plan(self, lead: Lead, ctx: Context) -> Plan:
        found = self.territory(lead)
        if found is None:
            return Plan([], {"territory": None})
        plan = super().plan(lead, ctx)
        plan.note["territory"] = found[0]
        return plan


BUILTIN: list[type[Strategy]] = [Fixed, RoundRobin, WeightedRoundRobin, LoadBalanced, Account,
                                 Territory]
