"""Lead scoring (``[hub] scoring``): points per condition and per kind of activity.

```toml
[[points]]                          # the condition language of routing rules
name = "decision maker"
when = { "contact.title" = { matches = "\\b(ceo|cto|director|head|vp)\\b" } }
points = 20

[[activity]]                        # +5 per inbound e-mail in the last 14 days, 25 at most
name = "inbound e-mails"
channel = "email"
direction = "inbound"
window = "14d"
points = 5
max = 25

[decay]
half_life = "30d"                   # activity points fade with the interaction's age

[lifecycle]                         # see hub.routing.lifecycle
stages = ["lead", "prospect", "customer", "loyal", "lost"]
```

The score and its breakdown (one line per condition or activity that scored) are stored in
``contact_scores`` and the score in ``contacts.score``; both are rewritten only when the
breakdown changed. Activity points age, so contacts that have some are rescored by the
daemon's periodic pass as well as when a batch changes them.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from hub.config import ConfigError, ConfigIssue, parse_duration
from hub.routing.conditions import Condition, ConditionError, compile_condition
from hub.routing.facts import INTERACTION_FIELDS, load_facts
from hub.routing.issues import validation_issues as _issues
from hub.routing.model import ContactScore
from hub.store.db import chunks
from hub.store.model import Contact, Interaction, InteractionContact, table_of

RESCORE_AFTER = timedelta(hours=1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PointsSpec(_Strict):
    name: str
    when: dict[str, Any]
    points: float


class ActivitySpec(_Strict):
    name: str
    channel: Literal["email", "call", "sms", "social", "form", "meeting"] | None = None
    direction: Literal["inbound", "outbound", "internal"] | None = None
    window: float = 30 * 86400.0
    points: float
    max: float | None = None

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> float:
        return parse_duration(value)


class DecaySpec(_Strict):
    half_life: float

    @field_validator("half_life", mode="before")
    @classmethod
    def _half_life(cls, value: Any) -> float:
        return parse_duration(value)


class TransitionSpec(_Strict):
    to: str
    when: dict[str, Any] | None = None
    on: Literal["interaction", "contact.merged"] | None = None
    channel: Literal["email", "call", "sms", "social", "form", "meeting"] | None = None
    direction: Literal["inbound", "outbound", "internal"] | None = None
    status: list[str] | None = None
    name: str | None = None
    from_stages: list[str] = Field(default_factory=list, alias="from")

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LifecycleSpec(_Strict):
    stages: list[str] = Field(default_factory=lambda: ["lead", "prospect", "customer", "loyal",
                                                        "lost"])
    lost: str | None = "lost"
    transitions: list[TransitionSpec] = Field(default_factory=list)


class ScoringFile(_Strict):
    points: list[PointsSpec] = Field(default_factory=list)
    activity: list[ActivitySpec] = Field(default_factory=list)
    decay: DecaySpec | None = None
    lifecycle: LifecycleSpec | None = None


@dataclass
class Transition:
    """A move to ``to``: on a condition, on an event (``on``), or on an event that also
    meets a condition. An interaction event may be narrowed by channel, direction and
    status (any of them, compared without case)."""

    name: str
    to: str
    condition: Condition | None
    from_stages: frozenset[str]
    on: str | None = None
    channel: str | None = None
    direction: str | None = None
    status: frozenset[str] = frozenset()

    @property
    def fields(self) -> set[str]:
        return set(self.condition.fields) if self.condition is not None else set()


@dataclass
class LifecycleConfig:
    stages: list[str]
    lost: str | None
    transitions: list[Transition]


def load_scoring(path: Path) -> Scoring:
    """Read and validate a scoring file; :class:`ConfigError` names file, entry and key."""
    file = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(file, "(file)", "scoring file not found",
                                       "check [hub] scoring (relative to the config file)")]) \
            from None
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(file, "(syntax)", str(exc))]) from None
    try:
        spec = ScoringFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_issues(exc, raw, file, (), ScoringFile)) from None
    issues: list[ConfigIssue] = []
    points: list[tuple[PointsSpec, Condition]] = []
    for index, entry in enumerate(spec.points):
        where = f"points[{index} name={entry.name}]"
        try:
            condition = compile_condition(entry.when, "when")
        except ConditionError as exc:
            issues.append(ConfigIssue(file, f"{where}.{exc.key}", exc.message, exc.hint))
            continue
        if "score" in condition.fields:
            issues.append(ConfigIssue(file, f"{where}.when", "a score condition cannot read "
                                      "the score it makes", "use another field"))
        points.append((entry, condition))
    lifecycle = None
    if spec.lifecycle is not None:
        lifecycle = _lifecycle(spec.lifecycle, file, issues)
    if issues:
        raise ConfigError(issues)
    return Scoring(points, spec.activity, spec.decay, lifecycle, path)


def _lifecycle(spec: LifecycleSpec, file: str, issues: list[ConfigIssue]) -> LifecycleConfig:
    stages = spec.stages
    if not stages or stages[0] != "lead":
        issues.append(ConfigIssue(file, "lifecycle.stages", "the first stage must be 'lead'",
                                  "new contacts are created in stage 'lead'"))
    if len(set(stages)) != len(stages):
        issues.append(ConfigIssue(file, "lifecycle.stages", "a stage is listed twice"))
    if spec.lost is not None and spec.lost not in stages:
        issues.append(ConfigIssue(file, "lifecycle.lost", f"{spec.lost!r} is not a stage",
                                  f"stages: {', '.join(stages)}"))
    transitions = []
    for index, entry in enumerate(spec.transitions):
        where = f"lifecycle.transitions[{index}]"
        for key, stage in [("to", entry.to), *(("from", s) for s in entry.from_stages)]:
            if stage not in stages:
                issues.append(ConfigIssue(file, f"{where}.{key}", f"unknown stage {stage!r}",
                                          f"stages: {', '.join(stages)}"))
        if entry.when is None and entry.on is None:
            issues.append(ConfigIssue(file, f"{where}.when", "a transition needs a condition "
                                      "(when) or an event (on)",
                                      'e.g. on = "interaction" or when = { score = { gte = 40 }'
                                      ' }'))
            continue
        filters = [key for key in ("channel", "direction", "status")
                   if getattr(entry, key) is not None]
        if filters and entry.on != "interaction":
            issues.append(ConfigIssue(file, f"{where}.{filters[0]}", "only an interaction "
                                      "event can be narrowed by channel, direction or status",
                                      'add on = "interaction"'))
            continue
        condition = None
        if entry.when is not None:
            try:
                condition = compile_condition(entry.when, "when")
            except ConditionError as exc:
                issues.append(ConfigIssue(file, f"{where}.{exc.key}", exc.message, exc.hint))
                continue
        transitions.append(Transition(
            entry.name or f"to {entry.to}", entry.to, condition, frozenset(entry.from_stages),
            entry.on, entry.channel, entry.direction,
            frozenset(s.lower() for s in entry.status or ())))
    return LifecycleConfig(stages, spec.lost, transitions)


class Scoring:
    """Computes and stores lead scores."""

    def __init__(self, points: list[tuple[PointsSpec, Condition]], activity: list[ActivitySpec],
                 decay: DecaySpec | None, lifecycle: LifecycleConfig | None,
                 path: Path | None = None):
        self.points = points
        self.activity = activity
        self.decay = decay
        self.lifecycle = lifecycle
        self.path = path
        reads: set[str] = set()
        for _, condition in points:
            reads |= condition.fields
        for transition in lifecycle.transitions if lifecycle else []:
            reads |= transition.fields
        self.interaction_facts = bool(reads & INTERACTION_FIELDS)
        self.reads_interactions = bool(activity) or self.interaction_facts

    def compute(self, facts: dict[str, Any],
                activity: list[tuple[str, str, datetime]], now: datetime) -> tuple[
                    float, list[dict[str, Any]], bool]:
        """(score, breakdown, ages) of one contact from its facts and interactions."""
        breakdown: list[dict[str, Any]] = []
        for entry, condition in self.points:
            if condition(facts):
                breakdown.append({"name": entry.name, "points": entry.points,
                                  "kind": "condition"})
        ages = False
        for rule in self.activity:
            earliest = now - timedelta(seconds=rule.window)
            total, count = 0.0, 0
            for channel, direction, occurred in activity:
                if (rule.channel and channel != rule.channel) or \
                        (rule.direction and direction != rule.direction) or \
                        not earliest <= occurred <= now:
                    continue
                factor = 1.0
                if self.decay is not None:
                    age = (now - occurred).total_seconds()
                    factor = 0.5 ** (age / self.decay.half_life)
                total += rule.points * factor
                count += 1
            if count:
                ages = True
                if rule.max is not None:
                    total = min(total, rule.max)
                breakdown.append({"name": rule.name, "points": round(total, 2),
                                  "kind": "activity", "count": count})
        score = round(sum(item["points"] for item in breakdown), 2)
        return score, breakdown, ages

    def rescore(self, session: Session, contact_ids: list[int], now: datetime,
                facts: dict[int, dict[str, Any]] | None = None) -> int:
        """Recompute these contacts' scores; returns how many changed. ``facts`` (loaded
        by the caller for these contacts) get their ``score`` updated."""
        ids = sorted(set(contact_ids))
        if not ids:
            return 0
        if facts is None:
            facts = load_facts(session, ids, interactions=self.interaction_facts, now=now)
        facts = {c: facts[c] for c in ids if c in facts and facts[c].get("_live", True)}
        activity = self._activity(session, list(facts), now)
        stored = {row.contact_id: row for chunk in chunks(list(facts)) for row in
                  session.execute(select(ContactScore.contact_id, ContactScore.inputs_hash,
                                         ContactScore.decays)
                                  .where(ContactScore.contact_id.in_(chunk)))}
        fresh: list[dict[str, Any]] = []
        rewritten: list[dict[str, Any]] = []
        scores: list[dict[str, Any]] = []
        for contact_id, contact_facts in facts.items():
            score, breakdown, ages = self.compute(contact_facts, activity.get(contact_id, []),
                                                  now)
            digest = hashlib.sha256(json.dumps(breakdown, sort_keys=True).encode()).hexdigest()
            row = stored.get(contact_id)
            values = {"contact_id": contact_id, "score": score, "breakdown": breakdown,
                      "inputs_hash": digest, "decays": ages, "computed_at": now}
            if row is not None and row.inputs_hash == digest:
                rewritten.append({"contact_id": contact_id, "decays": ages,
                                  "computed_at": now})
                continue
            (fresh if row is None else rewritten).append(values)
            if contact_facts.get("score") != score:
                scores.append({"id": contact_id, "score": score})
                contact_facts["score"] = score
        if fresh:
            session.execute(insert(table_of(ContactScore)), fresh)
        unchanged = [r for r in rewritten if "score" not in r]
        for group in (unchanged, [r for r in rewritten if "score" in r]):
            if group:
                session.execute(update(ContactScore), group)
        if scores:
            session.execute(update(Contact), scores)
        return len(fresh) + len(rewritten) - len(unchanged)

    def rescore_decayed(self, session: Session, now: datetime, limit: int = 1000) -> int:
        """Contacts whose activity points age, not rescored for an hour."""
        ids = list(session.scalars(select(ContactScore.contact_id).where(
            ContactScore.decays, ContactScore.computed_at < now - RESCORE_AFTER)
            .order_by(ContactScore.computed_at).limit(limit)))
        return self.rescore(session, ids, now) if ids else 0

    def _activity(self, session: Session, ids: list[int],
                  now: datetime) -> dict[int, list[tuple[str, str, datetime]]]:
        if not self.activity or not ids:
            return {}
        earliest = now - timedelta(seconds=max(a.window for a in self.activity))
        out: dict[int, dict[int, tuple[str, str, datetime]]] = {}
        for chunk in chunks(ids):
            for contact_id, interaction_id, channel, direction, occurred in session.execute(
                    select(InteractionContact.contact_id, Interaction.id, Interaction.channel,
                           Interaction.direction, Interaction.occurred_at)
                    .join(Interaction, Interaction.id == InteractionContact.interaction_id)
                    .where(InteractionContact.contact_id.in_(chunk),
                           Interaction.deleted_at.is_(None), Interaction.occurred_at >= earliest)):
                out.setdefault(contact_id, {})[interaction_id] = (channel, direction, occurred)
        return {c: sorted(v.values(), key=lambda t: t[2]) for c, v in out.items()}
