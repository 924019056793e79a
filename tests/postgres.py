"""The PostgreSQL server the tests use, and the rule for when it is away: a test is skipped
on a developer machine and *fails* under ``CI=true``, so a green CI always includes
PostgreSQL. ``Databases`` makes and drops the tests' databases; ``sibling_database`` gives a
test a second one on its engine."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from hub.store.db import make_engine, upgrade

PG_ADMIN_URL = os.environ.get("CRMHUB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_admin() -> Engine:
    """An autocommit engine on the server's admin database, or skip/fail the test."""
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        return engine
    except Exception as exc:  # psycopg missing or server down
        message = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def sibling_database(db_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty database on the same engine as ``db_url``, dropped afterwards."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'reference.db'}"
        return
    name = f"{url.database}_ref_{uuid.uuid4().hex[:6]}"
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = :n"), {"n": name})
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


class Databases:
    """The PostgreSQL databases of one pytest process.

    A test's database is new, empty or a copy of a migrated template made once (a copy takes
    a fraction of the second the migrations take). Dropping waits on the server for about a
    second, so a background thread drops the databases of finished tests while the next one
    runs; ``close`` waits for it.
    """

    def __init__(self, admin: Engine) -> None:
        self.admin = admin
        self._template: str | None = None
        self._drops: queue.Queue[str | None] = queue.Queue()
        self._failed: list[str] = []
        self._dropper = threading.Thread(target=self._drop_queued, name="drop-databases",
                                         daemon=True)
        self._dropper.start()

    def url(self, name: str) -> str:
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def create(self, *, migrated: bool = False) -> str:
        """A new database's name: empty, or at the migrations' head."""
        name = f"crmhub_test_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{self._migrated()}"' if migrated else ""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{template}'))
        return name

    def drop(self, name: str) -> None:
        """Drop ``name`` soon, ending its sessions (the test's leftovers)."""
        self._drops.put(name)

    def close(self) -> None:
        if self._template is not None:
            self.drop(self._template)
        self._drops.put(None)
        self._dropper.join()
        self.admin.dispose()
        if self._failed:
            raise RuntimeError("test databases left behind: " + "; ".join(self._failed))

    def _migrated(self) -> str:
        if self._template is None:
            name = self.create()
            engine = make_engine(self.url(name))
            upgrade(engine)
            engine.dispose()  # a template has no sessions, or it cannot be copied
            with self.admin.connect() as connection:  # not even autovacuum's
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            self._template = name
        return self._template

    def _drop_queued(self) -> None:
        while (name := self._drops.get()) is not None:
            try:
                with self.admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception as exc:  # reported by close()
                self._failed.append(f"{name}: {exc}")
