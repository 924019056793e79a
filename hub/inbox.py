"""The webhook inbox: what the HTTP listener accepted, durable before it answers 2xx.

A push source's request is written here, raw (body and headers), and committed before
the listener answers; the connector then drains the inbox through the normal pipeline, in
batches, with the inbox id as its cursor, so a crash between the answer and the
processing loses nothing and processes nothing twice.

The inbox is a spool database of its own (SQLite, WAL, ``synchronous=FULL``), not a table
of the main database: on SQLite a bulk import holds the main database's write lock for
seconds, and a provider waiting that long for its answer gives up and retries. It lives
beside the SQLite database (``crmhub-inbox.db``), else in ``$STATE_DIRECTORY`` (systemd),
else beside the config file, unless ``[hub] inbox`` names it.

A provider's event id (when its connector can tell one) is unique per connector: the same
event delivered twice is stored once. Processed rows keep their id and event id but lose
their body, and are purged after ``[hub] inbox_retention_days``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from hub.store.db import enable_wal
from hub.store.model import UTCDateTime

__all__ = ["Inbox", "InboxItem", "default_inbox_path"]

_metadata = MetaData()
_inbox = Table(
    "inbox", _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connector", String(100), nullable=False),
    Column("event_id", String(300)),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("headers", Text, nullable=False),
    Column("body", LargeBinary),  # None once processed
    Column("processed_at", UTCDateTime()),
    UniqueConstraint("connector", "event_id", name="uq_inbox_event"),
    sqlite_autoincrement=True,  # ids never reused: they are cursors
)


def default_inbox_path(configured: Path | None, sqlite_file: Path | None,
                       config_file: Path) -> Path:
    """Where the inbox lives (see the module's doc); ``sqlite_file``: the main database's
    file when it is SQLite."""
    if configured is not None:
        return configured
    if sqlite_file is not None:
        return sqlite_file.with_name("crmhub-inbox.db")
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0]) / "crmhub-inbox.db"
    return config_file.parent / "crmhub-inbox.db"


@dataclass(frozen=True)
class InboxItem:
    """One accepted request, as received."""

    id: int
    connector: str
    event_id: str | None
    received_at: datetime
    headers: dict[str, str]
    body: bytes


class Inbox:
    """The spool database; safe to share between threads, and across forks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # A few pooled connections, reused request after request; a process forked since
        # (the listener, a worker) drops the ones it inherited before its first use.
        self.engine: Engine = create_engine(f"sqlite:///{path}", pool_size=4,
                                            connect_args={"timeout": 30,
                                                          "check_same_thread": False})
        event.listen(self.engine, "connect", _pragmas)
        self._pid = os.getpid()
        try:
            _metadata.create_all(self.engine)
        except OperationalError as exc:  # another process created it between check and create
            if "already exists" not in str(exc):
                raise
            _metadata.create_all(self.engine)

    def put(self, connector: str, event_id: str | None, headers: Mapping[str, str],
            body: bytes, now: datetime | None = None) -> tuple[int | None, bool]:
        """Store one request, committed when this returns: (its id, whether it was new).
        An event id already stored for ``connector`` stores nothing (``(None, False)``)."""
        self._own()
        row = {"connector": connector, "event_id": event_id,
               "received_at": now or datetime.now(UTC),
               "headers": json.dumps(dict(headers), ensure_ascii=False), "body": body}
        try:
            with self.engine.begin() as connection:
                result = connection.execute(insert(_inbox).values(**row))
                key = result.inserted_primary_key
                return (int(key[0]) if key else None), True
        except IntegrityError:
            return None, False

    def pending(self, connector: str, after: int, limit: int) -> list[InboxItem]:
        """Unprocessed requests of ``connector`` after id ``after``, oldest first."""
        self._own()
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(_inbox).where(_inbox.c.connector == connector, _inbox.c.id > after,
                                     _inbox.c.body.is_not(None))
                .order_by(_inbox.c.id).limit(limit))
            return [InboxItem(r.id, r.connector, r.event_id, r.received_at,
                              json.loads(r.headers), bytes(r.body)) for r in rows]

    def last_ids(self) -> dict[str, int]:
        """The newest request's id of each connector that has one (one query)."""
        self._own()
        with self.engine.connect() as connection:
            return {name: int(newest) for name, newest in connection.execute(
                select(_inbox.c.connector, func.max(_inbox.c.id)).group_by(_inbox.c.connector))}

    def last_id(self, connector: str) -> int:
        """The newest request's id for ``connector`` (0: none yet)."""
        return self.last_ids().get(connector, 0)

    def done(self, connector: str, upto: int, now: datetime | None = None) -> None:
        """Requests up to ``upto`` were committed to the main database: drop their bodies
        (their ids and event ids stay, so a late duplicate is still recognised)."""
        self._own()
        with self.engine.begin() as connection:
            connection.execute(update(_inbox).where(
                _inbox.c.connector == connector, _inbox.c.id <= upto,
                _inbox.c.body.is_not(None)).values(body=None,
                                                   processed_at=now or datetime.now(UTC)))

    def purge(self, days: int, now: datetime | None = None) -> int:
        """Forget processed requests older than ``days``; the count removed."""
        self._own()
        cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
        with self.engine.begin() as connection:
            result = connection.execute(delete(_inbox).where(
                _inbox.c.body.is_(None), _inbox.c.received_at < cutoff))
            return int(result.rowcount or 0)

    def backlog(self) -> dict[str, int]:
        """Unprocessed requests per connector."""
        self._own()
        with self.engine.connect() as connection:
            return {name: int(count) for name, count in connection.execute(
                select(_inbox.c.connector, func.count()).where(_inbox.c.body.is_not(None))
                .group_by(_inbox.c.connector))}

    def _own(self) -> None:
        """In a process forked since the last use: forget the parent's pooled connections
        (without closing them: they are the parent's) and open this process's own."""
        if os.getpid() != self._pid:
            self.engine.dispose(close=False)
            self._pid = os.getpid()

    def close(self) -> None:
        self.engine.dispose()


def _pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    enable_wal(cursor)
    cursor.execute("PRAGMA synchronous=FULL")  # an accepted request survives a power cut
    cursor.close()


