"""Schema migrations and the revision guard, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, inspect, text

from hub.db import (
    SchemaError,
    current_revision,
    ensure_schema,
    head_revision,
    make_engine,
    upgrade,
)
from hub.model import Base, Contact, SourceRecord, table_of


def test_upgrade_creates_every_table_of_the_model(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_migrations_match_the_model_exactly(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
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

    from hub.db import alembic_config
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

    from hub.canonical import Policy, canonical_person
    from hub.db import alembic_config
    from hub.match.blocking import stored_keys
    from hub.records import Address, PersonData

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

    from hub.bulk import insert_with_ids
    from hub.db import among, session_factory
    from hub.match.engine import _keyed

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
