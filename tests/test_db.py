"""Schema migrations and the revision guard, on both engines."""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, create_engine, insert, inspect, text
from sqlalchemy.exc import IntegrityError, InternalError, OperationalError
from sqlalchemy.pool import NullPool

from hub.store.db import (
    SchemaError,
    current_revision,
    database_unavailable,
    ensure_schema,
    head_revision,
    hold_open,
    make_engine,
    session_factory,
    upgrade,
)
from hub.store.model import Contact, SourceRecord, table_of
from hub.store.tables import metadata


def test_upgrade_creates_every_table_of_the_model(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


def test_migrations_match_the_model_exactly(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_empty_sqlite_is_created_by_itself(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/sub/dir/hub.db")
    ensure_schema(engine, auto_upgrade=True)
    assert current_revision(engine) == head_revision()


def test_database_that_is_not_upgraded_is_refused_with_the_command_to_run(db_url: str) -> None:
    engine = make_engine(db_url)
    with pytest.raises(SchemaError, match="run `crmhub db upgrade` first"):
        ensure_schema(engine, auto_upgrade=False)


def test_unknown_revision_is_refused_and_left_untouched(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    for auto in (True, False):
        with pytest.raises(SchemaError, match="does not know"):
            ensure_schema(engine, auto_upgrade=auto)
    with pytest.raises(SchemaError, match="does not know"):
        upgrade(engine)
    assert current_revision(engine) == "ffff_future"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/hub.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -65536


def test_match_keys_stored_before_0006_survive_it_each_once_and_the_downgrade_back(
        db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0005")
    with engine.begin() as connection:
        # Contacts and source records have not changed since 0005: the model writes them.
        when = datetime(2026, 12, 1, tzinfo=UTC)
        connection.execute(insert(table_of(Contact)).values(id=1, created_at=when,
                                                            updated_at=when))
        connection.execute(insert(table_of(SourceRecord)).values(
            id=7, connector="csv", external_id="r1", kind="person", content_hash="h",
            observed_at=when, first_seen=when, last_seen=when, contact_id=1))
        for id_, kind, key, given in ((1, "email", "ada@example.com", None),
                                      (2, "fi", "lovelace|a", "ada"),
                                      (3, "email", "ada@example.com", None)):  # twice
            connection.execute(text(
                "INSERT INTO match_keys (id, contact_id, source_record_id, kind, key, given) "
                "VALUES (:id, 1, 7, :kind, :key, :given)"),
                {"id": id_, "kind": kind, "key": key, "given": given})
    upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT kind, key, source_record_id, contact_id, given FROM match_keys "
            "ORDER BY kind, key")).all()
    assert [tuple(r) for r in rows] == [("email", "ada@example.com", 7, 1, None),
                                        ("fi", "lovelace|a", 7, 1, "ada")]
    assert "id" not in {c["name"] for c in inspect(engine).get_columns("match_keys")}
    assert inspect(engine).get_pk_constraint("match_keys")["constrained_columns"] == [
        "kind", "key", "source_record_id"]
    assert {i["name"] for i in inspect(engine).get_indexes("match_keys")} == {
        "ix_match_keys_source_record_id"}
    from alembic import command

    from hub.store.db import alembic_config
    command.downgrade(alembic_config(engine), "0005")
    with engine.connect() as connection:
        back = connection.execute(text(
            "SELECT id, kind, key FROM match_keys ORDER BY id")).all()
    assert [(k, v) for _, k, v in back] == [("email", "ada@example.com"),
                                            ("fi", "lovelace|a")]
    assert len({id_ for id_, _, _ in back}) == 2
    assert {i["name"] for i in inspect(engine).get_indexes("match_keys")} == {
        "ix_match_keys_source_record_id", "ix_match_keys_contact_id", "ix_match_keys_kind_key"}


def test_0007_recomputes_stored_records_keys_as_the_pipeline_now_does_and_back(
        db_url: str) -> None:
    from alembic import command

    from hub.match.blocking import stored_keys
    from hub.match.canonical import Policy, canonical_person
    from hub.records import Address, PersonData
    from hub.store.db import alembic_config

    engine = make_engine(db_url)
    upgrade(engine, "0006")
    when = datetime(2026, 12, 1, tzinfo=UTC)
    data = {"given_key": "makenzi", "family_key": "morrison", "birthday": "1981-05-22",
            "address": {"street": "381 maclaurin crescent", "city": "Mayfield",
                        "postcode": "5038"}}
    old = [("fi", "morrison|m", "makenzi"), ("ph_city", "MARASAN|mayfield", "makenzi"),
           ("ph_dob", "MARASAN|1981-05-22", "makenzi"), ("gn_pc", "makenzi|5038", None)]
    with engine.begin() as connection:
        connection.execute(insert(table_of(Contact)).values(id=1, created_at=when,
                                                            updated_at=when))
        for id_, deleted in ((7, None), (8, when)):  # a deleted record gets no keys
            connection.execute(insert(table_of(SourceRecord)).values(
                id=id_, connector="csv", external_id=f"r{id_}", kind="person",
                content_hash="h", data=data, observed_at=when, first_seen=when,
                last_seen=when, deleted_at=deleted, contact_id=1))
        for kind, key, given in old:
            connection.execute(text(
                "INSERT INTO match_keys (contact_id, source_record_id, kind, key, given) "
                "VALUES (1, 7, :kind, :key, :given)"), {"kind": kind, "key": key,
                                                        "given": given})
        connection.execute(text("INSERT INTO shared_points (kind, value, reason, created_at) "
                                "VALUES ('ph_city', 'SNAT|london', 'too common', :at)"),
                           {"at": when})
    upgrade(engine)

    def stored() -> set[tuple[str, str, str | None]]:
        with engine.connect() as connection:
            return {tuple(r) for r in connection.execute(text(
                "SELECT kind, key, given FROM match_keys WHERE source_record_id = 7"))}

    assert stored() == {("fi", "morrison|m", "makenzi"), ("gn_pc", "makenzi|5038", None),
                        ("f3_city", "mor|mayfield", "makenzi"),
                        ("f3_dob", "mor|1981-05-22", "makenzi"),
                        ("dob_city", "1981-05-22|mayfield", None)}
    # What the pipeline stores today for the same person has the same keys of those kinds.
    person = canonical_person(PersonData(given_name="Makenzi", family_name="Morrison",
                                         birthday="1981-05-22", address=Address(
                                             street="381 Maclaurin Crescent",
                                             city="Mayfield", postcode="5038")),
                              Policy(), None)
    now = {k for k in stored_keys(((k.kind, k.key) for k in person.keys), person.data)
           if k[0] in {"f3_city", "f3_dob", "dob_city", "ph_city", "ph_dob"}}
    assert now == {k for k in stored() if k[0] in {"f3_city", "f3_dob", "dob_city"}}
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM match_keys "
                                      "WHERE source_record_id = 8")) == 0
        assert connection.scalar(text("SELECT count(*) FROM shared_points")) == 0
    command.downgrade(alembic_config(engine), "0006")
    assert stored() == {(kind, key, given) for kind, key, given in old}


def test_among_and_keyed_lookups_find_every_value_of_a_batch_larger_than_a_chunk(
        db_url: str) -> None:
    from sqlalchemy import select

    from hub.match.engine import _keyed
    from hub.store.bulk import insert_with_ids
    from hub.store.db import among, session_factory

    engine = make_engine(db_url)
    upgrade(engine)
    when = datetime(2026, 12, 1, tzinfo=UTC)
    with session_factory(engine).begin() as session:
        ids = insert_with_ids(session, table_of(Contact),
                              [{"created_at": when, "updated_at": when}] * 1200)
        wanted = ids[::2]  # 600 of them: more than one chunk of 500
        found = set(session.scalars(select(Contact.id).where(among(session, Contact.id,
                                                                    wanted))))
        assert found == set(wanted)
        assert set(session.scalars(select(Contact.id).where(among(session, Contact.id,
                                                                   [])))) == set()
        session.execute(text("INSERT INTO shared_points (kind, value, reason, created_at) "
                             "VALUES ('phone', '+33612345678', 'test', :at)"), {"at": when})
        keys = {"email": [f"p{i}@example.com" for i in range(700)], "phone": ["+33612345678"]}
        rows = list(_keyed(session, "SELECT kind, value FROM shared_points WHERE "
                           "kind = {kind} AND value {among}", keys))
        assert [tuple(r) for r in rows] == [("phone", "+33612345678")]


# -- connections and forks, session guards, reconnects -------------------------------------


def _in_forked_child(work: Callable[[], object]) -> object:
    """``work()`` run in a forked child (multiprocessing's fork context, as crmhub forks);
    its result or its exception's repr comes back through a pipe."""
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()

    def child() -> None:
        try:
            theirs.send(("ok", work()))
        except BaseException as error:
            theirs.send(("error", repr(error)))

    process = context.Process(target=child)
    process.start()
    kind, result = ours.recv()
    process.join(30)
    assert process.exitcode == 0
    assert kind == "ok", result
    return result


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(
        engine: Engine) -> None:
    import hub.store.db

    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE fork_probe (n INTEGER)"))
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as connection:  # the one pooled connection, idle at the fork
        parents = connection.connection.dbapi_connection
        backend = _backend_pid(connection) if postgres else None
    last_statement = _last_statement_at(engine, backend) if postgres else None

    def child() -> object:
        with engine.begin() as connection:
            own = connection.connection.dbapi_connection
            connection.execute(text("INSERT INTO fork_probe VALUES (1)"))
            pid = _backend_pid(connection) if postgres else None
        return own is not parents, [id(c) for c in hub.store.db._INHERITED], pid

    fresh, set_aside, child_backend = _in_forked_child(child)  # type: ignore[misc]

    # The child's guard set the parent's connection aside and opened its own.
    assert fresh is True
    assert set_aside == [id(parents)]
    assert hub.store.db._INHERITED == []  # nothing was set aside in the parent
    if postgres:  # the child sent nothing over the parent's socket: no ping, no Terminate
        assert child_backend != backend
        assert last_statement is not None
        assert _last_statement_at(engine, backend) == last_statement
    with engine.connect() as connection:  # the parent's own connection still works
        assert connection.connection.dbapi_connection is parents
        assert connection.execute(text("SELECT n FROM fork_probe")).all() == [(1,)]
        if postgres:
            assert _backend_pid(connection) == backend


def _backend_pid(connection: Connection) -> int:
    return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _last_statement_at(engine: Engine, backend: int | None) -> datetime | None:
    """When a PostgreSQL backend last received a statement (None: no such backend), read
    on a connection of its own so that the engine's pool is left as it is."""
    admin = create_engine(engine.url, poolclass=NullPool)
    try:
        with admin.connect() as connection:
            value = connection.execute(text("SELECT query_start FROM pg_stat_activity "
                                            "WHERE pid = :pid"), {"pid": backend}).scalar()
    finally:
        admin.dispose()
    return value if isinstance(value, datetime) else None


@pytest.mark.postgres
def test_a_disconnect_in_a_forked_child_does_not_make_it_close_the_parents_connections(
        pg_url: str) -> None:
    engine = make_engine(pg_url)
    with engine.connect() as first, engine.connect() as second:  # two pooled connections
        backends = {_backend_pid(first), _backend_pid(second)}
    at = {b: _last_statement_at(engine, b) for b in backends}

    def child() -> object:
        with engine.connect() as connection:  # its own connection, which then dies
            try:
                connection.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            except OperationalError as error:
                assert error.connection_invalidated
        with engine.connect() as connection:  # the next checkout finds the parent's other
            return _backend_pid(connection)

    child_backend = _in_forked_child(child)

    assert child_backend not in backends
    # Had the disconnect invalidated the child's whole pool, the next checkout would have
    # closed the parent's other connection (a Terminate on its socket) instead of setting
    # it aside.
    assert {b: _last_statement_at(engine, b) for b in backends} == at
    with engine.connect() as first, engine.connect() as second:
        assert {_backend_pid(first), _backend_pid(second)} == backends
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_sessions_end_an_idle_transaction_and_use_tcp_keepalives(
        pg_url: str) -> None:
    from hub.store.db import (
        PG_IDLE_IN_TRANSACTION_TIMEOUT,
        PG_KEEPALIVES_COUNT,
        PG_KEEPALIVES_IDLE,
        PG_KEEPALIVES_INTERVAL,
    )

    assert PG_IDLE_IN_TRANSACTION_TIMEOUT == 600.0
    engine = make_engine(pg_url)
    with engine.connect() as connection:
        def show(name: str) -> str:
            return str(connection.execute(text(f"SHOW {name}")).scalar_one())

        assert show("idle_in_transaction_session_timeout") == "10min"
        assert show("tcp_keepalives_idle") == "60"  # the server's end of the socket
        assert show("tcp_keepalives_interval") == "10"
        assert show("tcp_keepalives_count") == "6"
        raw = connection.connection.dbapi_connection
        assert raw is not None
        sock = socket.socket(fileno=os.dup(raw.fileno()))
        try:  # our end of the socket probes a silent server too
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == \
                PG_KEEPALIVES_IDLE
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == \
                PG_KEEPALIVES_INTERVAL
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == \
                PG_KEEPALIVES_COUNT
        finally:
            sock.detach()
            sock.close()
    engine.dispose()


@pytest.mark.postgres
def test_the_urls_own_options_win_over_crmhubs_session_settings(pg_url: str) -> None:
    engine = make_engine(pg_url + "?options=-c%20idle_in_transaction_session_timeout%3D0"
                         "%20-c%20application_name%3Dops")
    with engine.connect() as connection:
        assert connection.execute(text("SHOW idle_in_transaction_session_timeout")) \
            .scalar_one() == "0"
        assert connection.execute(text("SHOW application_name")).scalar_one() == "ops"
        assert connection.execute(text("SHOW tcp_keepalives_idle")).scalar_one() == "60"
    engine.dispose()


@pytest.mark.postgres
def test_a_transaction_left_idle_is_ended_by_the_server_and_the_pool_reconnects(
        pg_url: str) -> None:
    engine = make_engine(pg_url, idle_in_transaction_timeout=0.2)
    with engine.connect() as connection:
        connection.begin()
        backend = _backend_pid(connection)
        deadline = time.monotonic() + 10
        while _last_statement_at(engine, backend) is not None:  # the server ends it
            assert time.monotonic() < deadline, "the idle transaction was not ended"
            time.sleep(0.1)
        with pytest.raises(InternalError) as ended:  # SQLSTATE 25P03
            connection.execute(text("SELECT 1"))
        assert ended.value.connection_invalidated
        assert "terminating connection due to idle-in-transaction timeout" in \
            str(ended.value.orig)
    with engine.connect() as connection:  # the next checkout gets a live session
        assert _backend_pid(connection) != backend
    engine.dispose()


@pytest.mark.postgres
def test_connections_the_server_dropped_while_pooled_are_replaced_at_checkout(
        pg_url: str) -> None:
    engine = make_engine(pg_url)
    with engine.connect() as a, engine.connect() as b, engine.connect() as c:
        dropped = {_backend_pid(a), _backend_pid(b), _backend_pid(c)}
    admin = create_engine(engine.url, poolclass=NullPool)
    with admin.connect() as connection:  # what a server restart does to a pool
        terminated = connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity, pg_terminate_backend(pid) "
            "WHERE pid = ANY(:pids)"), {"pids": list(dropped)}).scalar_one()
    admin.dispose()
    assert terminated == 3
    with engine.connect() as a, engine.connect() as b, engine.connect() as c:
        fresh = {_backend_pid(a), _backend_pid(b), _backend_pid(c)}
    assert len(fresh) == 3 and fresh.isdisjoint(dropped)
    engine.dispose()


@pytest.mark.postgres
def test_a_transaction_held_open_on_purpose_outlives_the_idle_timeout_and_the_next_has_it_again(
        pg_url: str) -> None:
    engine = make_engine(pg_url, idle_in_transaction_timeout=0.2)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        hold_open(session)
        time.sleep(0.6)  # three times the timeout, idle
        assert session.execute(text("SELECT 1")).scalar() == 1
    with sessions.begin() as session:
        assert session.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() \
            == "200ms"
    engine.dispose()


@pytest.mark.parametrize("error, unavailable", [
    (OperationalError("SELECT 1", {}, Exception("server closed the connection")), True),
    (InternalError("SELECT 1", {}, Exception("idle-in-transaction timeout"),
                   connection_invalidated=True), True),
    (InternalError("SELECT 1", {}, Exception("out of shared memory")), False),
    (IntegrityError("INSERT", {}, Exception("duplicate key")), False),
    (ValueError("a bad record"), False),
])
def test_database_failures_are_told_from_a_records_own_failure(
        error: Exception, unavailable: bool) -> None:
    assert database_unavailable(error) is unavailable


def _error_of(engine: Engine, *statements: str) -> Exception:
    with engine.connect() as connection:
        try:
            for statement in statements:
                connection.execute(text(statement))
        except Exception as exc:  # the error is what is examined
            return exc
    raise AssertionError(f"no error from {statements}")


def test_a_statement_that_fails_every_time_is_not_the_database_being_away(db_url: str) -> None:
    """SQLite reports a missing table as an OperationalError: a record whose statement
    always fails must still be bisected into quarantine, not fail every run."""
    engine = make_engine(db_url)
    assert not database_unavailable(_error_of(engine, "SELECT * FROM no_such_table"))
    engine.dispose()


@pytest.mark.postgres
def test_a_cancelled_statement_is_not_the_database_being_away(pg_url: str) -> None:
    engine = make_engine(pg_url)
    error = _error_of(engine, "SET statement_timeout = 20", "SELECT pg_sleep(1)")
    assert isinstance(error, OperationalError)  # QueryCanceled, SQLSTATE 57014
    assert not database_unavailable(error)
    engine.dispose()


def test_a_sqlite_file_locked_by_another_writer_is_the_database_being_away(
        tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/locked.db"
    holder = create_engine(url, poolclass=NullPool)
    waiter = create_engine(url, poolclass=NullPool, connect_args={"timeout": 0})
    with holder.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.commit()
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        error = _error_of(waiter, "INSERT INTO t VALUES (1)")
        connection.rollback()
    assert "locked" in str(error)
    assert database_unavailable(error)


@pytest.mark.postgres
def test_a_lock_wait_that_times_out_and_a_terminated_session_are_the_database_being_away(
        pg_url: str) -> None:
    engine = make_engine(pg_url)
    with engine.connect() as holder:
        holder.execute(text("CREATE TABLE held (x integer)"))
        holder.commit()
        holder.execute(text("LOCK TABLE held IN ACCESS EXCLUSIVE MODE"))
        lock_error = _error_of(engine, "SET lock_timeout = 50", "SELECT * FROM held")
        holder.rollback()
    assert database_unavailable(lock_error)  # SQLSTATE 55P03
    terminated = _error_of(engine, "SELECT pg_terminate_backend(pg_backend_pid())",
                           "SELECT 1")
    assert database_unavailable(terminated)
    engine.dispose()
