"""Bulk inserts at the driver's speed, for the ingest hot path.

SQLAlchemy's ``insert().returning(..., sort_by_parameter_order=True)`` is what gives each
inserted row its id in order; on SQLite it runs one statement per row (SQLite does not
promise the order of a multi-row RETURNING), and Core's per-row parameter processing
costs more than the insert itself. Here the ids are handed out first, in one statement
(PostgreSQL: the table's sequence; SQLite: after the highest id, under the write lock
that ``BEGIN IMMEDIATE`` holds, see hub.store.db), and the rows then go to the DBAPI's
``executemany`` as tuples, each value through its column type's own bind processor, so
what is stored is byte for byte what Core would store. PostgreSQL takes them by COPY.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

_Processor = Callable[[Any], Any] | None
_Default = Callable[[], Any]
_Plan = tuple[str, list[_Processor], list[_Default]]
_plans: dict[tuple[str, str, tuple[str, ...]], _Plan] = {}


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` fresh primary keys for ``table``, ascending, reserved for this transaction."""
    if count <= 0:
        return []
    connection = session.connection()
    name = connection.dialect.name
    if name == "sqlite":
        # BEGIN IMMEDIATE (hub.store.db) holds the database's only write lock from the start of
        # the transaction, so nobody else can take these ids before the insert.
        top = connection.exec_driver_sql(
            f"SELECT coalesce(max(id), 0) FROM {_quoted(connection.dialect, table)}").scalar()
        start = int(top or 0) + 1
        return list(range(start, start + count))
    if name == "postgresql":
        rows = connection.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                 "FROM generate_series(1, :count)"),
            {"table": table.name, "count": count})
        return sorted(int(row[0]) for row in rows)
    raise NotImplementedError(f"no id allocation for the {name} dialect")


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT every row (dicts with the same keys) with one ``executemany``; columns a row
    leaves out get their Python-side default, as with Core."""
    if not rows:
        return
    columns = tuple(rows[0])
    connection = session.connection()
    sql, processors, defaults = _plan(connection, table, columns)
    width = len(columns)
    if any(len(row) != width for row in rows):
        raise ValueError(f"{table.name}: every row must name the same columns")
    # Values are read by one itemgetter per row; only the columns whose type has a bind
    # processor (JSON, dates, booleans) are touched one by one.
    take = itemgetter(*columns)
    params = [take(row) for row in rows] if width > 1 else [(take(row),) for row in rows]
    if defaults:
        params = [(*values, *(default() for default in defaults)) for values in params]
    convert = [(index, process) for index, process in enumerate(processors)
               if process is not None]
    if convert:
        for position, values in enumerate(params):
            changed = list(values)
            for index, process in convert:
                value = changed[index]
                if value is not None:
                    changed[index] = process(value)
            params[position] = tuple(changed)
    if connection.dialect.name == "postgresql":
        _copy(connection, sql, params)
    else:
        connection.exec_driver_sql(sql, params)


def _copy(connection: Connection, sql: str, params: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: the rows stream in through COPY, in the same transaction (several times
    faster than executemany, even pipelined: no per-row statement to parse and bind)."""
    head = sql.partition(" VALUES ")[0].replace("INSERT INTO ", "COPY ", 1)
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f"{head} FROM STDIN") as copy:
        for row in params:
            copy.write_row(row)


def insert_with_ids(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """INSERT the rows with fresh ids; the ids, in the order of ``rows``."""
    ids = allocate_ids(session, table, len(rows))
    if ids:
        insert_rows(session, table, [{"id": id_, **row} for id_, row in zip(ids, rows,
                                                                            strict=True)])
    return ids


def _default_of(arg: Any) -> _Default:
    """Core wraps a callable default as ``f(context)``; bulk rows have no context."""
    if callable(arg):
        return lambda: arg(None)
    return lambda: arg


def placeholder(dialect: Dialect) -> str:
    """The DBAPI's positional parameter marker: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _quoted(dialect: Dialect, table: Table) -> str:
    return dialect.identifier_preparer.format_table(table)


def _plan(connection: Connection, table: Table, given: tuple[str, ...]) -> _Plan:
    dialect = connection.dialect
    cached = _plans.get((dialect.name, table.name, given))
    if cached is not None:
        return cached
    defaults: list[_Default] = []
    columns = list(given)
    for column in table.columns:
        default = column.default
        if column.name in given or default is None or not hasattr(default, "arg"):
            continue
        columns.append(column.name)
        defaults.append(_default_of(default.arg))
    quote = dialect.identifier_preparer.quote
    marker = placeholder(dialect)
    sql = (f"INSERT INTO {_quoted(dialect, table)} "
           f"({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({', '.join(marker for _ in columns)})")
    processors: list[_Processor] = [
        table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    plan = _plans[(dialect.name, table.name, given)] = sql, processors, defaults
    return plan
