"""The contract kit changes the source between syncs: the walk-through's connector passes,
and each of three planted bugs fails the kit test that names it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.connectors import Batch, Connector
from hub.testing import (
    ConnectorContract,
    ConnectorFactory,
    SourceChanges,
    check_changes,
    check_connector,
    make_context,
)
from tests.sources.acme import AcmeConnector
from tests.sources.fake_api import BASE, FakeContacts


def factory(cls: type[Connector] = AcmeConnector) -> ConnectorFactory:
    settings = cls.Settings.model_validate({"base_url": BASE, "page_size": 2,
                                            "token": {"env": "ACME_TOKEN"}})
    return lambda: cls("acme", settings, make_context(secrets={"ACME_TOKEN": "t0k"}))


class TestAcmeContract(ConnectorContract):
    """The kit as a connector author runs it: every test, the changing ones included."""

    @pytest.fixture
    def connector_factory(self, api: FakeContacts) -> ConnectorFactory:
        return factory()

    @pytest.fixture
    def source_changes(self, api: FakeContacts) -> SourceChanges:
        return api


class IdFromVersion(AcmeConnector):
    """Planted bug: the external id includes the record's version."""

    def external_id(self, record: dict[str, Any]) -> str:
        return f"{record['id']}@{record['updated_at']}"


class DeletedFlagIgnored(AcmeConnector):
    """Planted bug: archived records are read as live ones."""

    deleted_key = None


class DeletedRowsSkipped(AcmeConnector):
    """Planted bug: archived records are left out instead of tombstoned."""

    def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        for batch in super().sync(cursor, full=full):
            batch.observations = [o for o in batch.observations if not o.deleted]
            yield batch


def test_the_walkthrough_connector_passes_every_check(api: FakeContacts, tmp_path: Path) -> None:
    assert check_connector(factory()) == []
    assert check_changes(factory(), api, tmp_path) == []


def test_an_external_id_that_changes_on_update_fails_the_update_check(
        api: FakeContacts, tmp_path: Path) -> None:
    # It passes every check on unchanging data: only a changing source shows it.
    class ByRecordId:
        """The API's own ids behind the connector's versioned ones."""

        def add(self) -> str:
            return api.add()

        def update(self, external_id: str) -> None:
            api.update(external_id.split("@")[0])

        def delete(self, external_id: str) -> None:
            api.delete(external_id.split("@")[0])

    assert check_connector(factory(IdFromVersion)) == []
    problems = check_changes(factory(IdFromVersion), ByRecordId(), tmp_path, only=["updated"])
    assert any("an external id never seen before: an update must keep" in p
               for p in problems), problems


def test_an_ignored_deleted_flag_fails_the_deletion_check(
        api: FakeContacts, tmp_path: Path) -> None:
    assert check_connector(factory(DeletedFlagIgnored)) == []
    [problem] = check_changes(factory(DeletedFlagIgnored), api, tmp_path, only=["deleted"])
    assert "'c2') is still live" in problem and "is the deleted flag read?" in problem


def test_skipped_deleted_rows_fail_the_deletion_check(api: FakeContacts, tmp_path: Path) -> None:
    assert check_connector(factory(DeletedRowsSkipped)) == []
    [problem] = check_changes(factory(DeletedRowsSkipped), api, tmp_path, only=["deleted"])
    assert "'c2') is still live after the next sync: yield a tombstone" in problem


def test_a_contract_class_without_source_changes_says_what_to_provide(
        api: FakeContacts) -> None:
    class TestForgetful(ConnectorContract):
        pass

    fixture = TestForgetful.source_changes.__wrapped__  # type: ignore[attr-defined]
    with pytest.raises(pytest.fail.Exception, match="must override the source_changes"):
        fixture(TestForgetful())


def test_make_context_takes_the_configs_secret_references_and_names_a_missing_one() -> None:
    context = make_context(secrets={"ACME_TOKEN": "a", "/run/key": "b"})
    assert context.resolve_secret({"env": "ACME_TOKEN"}) == "a"
    assert context.resolve_secret(AcmeConnector.Settings.model_validate(
        {"base_url": BASE, "token": {"file": "/run/key"}}).token) == "b"  # type: ignore[attr-defined]
    with pytest.raises(Exception, match=r"secret env ACME_SECRET has no value .* "
                                        r"add secrets=\{'ACME_SECRET': '...'\}"):
        context.resolve_secret({"env": "ACME_SECRET"})
