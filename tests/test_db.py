"""Schema migrations and the revision guard, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from hub.db import (
    SchemaError,
    current_revision,
    ensure_schema,
    head_revision,
    make_engine,
    upgrade,
)
from hub.model import Base


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
