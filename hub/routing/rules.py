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

[[queues]]
id = "unassigned"
teams = ["sales-fr"]                   # marie, their manager, sees the leads waiting here

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

from hub.config import ConfigError, ConfigIssue, did_you_mean, parse_duration
from hub.routing.calendar import (
    DEFAULT_HOURS,
    Calendar,
    CalendarError,
    Period,
    parse_hours,
    period,
    zone,
)
from hub.routing.conditions import ALWAYS, Condition, ConditionError, compile_condition
from hub.routing.issues import ID_PATTERN
from hub.routing.issues import digest as _digest
from hub.routing.issues import label as _label
from hub.routing.issues import validation_issues as _issues
from hub.routing.strategies import Strategy, StrategyParams
from hub.store.model import EVENT_TYPES

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
    # An SLA re-route tries this rule's candidates, then the next matching rules; true:
    # this rule's candidates only, then the fallback.
    sla_stay_in_rule: bool = False
    enabled: bool = True
    description: str | None = None


class QueueSpec(_Strict):
    """A queue where leads wait for a person: the managers of its teams see it."""

    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    teams: list[str] = Field(default_factory=list)


class FallbackSpec(_Strict):
    owner: str | None = None
    queue: str = Field(default="unassigned", pattern=ID_PATTERN)


class NotifySpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    sink: str
    events: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    max_attempts: int = Field(default=10, ge=1, le=100)
    # "ids": the event without personal data (no contact block, the owner as an id), for
    # receivers that look the rest up themselves.
    payload: Literal["full", "ids"] = "full"
    settings: dict[str, Any] = Field(default_factory=dict)


class RulesFile(_Strict):
    settings: SettingsSpec = Field(default_factory=SettingsSpec)
    teams: list[TeamSpec] = Field(default_factory=list)
    owners: list[OwnerSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    queues: list[QueueSpec] = Field(default_factory=list)
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
    sla_stay_in_rule: bool = False

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
    warnings: list[ConfigIssue] = field(default_factory=list)  # valid, but likely not meant
    queues: dict[str, QueueSpec] = field(default_factory=dict)

    def queue_teams(self, queue: str) -> list[str]:
        """The teams whose managers see ``queue``: those it declares, else the team it is
        named after."""
        declared = self.queues.get(queue)
        if declared is not None:
            return list(declared.teams)
        return [queue] if queue in self.teams else []

    def queue_managers(self, queue: str) -> list[str]:
        """The managers of the queue's teams, in the order the queue names the teams."""
        return list(dict.fromkeys(team.manager for t in self.queue_teams(queue)
                                  if (team := self.teams.get(t)) and team.manager))

    def queues_of(self, managers: set[str]) -> set[str]:
        """The queues of the teams these people manage."""
        managed = {t.id for t in self.teams.values() if t.manager in managers}
        names = set(self.queues) | {self.fallback.queue} | set(self.teams)
        return {q for q in names if managed & set(self.queue_teams(q))}

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
    """Validate a parsed rules file (``load_rules`` reads it); every issue at once."""
    file = str(path) if path else "(rules)"
    try:
        spec = RulesFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_issues(exc, raw, file, (), RulesFile)) from None
    check = _RulesCheck(raw, file, spec)
    teams = check.teams()
    owners = check.owners(teams)
    check.managers()
    members: dict[str, list[str]] = {t: [] for t in teams}
    for owner in spec.owners:
        if owner.team in members and owner.id not in members[owner.team]:
            members[owner.team].append(owner.id)
    rules = check.rules(strategies, owners, teams)
    if spec.fallback.owner is not None and spec.fallback.owner not in owners:
        check.issue("fallback.owner", f"unknown owner {spec.fallback.owner!r}",
                    check.suggest(spec.fallback.owner, check.owner_ids, "owners"))
    check.notify(sinks)
    queues = check.queues(teams)
    if check.issues:
        raise ConfigError(check.issues)
    digest = _digest(spec.model_dump(mode="json", by_alias=True, exclude={"notify"}))
    return RuleSet(path, spec.settings, owners, teams, rules, spec.fallback, spec.notify,
                   digest, members, check.warnings, queues)


class _RulesCheck:
    """The cross-checks of a rules file that pydantic cannot make (references between
    owners, teams, rules and sinks), collecting every issue with its key."""

    def __init__(self, raw: dict[str, Any], file: str, spec: RulesFile) -> None:
        self.raw, self.file, self.spec = raw, file, spec
        self.issues: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []
        self.owner_ids = [o.id for o in spec.owners]

    def issue(self, key: str, message: str, hint: str | None = None) -> None:
        self.issues.append(ConfigIssue(self.file, key, message, hint))

    @staticmethod
    def suggest(name: str, known: list[str], what: str) -> str:
        return did_you_mean(name, known) or (
            f"{what}: {', '.join(known)}" if known else f"no {what} defined")

    def where(self, section: str, index: int, key: str) -> str:
        return f"{section}{_label(self.raw.get(section, []), index, key)}"

    def teams(self) -> dict[str, TeamSpec]:
        teams: dict[str, TeamSpec] = {}
        for index, team in enumerate(self.spec.teams):
            if team.id in teams:
                self.issue(f"{self.where('teams', index, 'id')}.id",
                           f"two teams are {team.id!r}")
            teams[team.id] = team
        return teams

    def owners(self, teams: dict[str, TeamSpec]) -> dict[str, OwnerInfo]:
        owners: dict[str, OwnerInfo] = {}
        for index, owner in enumerate(self.spec.owners):
            where = self.where("owners", index, "id")
            if owner.id in owners:
                self.issue(f"{where}.id", f"two owners are {owner.id!r}",
                           "owner ids must be unique")
                continue
            if owner.team is not None and owner.team not in teams:
                self.issue(f"{where}.team", f"unknown team {owner.team!r}",
                           self.suggest(owner.team, list(teams), "teams"))
            if owner.manager is not None and owner.manager not in self.owner_ids:
                self.issue(f"{where}.manager", f"unknown owner {owner.manager!r}",
                           self.suggest(owner.manager, self.owner_ids, "owners"))
            info = self.owner(owner, where)
            if info is not None:
                owners[owner.id] = info
        return owners

    def owner(self, owner: OwnerSpec, where: str) -> OwnerInfo | None:
        """An owner's calendar and absences; ``None`` when its hours or zone are wrong."""
        settings = self.spec.settings
        try:
            tz = zone(owner.timezone or settings.timezone)
            hours = parse_hours(owner.working_hours if owner.working_hours is not None
                                else settings.working_hours)
        except CalendarError as exc:
            key = "timezone" if "zone" in str(exc) else "working_hours"
            self.issue(f"{where}.{key}", str(exc))
            return None
        absences = []
        for n, absence in enumerate(owner.out_of_office):
            try:
                absences.append(period(absence.start, absence.end, tz))
            except CalendarError as exc:
                self.issue(f"{where}.out_of_office[{n}]", str(exc))
        digest = _digest(owner.model_dump(mode="json", by_alias=True))
        return OwnerInfo(owner, Calendar(tz, hours), absences, digest)

    def managers(self) -> None:
        """Team managers exist, management chains do not loop, the defaults parse."""
        for index, team in enumerate(self.spec.teams):
            if team.manager is not None and team.manager not in self.owner_ids:
                self.issue(f"{self.where('teams', index, 'id')}.manager",
                           f"unknown owner {team.manager!r}",
                           self.suggest(team.manager, self.owner_ids, "owners"))
        for cycle in _cycles(self.spec.owners):
            self.issue(f"owners[id={cycle[0]}].manager",
                       "the management chain loops: " + " -> ".join([*cycle, cycle[0]]),
                       "someone at the top has no manager")
        try:
            parse_hours(self.spec.settings.working_hours)
            zone(self.spec.settings.timezone)
        except CalendarError as exc:
            self.issue("settings", str(exc))

    def rules(self, strategies: dict[str, type[Strategy]], owners: dict[str, OwnerInfo],
              teams: dict[str, TeamSpec]) -> list[Rule]:
        rules: list[Rule] = []
        names: set[str] = set()
        for index, rule_spec in enumerate(self.spec.rules):
            where = self.where("rules", index, "name")
            if rule_spec.name in names:
                self.issue(f"{where}.name", f"two rules are named {rule_spec.name!r}",
                           "rule names must be unique: round-robin pointers are kept per rule")
            names.add(rule_spec.name)
            rule = self.rule(index, rule_spec, where, strategies, owners, teams)
            if rule is not None and rule_spec.enabled:
                rules.append(rule)
        return rules

    def rule(self, index: int, rule_spec: RuleSpec, where: str,
             strategies: dict[str, type[Strategy]], owners: dict[str, OwnerInfo],
             teams: dict[str, TeamSpec]) -> Rule | None:
        """One rule, checked; ``None`` when its strategy, condition or parameters are wrong
        (its references are still checked when those are right)."""
        klass = strategies.get(rule_spec.strategy)
        if klass is None:
            self.issue(f"{where}.strategy", f"unknown strategy {rule_spec.strategy!r}",
                       self.suggest(rule_spec.strategy, sorted(strategies), "strategies"))
            return None
        try:
            condition = compile_condition(rule_spec.when, "when") if rule_spec.when else ALWAYS
        except ConditionError as exc:
            self.issue(f"{where}.{exc.key}", exc.message, exc.hint)
            return None
        sla = None
        if rule_spec.sla is not None:
            try:
                sla = parse_duration(rule_spec.sla)
            except ValueError as exc:
                self.issue(f"{where}.sla", str(exc))
        params = self.params(index, rule_spec, klass)
        if params is None:
            return None
        strategy = klass(params, rule_spec.name)
        owner_refs, team_refs = strategy.references()
        for ref in owner_refs:
            if ref not in owners:
                self.issue(where, f"strategy {rule_spec.strategy!r} names unknown owner {ref!r}",
                           self.suggest(ref, self.owner_ids, "owners"))
        for ref in team_refs:
            if ref not in teams:
                self.issue(where, f"strategy {rule_spec.strategy!r} names unknown team {ref!r}",
                           self.suggest(ref, list(teams), "teams"))
        return Rule(index, rule_spec.name, condition, strategy, sla,
                    rule_spec.working_hours_only,
                    getattr(params, "daily_cap", None), getattr(params, "monthly_cap", None),
                    rule_spec.sla_stay_in_rule)

    def params(self, index: int, rule_spec: RuleSpec,
               klass: type[Strategy]) -> StrategyParams | None:
        """The strategy's own keys of a rule, validated by the strategy's ``Params``."""
        try:
            params: StrategyParams = klass.Params.model_validate(
                dict(rule_spec.model_extra or {}))
            return params
        except ValidationError as exc:
            for item in _issues(exc, self.raw, self.file, ("rules", index), klass.Params):
                if item.message == "unknown key":
                    known = list(RuleSpec.model_fields) + list(klass.Params.model_fields)
                    item = ConfigIssue(item.file, item.key,
                                       f"unknown key for strategy {rule_spec.strategy!r}",
                                       did_you_mean(item.key.rsplit(".", 1)[-1], known) or
                                       f"keys: {', '.join(known)}")
                self.issues.append(item)
            return None

    def queues(self, teams: dict[str, TeamSpec]) -> dict[str, QueueSpec]:
        """Declared queues name known teams; a fallback queue nobody can see is a warning."""
        queues: dict[str, QueueSpec] = {}
        for index, queue in enumerate(self.spec.queues):
            where = self.where("queues", index, "id")
            if queue.id in queues:
                self.issue(f"{where}.id", f"two queues are {queue.id!r}")
            queues[queue.id] = queue
            for n, team in enumerate(queue.teams):
                if team not in teams:
                    self.issue(f"{where}.teams[{n}]", f"unknown team {team!r}",
                               self.suggest(team, list(teams), "teams"))
        fallback = self.spec.fallback
        if fallback.owner is None and fallback.queue not in queues \
                and fallback.queue not in teams and teams:
            self.warnings.append(ConfigIssue(
                self.file, "fallback.queue",
                f"queue {fallback.queue!r} belongs to no team: only admins see the leads "
                "waiting there",
                f'declare it: [[queues]] id = "{fallback.queue}" teams = ["{next(iter(teams))}"]'))
        return queues

    def notify(self, sinks: dict[str, type] | None) -> None:
        """Notify entries: unique names, installed sinks, settings each sink accepts."""
        names: set[str] = set()
        for index, notify in enumerate(self.spec.notify):
            where = self.where("notify", index, "name")
            if notify.name in names:
                self.issue(f"{where}.name", f"two notify entries are named {notify.name!r}")
            names.add(notify.name)
            for n, event in enumerate(notify.events):
                if event not in EVENT_TYPES:
                    self.issue(f"{where}.events[{n}]", f"unknown event {event!r}",
                               self.suggest(event, list(EVENT_TYPES), "events"))
            if sinks is None:
                continue
            sink = sinks.get(notify.sink)
            if sink is None:
                self.issue(f"{where}.sink", f"unknown sink {notify.sink!r}",
                           self.suggest(notify.sink, sorted(sinks),
                                        "installed sinks (`crmhub plugins`)"))
                continue
            if getattr(sink, "needs_owner_emails", False):
                self.owners_without_email(notify, where)
            shapes = sorted(getattr(sink, "payloads", ("full", "ids")))
            if notify.payload not in shapes:
                self.issue(f"{where}.payload", f"sink {notify.sink!r} cannot work with "
                           f"payload {notify.payload!r}", f"use {' or '.join(map(repr, shapes))}")
            settings_model = getattr(sink, "Settings", None)
            if settings_model is not None:
                try:
                    settings_model.model_validate(notify.settings)
                except ValidationError as exc:
                    self.issues.extend(_issues(exc, self.raw, self.file,
                                               ("notify", index, "settings"), settings_model))

    def owners_without_email(self, notify: NotifySpec, where: str) -> None:
        """A sink that writes to owners cannot reach one without an address: each of its
        deliveries to them would end as ``no_recipient``."""
        for index, owner in enumerate(self.spec.owners):
            if not owner.emails:
                self.warnings.append(ConfigIssue(
                    self.file, f"{self.where('owners', index, 'id')}.emails",
                    f"owner {owner.id!r} has no e-mail address: the {notify.sink} sink "
                    f"{notify.name!r} ({where}) cannot tell them of their leads",
                    "add emails = [...] to the owner"))


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
