"""Training without being asked: when the store has grown enough, train the matcher and
re-examine the store with it.

A store that never saw ``crmhub match train`` matches with the default parameters; once
it holds ``[match] train_min_records`` person records, and again whenever it has grown by
``retrain_growth`` since the model in use was trained, :func:`train_if_due` estimates a
new model (``crmhub match train``) and runs the batch matcher with it (``crmhub match
run``): the pairs it now decides differently are merged or queued, each logged as any
merge is. The daemon calls it in a process of its own, off its main loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.config import MatchSection
from hub.match.batch import rededuplicate, train
from hub.match.engine import ProbabilisticResolver
from hub.match.survivorship import MANUAL
from hub.store.model import MatchModel, SourceRecord

log = logging.getLogger(__name__)
LOCK = 0x63726D68_0023  # "crmh" + 0x23: one trainer at a time (PostgreSQL)


@dataclass
class TrainingState:
    """What ``crmhub match status`` shows: the model in use and whether one is due."""

    records: int  # live person records now
    model_id: int | None
    trained_at: datetime | None
    trained_on: int | None  # person records when it was trained
    candidate_pairs: int | None
    duplicates: float | None
    due: str | None  # why a training is due, or None

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "model_id": self.model_id,
                "trained_at": self.trained_at.isoformat() if self.trained_at else None,
                "trained_on": self.trained_on, "candidate_pairs": self.candidate_pairs,
                "duplicates_per_record": self.duplicates, "due": self.due}


def training_state(session: Session, settings: MatchSection) -> TrainingState:
    records = session.scalar(select(func.count()).select_from(SourceRecord).where(
        SourceRecord.kind == "person", SourceRecord.deleted_at.is_(None),
        SourceRecord.connector != MANUAL)) or 0
    model = session.scalars(select(MatchModel).where(MatchModel.entity == "contact")
                            .order_by(MatchModel.id.desc()).limit(1)).first()
    params = model.params if model is not None else {}
    trained_on = params.get("records")
    due = None
    if settings.auto_train:
        if model is None and records >= settings.train_min_records:
            due = f"{records} person records and no trained model yet"
        elif model is not None and records >= settings.train_min_records:
            base = int(trained_on or 0)
            if records >= base * (1 + settings.retrain_growth):
                due = (f"the store grew from {base} to {records} person records since the "
                       "last training")
    return TrainingState(records, model.id if model else None,
                         model.trained_at if model else None,
                         int(trained_on) if trained_on is not None else None,
                         model.pairs if model else None,
                         float(params["duplicates"]) if "duplicates" in params else None, due)


def train_if_due(session: Session, resolver: ProbabilisticResolver, now: datetime) -> bool:
    """Train and re-deduplicate when due; whether it did. One trainer at a time: on
    PostgreSQL a transaction-level advisory lock (a second trainer waits, then finds the
    new model and nothing due); SQLite's single writer serialises them."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(LOCK)))
    state = training_state(session, resolver.settings)
    if state.due is None:
        return False
    log.info("training the matcher: %s", state.due)
    report = train(session, resolver, now)
    if report.model_id is None:
        log.info("matcher not trained: no two stored records share a match key")
        return False
    resolver.refresh(session)
    run = rededuplicate(session, resolver, now, apply=True)
    log.info("matcher trained on %d records (%d candidate pairs, %.3f duplicates per "
             "record); match run merged %d contacts, %d pairs for review",
             report.records, report.candidate_pairs, report.duplicates, len(run.merges),
             run.reviews)
    return True
