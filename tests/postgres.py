"""The PostgreSQL server the tests use, and the rule for when it is away: a test is skipped
on a developer machine and *fails* under ``CI=true``, so a green CI always includes
PostgreSQL."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import Engine, create_engine, text

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
