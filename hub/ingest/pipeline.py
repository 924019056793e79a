"""Observation batch -> normalise -> resolve -> merge -> golden records -> commit.

One database transaction per batch: source records, golden records, outbox events,
quarantined input and the connector's cursor commit together or not at all, so a crash at
any point followed by a restart neither loses nor doubles anything. Each record is applied
inside a savepoint: one that fails is quarantined with its reason and the rest commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.config import ConnectorConfig, HubConfig
from hub.connectors import Batch
from hub.ingest.batch import BatchRun, serialise_writers
from hub.ingest.prepare import PreparedBatch, Preparer, build_policy
from hub.ingest.state import IngestStats
from hub.ingest.statistics import PlannerStatistics
from hub.match.engine import ProbabilisticResolver, Resolver
from hub.match.golden import SURVIVORSHIP
from hub.plugins import HubPlugins
from hub.privacy.suppression import Suppressor
from hub.routing.engine import Routing  # scoring, lifecycle and routing (rules file)
from hub.store.db import session_factory


class Pipeline:
    """Stores batches; holds no state between batches but the policy and the resolver."""

    def __init__(self, engine: Engine, config: HubConfig, plugins: HubPlugins | None = None,
                 *, resolver: Resolver | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.sessions = session_factory(engine)
        self.sessions.configure(info={SURVIVORSHIP: config.match.survivorship.policy()})
        self.config = config
        self.plugins = plugins
        self.policy = build_policy(config)
        self.resolver: Resolver = resolver or ProbabilisticResolver(
            config.match, plugins.comparator_classes().values() if plugins else ())
        self.preparer = Preparer(self.policy, plugins)
        self.routing = Routing.load(config, plugins)
        self.clock = clock
        self.statistics = PlannerStatistics(engine)
        self.suppressor = Suppressor(config.privacy.suppression_salt)

    def analyze_if_grown(self, written: int) -> None:
        """Refresh the planner statistics while a bulk load grows the tables
        (:meth:`PlannerStatistics.analyze_if_grown`)."""
        self.statistics.analyze_if_grown(written)

    def has_statistics(self) -> bool:
        """Whether the store's contacts table has ever been analysed."""
        return self.statistics.has_statistics()

    def ingest(self, connector: ConnectorConfig, batch: Batch | PreparedBatch, *,
               session: Session | None = None, allow_deletes: bool = False) -> IngestStats:
        """Apply one batch in one transaction.

        A plain :class:`Batch` is prepared here, normalising only what changed; a
        :class:`PreparedBatch` comes normalised already. With ``session`` the batch joins
        that caller's open transaction and nothing is committed here (``--dry-run`` rolls
        the whole run back at the end).
        """
        if isinstance(batch, Batch):
            batch = self.preparer.prepare(connector, batch, normalise=False)
        if session is not None:
            return BatchRun(self, session, connector, batch, allow_deletes).run()
        with self.sessions() as own:
            own.begin()
            try:
                serialise_writers(own)
                stats = BatchRun(self, own, connector, batch, allow_deletes).run()
            except BaseException:
                own.rollback()
                raise
            own.commit()
        return stats
