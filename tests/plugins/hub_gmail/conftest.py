"""Shared helpers of the gmail tests: the fake, connectors over it, the real core on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.connectors import Batch, ConnectorContext
from hub.testing import make_context
from hub_gmail import GmailConnector
from tests.plugins.hub_gmail.fake_google import FakeGoogle

ANN, BEN = "ann@acme.com", "ben@acme.com"
KEY = {"env": "GOOGLE_KEY"}


@pytest.fixture
def fake() -> FakeGoogle:
    return FakeGoogle(people_page=2)


def context(**kwargs: Any) -> ConnectorContext:
    return make_context(secrets={"GOOGLE_KEY": "{}"}, own_domains=["acme.com"], **kwargs)


def connector(fake: FakeGoogle, ctx: ConnectorContext | None = None,
              **settings: Any) -> GmailConnector:
    values = {"mailboxes": [ANN], "service_account_key": KEY, "page_size": 2,
              "batch_size": 2, **settings}
    return GmailConnector("gmail-test", GmailConnector.Settings.model_validate(values),
                          ctx or context(), http_factory=fake.http)


def run(conn: GmailConnector, cursor: dict[str, Any] | None = None, *,
        full: bool = False) -> tuple[list[Batch], dict[str, Any] | None]:
    batches = list(conn.sync(cursor, full=full))
    return batches, (batches[-1].cursor if batches else cursor)


class Store:
    """The real core on a throwaway SQLite database."""

    def __init__(self, workdir: Path) -> None:
        from hub.config import ConnectorConfig, HubConfig
        from hub.ingest.pipeline import Pipeline
        from hub.store.db import make_engine, upgrade
        from hub.testing import FIXED_NOW

        self.engine = make_engine(f"sqlite:///{workdir / 'gmail.db'}")
        upgrade(self.engine)
        config = HubConfig.model_validate({"hub": {"own_domains": ["acme.com"]}})
        self.pipeline = Pipeline(self.engine, config, clock=lambda: FIXED_NOW)
        self.config = ConnectorConfig(name="gmail-test", kind="gmail")

    def ingest(self, batches: Iterator[Batch] | list[Batch], *, stop_after: int | None = None
               ) -> tuple[dict[str, Any] | None, list[str]]:
        """Ingest batches (all, or the first ``stop_after``: a crash after that commit)."""
        cursor, yielded = None, []
        for number, batch in enumerate(batches, start=1):
            self.pipeline.ingest(self.config, batch, allow_deletes=True)
            cursor = batch.cursor
            yielded += [o.external_id for o in batch.observations]
            if stop_after is not None and number >= stop_after:
                break
        return cursor, yielded

    def records(self) -> dict[str, bool]:
        """external id -> deleted."""
        from hub.store.model import SourceRecord

        with self.engine.connect() as db:
            return {e: d is not None for e, d in db.execute(
                select(SourceRecord.external_id, SourceRecord.deleted_at))}

    def contact_emails(self) -> set[str]:
        from hub.store.model import ContactPoint

        with self.engine.connect() as db:
            return set(db.scalars(select(ContactPoint.value).where(ContactPoint.kind == "email")))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path)
    yield db
    db.engine.dispose()
