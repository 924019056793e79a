"""Planner statistics, refreshed while a bulk load grows the tables."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

log = logging.getLogger(__name__)
# The tables a bulk load grows, analysed as it does (PlannerStatistics.analyze_if_grown).
ANALYZED = ("source_records", "match_keys", "contacts", "contact_points", "companies",
            "company_domains")
SQLITE_ANALYSIS_LIMIT = 1000  # rows sampled per index: statistics in milliseconds


class PlannerStatistics:
    """When to analyse the tables a bulk load grows; one per pipeline (per process)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._grown = 0  # records written since the planner statistics were refreshed
        self._analyzed_at = 0
        self._unanalysed: bool | None = None  # the store had no statistics at the start

    def analyze_if_grown(self, written: int) -> None:
        """Refresh the planner statistics while a bulk load grows the tables.

        Without statistics both planners pick a poor index as the store grows: SQLite
        answers "these contacts' e-mails and phones" through the index on the point's
        kind (every e-mail and phone of the store, each batch) and counts open leads
        through ``merged_into_id IS NULL`` (the whole table); PostgreSQL walks a whole
        connector's rows for every batch lookup (autovacuum runs too late for one long
        import). So the grown tables are analysed each time the records written in this
        process double (from 5,000 on), and once at the first batch when the store has
        never been analysed (a store written by an earlier version). SQLite samples at
        most ``SQLITE_ANALYSIS_LIMIT`` rows per index, which keeps it to milliseconds.
        """
        self._grown += written
        if self._unanalysed is None:
            self._unanalysed = not self.has_statistics()
        if not self._unanalysed and self._grown < max(5000, 2 * self._analyzed_at):
            return
        self._unanalysed = False
        self._analyzed_at = self._grown
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "sqlite":
                connection.exec_driver_sql(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
                for table in ANALYZED:  # SQLite analyses one table (or all) at a time
                    connection.exec_driver_sql(f"ANALYZE {table}")
            else:
                connection.exec_driver_sql(f"ANALYZE {', '.join(ANALYZED)}")
            connection.commit()
        log.info("planner statistics refreshed after %d records", self._grown)

    def has_statistics(self) -> bool:
        """Whether the store's contacts table has ever been analysed."""
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "sqlite":
                return bool(connection.exec_driver_sql(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar()) \
                    and bool(connection.exec_driver_sql(
                        "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'contacts'").scalar())
            # reltuples is -1 until the first ANALYZE (PostgreSQL 14 and later)
            reltuples = connection.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'contacts'::regclass").scalar()
            return reltuples is not None and reltuples >= 0
