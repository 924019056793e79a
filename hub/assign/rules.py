"""The rules file (``[hub] rules``): owners, teams, ordered routing rules, fallback, notify.

```toml
[settings]
timezone = "Europe/Paris"              # owners' default zone
working_hours = { mon-fri = "09:00-18:00" }

[[teams]]
id = "sales-fr"
manager = "marie"

[[owners]]
id = "alice"                           # what contacts.owner holds; never reuse an id
emails = ["alice@acme.fr"]             # her synced e-mails are SLA touches
extensions = ["201"]                   # so are her calls
team = "sales-fr"
capacity = 40                          # open leads (stage lead or prospect)
daily_cap = 10

[[rules]]                              # first match wins
name = "big-accounts"
when = { "company.employees" = { gte = 500 } }
strategy = "round_robin"
team = "sales-fr"                      # the strategy's own keys sit beside the rule's
sla = "4h"                             # business hours of the owner

[fallback]
queue = "unassigned"                   # never silently unassigned
```

Everything is validated when the file loads: unknown keys, fields and operators, owners or
teams that do not exist, cycles in the management chain, strategy parameters. Each error
names the file, the rule (index and name) or owner, the key, and a hint.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.assign.calendar import (
    DEFAULT_HOURS,
    Calendar,
    CalendarError,
    Period,
    parse_hours,
    period,
    zone,
)
from hub.assign.conditions import ALWAYS, Condition, ConditionError, compile_condition
from hub.assign.issues import ID_PATTERN
from hub.assign.issues import digest as _digest
from hub.assign.issues import label as _label
from hub.assign.issues import validation_issues as _issues
from hub.assign.strategies import Strategy, StrategyParams
from hub.config import ConfigError, ConfigIssue, did_you_mean, parse_duration

DEFAULT_EVENTS = ["contact.assigned", "contact.reassigned"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Absence(_Strict):
    start: date | datetime = Field(alias="from")
    end: date | datetime = Field(alias="to")
    reason: str | None = None


class SettingsSpec(_Strict):
    timezone: str = "UTC"
    working_hours: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_HOURS))
    open_stages: list[str] = Field(default_factory=lambda: ["lead", "prospect"])
    reroute_inactive: bool = True


class TeamSpec(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    manager: str | None = None
    active: bool = True


class OwnerSpec(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    role: Literal["rep", "manager", "admin"] = "rep"
    emails: list[str] = Field(default_factory=list)
    extensions: list[str] = Field(default_factory=list)
    team: str | None = None
    manager: str | None = None
    active: bool = True
    capacity: int | None = Field(default=None, ge=0)
    daily_cap: int | None = Field(default=None, ge=0)
    monthly_cap: int | None = Field(default=None, ge=0)
    weight: float = Field(default=1.0, gt=0)
    timezone: str | None = None
    working_hours: dict[str, str] | None = None
    out_of_office: list[Absence] = Field(default_factory=list)

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for email in value:
            if "@" not in email:
                raise ValueError(f"{email!r} is not an e-mail address")
        return [e.strip().lower() for e in value]


class RuleSpec(BaseModel):
    """The rule's own keys; the others belong to its strategy."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=200)
    strategy: str
    when: dict[str, Any] | None = None
    sla: str | float | None = None
    working_hours_only: bool = False
    enabled: bool = True
    description: str | None = None


class FallbackSpec(_Strict):
    owner: str | None = None
    queue: str = Field(default="unassigned", pattern=ID_PATTERN)


class NotifySpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    sink: str
    events: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    max_attempts: int = Field(default=10, ge=1, le=100)
    settings: dict[str, Any] = Field(default_factory=dict)


class RulesFile(_Strict):
    settings: SettingsSpec = Field(default_factory=SettingsSpec)
    teams: list[TeamSpec] = Field(default_factory=list)
    owners: list[OwnerSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    fallback: FallbackSpec = Field(default_factory=FallbackSpec)
    notify: list[NotifySpec] = Field(default_factory=list)


@dataclass
class OwnerInfo:
    spec: OwnerSpec
    calendar: Calendar
    absences: list[Period]
    digest: str

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass
class Rule:
    index: int
    name: str
    condition: Condition
    strategy: Strategy
    sla_seconds: float | None
    working_hours_only: bool
    daily_cap: int | None = None
    monthly_cap: int | None = None

    @property
    def label(self) -> str:
        return f"rules[{self.index}] {self.name!r}"


@dataclass
class RuleSet:
    """A validated rules file, ready to route."""

    path: Path | None
    settings: SettingsSpec
    owners: dict[str, OwnerInfo]
    teams: dict[str, TeamSpec]
    rules: list[Rule]
    fallback: FallbackSpec
    notify: list[NotifySpec]
    digest: str
    members: dict[str, list[str]] = field(default_factory=dict)

    def reports_of(self, manager: str) -> set[str]:
        """Everyone under ``manager``, directly or not (and members of teams they lead)."""
        below: dict[str, set[str]] = {}
        for info in self.owners.values():
            for boss in _bosses(info.spec, self.teams):
                below.setdefault(boss, set()).add(info.id)
        seen: set[str] = set()
        todo = [manager]
        while todo:
            for report in below.get(todo.pop(), ()):
                if report not in seen and report != manager:
                    seen.add(report)
                    todo.append(report)
        return seen


def _bosses(spec: OwnerSpec, teams: dict[str, TeamSpec]) -> list[str]:
    bosses = [spec.manager] if spec.manager else []
    team = teams.get(spec.team) if spec.team else None
    if team is not None and team.manager and team.manager != spec.id:
        bosses.append(team.manager)
    return bosses


def load_rules(path: Path, strategies: dict[str, type[Strategy]],
               sinks: dict[str, type] | None = None) -> RuleSet:
    """Read and validate a rules file; raise :class:`ConfigError` listing every issue."""
    file = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(file, "(file)", "rules file not found",
                                       "check [hub] rules (relative to the config file)")]) \
            from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigIssue(file, "(syntax)", str(exc),
                                       "fix the TOML syntax at that line")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(file, "(file)", f"cannot read: {exc}")]) from None
    return build_rules(raw, strategies, sinks, path=Path(path))


def build_rules(raw: dict[str, Any], strategies: dict[str, type[Strategy]],
                sinks: dict[str, type] | None = None, *, path: Path | None = None) -> RuleSet:
    """Validate a parsed rules file (``load_rules`` reads it)."""
    file = str(path) if path else "(rules)"
    try:
        spec = RulesFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_issues(exc, raw, file, (), RulesFile)) from None
    issues: list[ConfigIssue] = []

    def issue(key: str, message: str, hint: str | None = None) -> None:
        issues.append(ConfigIssue(file, key, message, hint))

    def suggest(name: str, known: list[str], what: str) -> str:
        return did_you_mean(name, known) or (
            f"{what}: {', '.join(known)}" if known else f"no {what} defined")

    raw_owners = raw.get("owners", [])
    raw_teams = raw.get("teams", [])
    raw_rules = raw.get("rules", [])
    teams: dict[str, TeamSpec] = {}
    for index, team in enumerate(spec.teams):
        if team.id in teams:
            issue(f"teams{_label(raw_teams, index, 'id')}.id", f"two teams are {team.id!r}")
        teams[team.id] = team
    owners: dict[str, OwnerInfo] = {}
    owner_ids = [o.id for o in spec.owners]
    for index, owner in enumerate(spec.owners):
        where = f"owners{_label(raw_owners, index, 'id')}"
        if owner.id in owners:
            issue(f"{where}.id", f"two owners are {owner.id!r}", "owner ids must be unique")
            continue
        if owner.team is not None and owner.team not in teams:
            issue(f"{where}.team", f"unknown team {owner.team!r}",
                  suggest(owner.team, list(teams), "teams"))
        if owner.manager is not None and owner.manager not in owner_ids:
            issue(f"{where}.manager", f"unknown owner {owner.manager!r}",
                  suggest(owner.manager, owner_ids, "owners"))
        try:
            tz = zone(owner.timezone or spec.settings.timezone)
            hours = parse_hours(owner.working_hours if owner.working_hours is not None
                                else spec.settings.working_hours)
        except CalendarError as exc:
            issue(f"{where}.{'timezone' if 'zone' in str(exc) else 'working_hours'}", str(exc))
            continue
        absences = []
        for n, absence in enumerate(owner.out_of_office):
            try:
                absences.append(period(absence.start, absence.end, tz))
            except CalendarError as exc:
                issue(f"{where}.out_of_office[{n}]", str(exc))
        digest = _digest(owner.model_dump(mode="json", by_alias=True))
        owners[owner.id] = OwnerInfo(owner, Calendar(tz, hours), absences, digest)
    for index, team in enumerate(spec.teams):
        if team.manager is not None and team.manager not in owner_ids:
            issue(f"teams{_label(raw_teams, index, 'id')}.manager",
                  f"unknown owner {team.manager!r}", suggest(team.manager, owner_ids, "owners"))
    for cycle in _cycles(spec.owners):
        issue(f"owners[id={cycle[0]}].manager",
              "the management chain loops: " + " -> ".join([*cycle, cycle[0]]),
              "someone at the top has no manager")
    try:
        parse_hours(spec.settings.working_hours)
        zone(spec.settings.timezone)
    except CalendarError as exc:
        issue("settings", str(exc))
    members: dict[str, list[str]] = {t: [] for t in teams}
    for owner in spec.owners:
        if owner.team in members and owner.id not in members[owner.team]:
            members[owner.team].append(owner.id)
    rules: list[Rule] = []
    names: set[str] = set()
    for index, rule_spec in enumerate(spec.rules):
        where = f"rules{_label(raw_rules, index, 'name')}"
        if rule_spec.name in names:
            issue(f"{where}.name", f"two rules are named {rule_spec.name!r}",
                  "rule names must be unique: round-robin pointers are kept per rule")
        names.add(rule_spec.name)
        klass = strategies.get(rule_spec.strategy)
        if klass is None:
            issue(f"{where}.strategy", f"unknown strategy {rule_spec.strategy!r}",
                  suggest(rule_spec.strategy, sorted(strategies), "strategies"))
            continue
        try:
            condition = compile_condition(rule_spec.when, "when") if rule_spec.when else ALWAYS
        except ConditionError as exc:
            issue(f"{where}.{exc.key}", exc.message, exc.hint)
            continue
        sla = None
        if rule_spec.sla is not None:
            try:
                sla = parse_duration(rule_spec.sla)
            except ValueError as exc:
                issue(f"{where}.sla", str(exc))
        extra = dict(rule_spec.model_extra or {})
        try:
            params: StrategyParams = klass.Params.model_validate(extra)
        except ValidationError as exc:
            for item in _issues(exc, raw, file, ("rules", index), klass.Params):
                common = list(RuleSpec.model_fields)
                if item.message == "unknown key":
                    known = common + list(klass.Params.model_fields)
                    item = ConfigIssue(item.file, item.key,
                                       f"unknown key for strategy {rule_spec.strategy!r}",
                                       did_you_mean(item.key.rsplit(".", 1)[-1], known) or
                                       f"keys: {', '.join(known)}")
                issues.append(item)
            continue
        strategy = klass(params, rule_spec.name)
        owner_refs, team_refs = strategy.references()
        for ref in owner_refs:
            if ref not in owners:
                issue(where, f"strategy {rule_spec.strategy!r} names unknown owner {ref!r}",
                      suggest(ref, owner_ids, "owners"))
        for ref in team_refs:
            if ref not in teams:
                issue(where, f"strategy {rule_spec.strategy!r} names unknown team {ref!r}",
                      suggest(ref, list(teams), "teams"))
        if not rule_spec.enabled:
            continue
        rules.append(Rule(index, rule_spec.name, condition, strategy, sla,
                          rule_spec.working_hours_only,
                          getattr(params, "daily_cap", None), getattr(params, "monthly_cap", None)))
    if spec.fallback.owner is not None and spec.fallback.owner not in owners:
        issue("fallback.owner", f"unknown owner {spec.fallback.owner!r}",
              suggest(spec.fallback.owner, owner_ids, "owners"))
    notify_names: set[str] = set()
    for index, notify in enumerate(spec.notify):
        where = f"notify{_label(raw.get('notify', []), index, 'name')}"
        if notify.name in notify_names:
            issue(f"{where}.name", f"two notify entries are named {notify.name!r}")
        notify_names.add(notify.name)
        if sinks is None:
            continue
        sink = sinks.get(notify.sink)
        if sink is None:
            issue(f"{where}.sink", f"unknown sink {notify.sink!r}",
                  suggest(notify.sink, sorted(sinks), "installed sinks (`crmhub plugins`)"))
            continue
        settings_model = getattr(sink, "Settings", None)
        if settings_model is not None:
            try:
                settings_model.model_validate(notify.settings)
            except ValidationError as exc:
                issues.extend(_issues(exc, raw, file, ("notify", index, "settings"),
                                      settings_model))
    if issues:
        raise ConfigError(issues)
    digest = _digest(spec.model_dump(mode="json", by_alias=True, exclude={"notify"}))
    return RuleSet(path, spec.settings, owners, teams, rules, spec.fallback, spec.notify,
                   digest, members)


def _cycles(owners: list[OwnerSpec]) -> list[list[str]]:
    manager = {o.id: o.manager for o in owners}
    found: list[list[str]] = []
    reported: set[str] = set()
    for start in manager:
        chain: list[str] = []
        node: str | None = start
        while node is not None and node not in chain:
            chain.append(node)
            node = manager.get(node)
        if node is not None:
            loop = chain[chain.index(node):]
            if not reported & set(loop):
                reported |= set(loop)
                first = min(loop)
                turn = loop.index(first)
                found.append(loop[turn:] + loop[:turn])
    return found
