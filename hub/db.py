"""Database engines, schema migrations (Alembic) and the revision guard.

SQLite is the embedded default: WAL, foreign keys on, a busy timeout, and created or
upgraded by ``crmhub run``/``sync`` by themselves. PostgreSQL is upgraded explicitly with
``crmhub db upgrade``. Either way a database at a revision this code does not know is
refused rather than written to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


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


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas crmhub relies on; creates a SQLite file's directory."""
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
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 64 MiB of page cache instead of 2 MiB: index lookups of a large store stay in memory.
    cursor.execute("PRAGMA cache_size=-65536")
    # Checkpoint every 64 MiB of WAL instead of 4 MiB: a bulk import dirties the same index
    # pages batch after batch, and each checkpoint copies them back and syncs the file once
    # (benchmarks/stages.py, 100k rows: the writer's 677 -> 633 µs per row).
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
