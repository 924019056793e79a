"""Lifecycle stages: an ordered list and the transitions that move contacts along it.

```toml
[lifecycle]                                  # in the scoring file
stages = ["lead", "prospect", "customer", "loyal", "lost"]
lost = "lost"                                # reachable from any stage, by rule
[[lifecycle.transitions]]
to = "prospect"
when = { score = { gte = 50 } }
[[lifecycle.transitions]]
to = "customer"
when = { "contact.identifiers.customer_number" = { exists = true } }
[[lifecycle.transitions]]
to = "lost"
from = ["customer", "loyal"]
when = { "interactions.days_since_last" = { gt = 365 } }
```

Rules only move a contact forward, or to the ``lost`` stage; nothing a sync brings moves it
back. Transitions apply in file order, repeatedly, so a contact can go from lead to
customer in one pass. A person may still set any stage (``crmhub contacts set ID stage=``).
Every move is stored in ``stage_changes`` and announced as ``contact.stage_changed``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from hub.assign.facts import INTERACTION_FIELDS, load_facts
from hub.assign.model import StageChange
from hub.assign.scoring import LifecycleConfig
from hub.model import Contact, OutboxEvent, table_of

DEFAULT_STAGES = ["lead", "prospect", "customer", "loyal", "lost"]


class Lifecycle:
    def __init__(self, config: LifecycleConfig | None):
        self.config = config
        self.stages = config.stages if config else DEFAULT_STAGES
        self.lost = config.lost if config else "lost"
        self.rank = {stage: index for index, stage in enumerate(self.stages)}

    @property
    def enabled(self) -> bool:
        return self.config is not None and bool(self.config.transitions)

    def allowed(self, current: str, target: str) -> bool:
        """Forward only, or to ``lost``; never out of ``lost`` by rule."""
        if current == target or current == self.lost:
            return False
        if target == self.lost:
            return True
        return self.rank.get(target, -1) > self.rank.get(current, len(self.stages))

    def next_stage(self, facts: dict[str, object]) -> tuple[str, str] | None:
        """The first transition that applies to a contact in these facts."""
        assert self.config is not None
        current = str(facts.get("stage") or self.stages[0])
        for transition in self.config.transitions:
            if transition.from_stages and current not in transition.from_stages:
                continue
            if self.allowed(current, transition.to) and transition.condition(facts):
                return transition.to, transition.name
        return None

    @property
    def reads_interactions(self) -> bool:
        return self.config is not None and any(
            t.condition.fields & INTERACTION_FIELDS for t in self.config.transitions)

    def apply(self, session: Session, contact_ids: list[int], now: datetime,
              facts: dict[int, dict[str, Any]] | None = None) -> int:
        """Move these contacts as far as the transitions take them; returns moves made.
        ``facts`` (loaded by the caller) get their ``stage`` updated."""
        if not self.enabled or not contact_ids:
            return 0
        assert self.config is not None
        if facts is None:
            facts = load_facts(session, contact_ids, interactions=self.reads_interactions,
                               now=now)
        moves: list[dict[str, object]] = []
        events: list[dict[str, object]] = []
        stages: list[dict[str, Any]] = []
        for contact_id in sorted(set(contact_ids)):
            contact_facts = facts.get(contact_id)
            if contact_facts is None or not contact_facts.get("_live", True):
                continue
            start = contact_facts.get("stage")
            for _ in range(len(self.stages)):
                step = self.next_stage(contact_facts)
                if step is None:
                    break
                target, rule = step
                moves.append({"contact_id": contact_id, "from_stage": contact_facts["stage"],
                              "to_stage": target, "rule": rule, "by": "rule", "at": now})
                contact_facts["stage"] = target
            if contact_facts.get("stage") != start:
                stages.append({"id": contact_id, "stage": contact_facts["stage"],
                               "updated_at": now})
                events.append({"type": "contact.stage_changed", "created_at": now,
                               "attempts": 0, "payload": {
                                   "contact_id": contact_id, "from": start,
                                   "to": contact_facts["stage"]}})
        if moves:
            session.execute(update(Contact), stages)
            session.execute(insert(table_of(StageChange)), moves)
            session.execute(insert(table_of(OutboxEvent)), events)
        return len(moves)
