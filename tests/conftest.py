"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

Each PostgreSQL test gets a database of its own, created and dropped around it. When the
server cannot be reached the test is skipped on a developer machine and *fails* under
``CI=true``, so a green CI always includes PostgreSQL. Every PostgreSQL test carries the
``postgres`` marker (a test asking for ``pg_url`` gets it here) and says so in the JUnit
report (property ``postgres``), where ``.ci/run`` counts them whatever their ids.

The tests import the working tree's ``hub`` and ``plugins/hub_*`` (pytest's ``pythonpath``),
and so do the processes they start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hub.store.db import make_engine, upgrade
from tests.postgres import Databases, pg_admin


def pytest_configure(config: pytest.Config) -> None:
    """Child processes (``python -m hub.cli``, the import check) import the working tree too:
    pytest's ``pythonpath`` roots lead their PYTHONPATH, ahead of any installed copy."""
    roots = [str(path) for path in config.getini("pythonpath")]
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in roots]
    os.environ["PYTHONPATH"] = os.pathsep.join([*roots, *rest])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that asks for ``pg_url`` as a PostgreSQL test, and record the marker in
    the JUnit report, so that the CI's guard sees each PostgreSQL test that was skipped."""
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
        if item.get_closest_marker("postgres") is not None:
            item.user_properties.append(("postgres", "true"))


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[Databases]:
    """This process's PostgreSQL databases (skips or fails when the server is away)."""
    databases = Databases(pg_admin())
    yield databases
    databases.close()


@pytest.fixture
def pg_url(pg_databases: Databases) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    name = pg_databases.create()
    yield pg_databases.url(name)
    pg_databases.drop(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL on each engine; already migrated on PostgreSQL when the test
    asks for ``engine`` too, which migrates it (a copy of a migrated database is quicker)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crmhub.db'}"
    elif "engine" in request.fixturenames:
        databases: Databases = request.getfixturevalue("pg_databases")
        name = databases.create(migrated=True)
        yield databases.url(name)
        databases.drop(name)
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database on each engine."""
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_crmhub_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up the developer's CRMHUB_* overrides. The daemons they start do not
    all take the default port 8787 at once: the listener is off unless a test turns it on
    (on 127.0.0.1:0, a free port)."""
    for var in list(os.environ):
        if var.startswith("CRMHUB_") and var != "CRMHUB_TEST_PG":
            monkeypatch.delenv(var)
    monkeypatch.setenv("CRMHUB_HUB__LISTEN", "")
