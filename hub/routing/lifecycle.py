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
[[lifecycle.transitions]]                    # driven by an event, not a condition
to = "prospect"
from = ["lead"]
on = "interaction"                           # a new synced interaction with the contact
channel = "call"                             # optional filters: channel, direction,
direction = "inbound"                        #   status (one or a list)
status = "answered"
```

``on = "interaction"`` fires for interactions a batch brings for the first time, linked to
the contact; ``on = "contact.merged"`` fires for the survivor of a merge. An event
transition with a ``when`` also needs its condition to hold.

Rules only move a contact forward, or to the ``lost`` stage; nothing a sync brings moves it
back. Transitions apply in file order, repeatedly, so a contact can go from lead to
customer in one pass. A person may still set any stage (``crmhub contacts set ID stage=``).
Every move is stored in ``stage_changes`` and announced as ``contact.stage_changed``.

A merge never moves the survivor back either: it keeps the further of the two stages in
the stage order (:meth:`Lifecycle.furthest`). ``lost`` is reached by rule only, so a lost
contact merged with an active one keeps the active stage; the transitions then run on the
survivor, and a rule to ``lost`` that still holds (or one ``on = "contact.merged"``) moves
it there again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from hub.routing.facts import INTERACTION_FIELDS, load_facts
from hub.routing.model import StageChange
from hub.routing.scoring import LifecycleConfig, Transition
from hub.store.db import chunks
from hub.store.model import Contact, OutboxEvent, table_of

DEFAULT_STAGES = ["lead", "prospect", "customer", "loyal", "lost"]
MERGED = "contact.merged"
INTERACTION = "interaction"


@dataclass(frozen=True)
class Happening:
    """An event that may trigger a transition: a new interaction with the contact (its
    channel, direction and status) or a merge the contact survived."""

    on: str
    channel: str | None = None
    direction: str | None = None
    status: str | None = None

    def triggers(self, transition: Transition) -> bool:
        return transition.on == self.on and \
            (transition.channel is None or transition.channel == self.channel) and \
            (transition.direction is None or transition.direction == self.direction) and \
            (not transition.status or (self.status or "").lower() in transition.status)


@dataclass(frozen=True)
class Merge:
    """One merge a transaction made: ``merged_id`` folded into ``survivor_id``."""

    id: int
    survivor_id: int
    merged_id: int


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

    def furthest(self, mine: str, theirs: str) -> str:
        """The stage a survivor keeps when a contact in stage ``theirs`` merges into it:
        the further in the stage order. ``lost`` is reached by rule only, so the active
        stage of the two wins over it; a stage outside the order leaves ``mine`` as is."""
        if mine not in self.rank or theirs not in self.rank or theirs == self.lost:
            return mine
        if mine == self.lost:
            return theirs
        return theirs if self.rank[theirs] > self.rank[mine] else mine

    def next_stage(self, facts: dict[str, object],
                   happened: Sequence[Happening] = ()) -> tuple[str, str] | None:
        """The first transition that applies to a contact in these facts, given the
        events that happened to it in this transaction."""
        assert self.config is not None
        current = str(facts.get("stage") or self.stages[0])
        for transition in self.config.transitions:
            if transition.from_stages and current not in transition.from_stages:
                continue
            if not self.allowed(current, transition.to):
                continue
            if transition.on is not None and not any(h.triggers(transition)
                                                     for h in happened):
                continue
            if transition.condition is None or transition.condition(facts):
                return transition.to, transition.name
        return None

    @property
    def reads_interactions(self) -> bool:
        return self.config is not None and any(
            t.fields & INTERACTION_FIELDS for t in self.config.transitions)

    @property
    def on_interactions(self) -> bool:
        """Some transition fires on a new interaction."""
        return self.config is not None and any(
            t.on == INTERACTION for t in self.config.transitions)

    def carry_merges(self, session: Session, merges: Sequence[Merge], now: datetime) -> int:
        """Give each survivor the further stage of the two (:meth:`furthest`), in merge
        order so a chain of merges carries the stage along; returns the moves made."""
        if not merges:
            return 0
        ids = sorted({m.survivor_id for m in merges} | {m.merged_id for m in merges})
        rows = {row.id: row for chunk in chunks(ids) for row in session.execute(
            select(Contact.id, Contact.stage, Contact.merged_into_id)
            .where(Contact.id.in_(chunk)))}
        stage = {c: row.stage for c, row in rows.items()}
        moves: list[dict[str, Any]] = []
        for merge in sorted(merges, key=lambda m: m.id):
            mine, theirs = stage.get(merge.survivor_id), stage.get(merge.merged_id)
            if mine is None or theirs is None:
                continue
            kept = self.furthest(mine, theirs)
            if kept != mine:
                stage[merge.survivor_id] = kept
                moves.append({"contact_id": merge.survivor_id, "from_stage": mine,
                              "to_stage": kept, "rule": f"merge {merge.id}", "by": "merge",
                              "at": now})
        live = {c for c, row in rows.items() if row.merged_into_id is None
                and stage[c] != row.stage}
        moves = [m for m in moves if m["contact_id"] in live]
        if moves:
            session.execute(update(Contact), [{"id": c, "stage": stage[c], "updated_at": now}
                                              for c in sorted(live)])
            session.execute(insert(table_of(StageChange)), moves)
            session.execute(insert(table_of(OutboxEvent)), [
                {"type": "contact.stage_changed", "created_at": now, "attempts": 0,
                 "payload": {"contact_id": c, "from": rows[c].stage, "to": stage[c],
                             "reason": "merge"}} for c in sorted(live)])
        return len(moves)

    def apply(self, session: Session, contact_ids: list[int], now: datetime,
              facts: dict[int, dict[str, Any]] | None = None,
              happened: Mapping[int, Sequence[Happening]] | None = None) -> int:
        """Move these contacts as far as the transitions take them; returns moves made.
        ``facts`` (loaded by the caller) get their ``stage`` updated; ``happened`` holds
        the events of this transaction per contact, for transitions with ``on``."""
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
                step = self.next_stage(contact_facts, (happened or {}).get(contact_id, ()))
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
