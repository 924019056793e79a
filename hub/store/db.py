"""Database engines, schema migrations (Alembic) and the revision guard.

SQLite is the embedded default: WAL, foreign keys on, a busy timeout, and created or
upgraded by ``crmhub run``/``sync`` by themselves. PostgreSQL is upgraded explicitly with
``crmhub db upgrade``. Either way a database at a revision this code does not know is
refused rather than written to.

Every engine carries SQLAlchemy's fork guard: a pooled connection is only ever used by the
process that opened it, so a forked child opens its own. PostgreSQL sessions also end
themselves when left idle inside a transaction (:data:`PG_IDLE_IN_TRANSACTION_TIMEOUT`)
and use TCP keepalives both ways, and a pooled connection is pinged before each use, so
that a server restart costs the next checkout a reconnect rather than an error.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Integer,
    Text,
    any_,
    bindparam,
    create_engine,
    event,
    exc,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    PendingRollbackError,
)
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

SQLITE_BUSY_TIMEOUT_MS = 30_000
IN_CHUNK = 500  # values per IN (...) list: far below every engine's limit on parameters

#: Seconds a PostgreSQL session may sit idle inside a transaction before the server ends
#: it (the ``idle_in_transaction_session_timeout`` setting, set on every session). A last
#: guard: a process that hangs or dies mid-transaction while its socket lingers (a stopped
#: or orphaned worker) would otherwise hold its row locks, and the leases, forever. A
#: batch's transaction is never idle for more than a moment between two statements; the
#: one legitimate long wait, ``crmhub sync --dry-run`` holding one transaction while the
#: connector reads, turns it off for its transaction with
#: ``SET LOCAL idle_in_transaction_session_timeout = 0``.
PG_IDLE_IN_TRANSACTION_TIMEOUT = 600.0

#: TCP keepalives on PostgreSQL connections, in seconds: idle time before the first probe,
#: interval between probes, probes lost before the peer is declared gone. Set on both
#: ends: libpq's (our side notices a server host that vanished instead of waiting on a
#: read forever) and the server's ``tcp_keepalives_*`` (the server notices a crmhub host
#: that vanished and ends its session, releasing its locks), after about two minutes.
PG_KEEPALIVES_IDLE = 60
PG_KEEPALIVES_INTERVAL = 10
PG_KEEPALIVES_COUNT = 6

# Pooled connections a forked child found in its copy of a pool and set aside, unused:
# referenced here so that the child never finalises (closes) them while it runs. crmhub's
# children end with os._exit, which finalises nothing.
_INHERITED: list[Any] = []

T = TypeVar("T")


class SchemaError(Exception):
    """The database schema is not the one this version of crmhub expects."""


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def sqlite_file_exists(url: str) -> bool:
    database = make_url(url).database
    return not database or database == ":memory:" or Path(database).is_file()


def json_text(value: Any) -> str:
    """JSON columns are written by orjson: several times faster than the json module on
    the ingest path, and the same JSON (compact, UTF-8 instead of \\u escapes)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, *,
                idle_in_transaction_timeout: float = PG_IDLE_IN_TRANSACTION_TIMEOUT,
                **kwargs: Any) -> Engine:
    """An engine with the pragmas and session settings crmhub relies on, and the fork
    guard; creates a SQLite file's directory.

    ``idle_in_transaction_timeout`` (seconds, 0 for none) applies to PostgreSQL only; the
    URL's own ``options`` and libpq keepalive parameters win over crmhub's.
    """
    kwargs.setdefault("json_serializer", json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                               **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not pysqlite, open transactions, so BEGIN covers reads too.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        _guard_forks(engine, ping=False)
        return engine
    connect_args = _pg_connect_args(parsed.query, dict(kwargs.pop("connect_args", {})),
                                    idle_in_transaction_timeout)
    # No pool_pre_ping: SQLAlchemy pings before the checkout listeners run, so a forked
    # child would ping over its parent's socket; the guard pings after its pid check.
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    _guard_forks(engine, ping=True)
    return engine


def _pg_connect_args(query: Any, connect_args: dict[str, Any],
                     idle_in_transaction_timeout: float) -> dict[str, Any]:
    """crmhub's session settings (``options``) and libpq keepalives, before the URL's."""
    settings = {
        "idle_in_transaction_session_timeout": round(idle_in_transaction_timeout * 1000),
        "tcp_keepalives_idle": PG_KEEPALIVES_IDLE,
        "tcp_keepalives_interval": PG_KEEPALIVES_INTERVAL,
        "tcp_keepalives_count": PG_KEEPALIVES_COUNT,
    }
    ours = " ".join(f"-c {name}={value}" for name, value in settings.items())
    # SQLAlchemy lets connect_args replace the URL's parameters; a later -c wins in
    # PostgreSQL, so the URL's and the caller's options go after crmhub's.
    theirs = [connect_args.get("options"), query.get("options")]
    connect_args["options"] = " ".join([ours, *(str(o) for o in theirs if o)])
    keepalives = {"keepalives": 1, "keepalives_idle": PG_KEEPALIVES_IDLE,
                  "keepalives_interval": PG_KEEPALIVES_INTERVAL,
                  "keepalives_count": PG_KEEPALIVES_COUNT}
    for name, value in keepalives.items():
        if name not in query:
            connect_args.setdefault(name, value)
    return connect_args


def _guard_forks(engine: Engine, *, ping: bool) -> None:
    """SQLAlchemy's guard for pools that cross ``os.fork()`` ("Using Connection Pools with
    Multiprocessing or os.fork()"): a pooled connection checked out in a process other
    than the one that opened it is set aside, neither used nor closed, and the pool opens
    a fresh one. With ``ping`` a connection of this process is pinged first and replaced
    when the server no longer answers (a restart).

    A forked child also never invalidates the whole pool on a disconnect: that would make
    later checkouts close the parent's connections (PostgreSQL: a Terminate message on the
    parent's socket) before this guard could set them aside.
    """
    created_in = os.getpid()

    def opened(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["pid"] = os.getpid()

    def checkout(dbapi_connection: Any, record: ConnectionPoolEntry,
                 proxy: PoolProxiedConnection) -> None:
        pid = os.getpid()
        if record.info.get("pid") != pid:
            _INHERITED.append(dbapi_connection)
            # The entry and the proxy are _ConnectionRecord and _ConnectionFairy, whose
            # dbapi_connection is a plain attribute (the public types declare it read-only).
            cast(Any, record).dbapi_connection = cast(Any, proxy).dbapi_connection = None
            raise exc.DisconnectionError(
                f"connection record belongs to pid {record.info.get('pid')}, "
                f"attempting to check out in pid {pid}")
        if ping and not _answers(engine, dbapi_connection):
            raise exc.DisconnectionError("the database server closed the connection")

    def failed(context: ExceptionContext) -> None:
        if context.is_disconnect and os.getpid() != created_in:
            context.invalidate_pool_on_disconnect = False

    event.listen(engine, "connect", opened)
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "handle_error", failed)


def _answers(engine: Engine, dbapi_connection: Any) -> bool:
    """Whether the connection still reaches its server (False: a disconnect error)."""
    dialect = engine.dialect
    try:
        return dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error as error:
        if dialect.is_disconnect(error, dbapi_connection, None):
            return False
        raise


def enable_wal(cursor: Any, attempts: int = 60) -> None:
    """Put a SQLite database in WAL mode, which the file then keeps. Switching a new file
    needs it to itself: several processes opening it at once (a daemon and its listener
    on a first start) get "database is locked" at once, busy timeout or not, so the
    switch is tried again a few times, unless another process made it already."""
    for attempt in range(attempts):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 + 0.01 * attempt)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    enable_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 64 MiB of page cache instead of 2 MiB: index lookups of a large store stay in memory.
    cursor.execute("PRAGMA cache_size=-65536")
    # Checkpoint every 64 MiB of WAL instead of 4 MiB: a bulk import dirties the same index
    # pages batch after batch, and each checkpoint copies them back and syncs the file once
    # (the gain is measured in BENCHMARKS.md, with benchmarks/stages.py).
    cursor.execute("PRAGMA wal_autocheckpoint=16384")
    cursor.close()


def among(session: Session, column: ColumnElement[Any] | QueryableAttribute[Any],
          values: Sequence[int] | Sequence[str]) -> ColumnElement[bool]:
    """``column IN values`` for the hot lookups of a batch.

    On PostgreSQL the values travel as one array parameter (``= ANY(%s)``): the statement
    is short and the same whatever the number of values, so psycopg converts it once and
    the server can prepare it. A list of hundreds of placeholders was parsed again by
    psycopg (a Python regular expression over the whole text) and planned again by the
    server for every batch: a tenth of the writer's time at 100,000 rows. SQLite binds
    the plain list, which its C parser reads at no cost worth saving.
    """
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(values)
    kind = BigInteger() if isinstance(column.type, Integer) else Text()
    return column == any_(bindparam(None, list(values), type_=ARRAY(kind)))


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> list[list[T]]:
    """``values`` in lists of at most ``size``: the pieces of a long ``IN (...)`` list."""
    return [list(values[i:i + size]) for i in range(0, len(values), size)]


def hold_open(session: Session) -> None:
    """Exempt this transaction from ``PG_IDLE_IN_TRANSACTION_TIMEOUT``: it stays open, idle,
    across calls outside the database (a dry run while its connector reads, a delivery
    pass while sinks answer), and a live process holds it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))


# SQLSTATEs that say the server or the session failed, not the statement: connection
# exceptions (08), insufficient resources (53), system errors (58), the server shutting
# down or the database dropped, the idle-in-transaction guard, and lock waits, deadlocks and
# serialisation failures, which a later run does not meet again.
_PG_UNAVAILABLE_CLASSES = frozenset({"08", "53", "58"})
_PG_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "57P04", "25P03", "40001",
                                    "40P01", "55P03"})
# SQLite primary result codes of the same kind: busy or locked by another process, out of
# memory, read-only, disk I/O, corrupt, disk full, cannot open, locking protocol.
_SQLITE_UNAVAILABLE_CODES = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15})


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database itself failed (connection lost, server shutting
    down, SQLite locked or out of disk), not one record: the whole batch is rolled back
    and the run is retried later, instead of quarantining records one by one.

    An error that names a statement's own failure (a constraint, a bad value, a query
    the server refuses) is not one of these, whatever its DBAPI class: a record that
    always fails must reach the quarantine, or it would fail every run.
    """
    if isinstance(exc, PendingRollbackError | DisconnectionError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in _PG_UNAVAILABLE_CLASSES or sqlstate in _PG_UNAVAILABLE_STATES
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in _SQLITE_UNAVAILABLE_CODES
    # No code at all: a driver's own client-side failure (psycopg raises these when it
    # cannot reach the server or loses it mid-statement).
    return isinstance(exc, OperationalError | InterfaceError)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", "hub:migrations")
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config(create_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config(create_engine("sqlite://")))
    return {rev.revision for rev in script.walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations (``crmhub db upgrade``)."""
    current = current_revision(engine)
    if current is not None and current not in known_revisions():
        raise SchemaError(_unknown(current))
    command.upgrade(alembic_config(engine), revision)


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    """Refuse an unknown revision; upgrade when allowed (embedded SQLite), else ask to."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is not None and current not in known_revisions():
        raise SchemaError(_unknown(current))
    if auto_upgrade:
        upgrade(engine)
        return
    state = "empty" if current is None else f"at revision {current}"
    raise SchemaError(f"the database is {state}; this crmhub needs {head}: "
                      "run `crmhub db upgrade` first")


def _unknown(revision: str) -> str:
    return (f"the database is at revision {revision}, which this crmhub does not know "
            "(written by a newer crmhub?); refusing to touch it")
