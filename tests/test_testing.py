"""Tests of hub.testing: a good in-memory connector passes, each broken one fails clearly."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

import pytest
from pydantic import BaseModel

from hub.connectors import (
    Batch,
    CheckResult,
    Connector,
    ConnectorSettings,
    SnapshotEnd,
)
from hub.records import ContactValue, Observation, PersonData
from hub.testing import CHECKS, ConnectorContract, ConnectorFactory, check_connector, make_context

RECORDS = [
    ("p1", "Ada Lovelace"),
    ("p2", "Grace Hopper"),
    ("p3", "Edsger Dijkstra"),
    ("p4", "Barbara Liskov"),
    ("p5", "Alan Turing"),
]


class MemorySettings(ConnectorSettings):
    batch_size: int = 2


class MemoryConnector(Connector):
    """A well-behaved snapshot connector over RECORDS, two records per batch."""

    kind = "memory"
    Settings = MemorySettings
    scope: ClassVar[str] = "people"

    def records(self) -> list[tuple[str, str]]:
        return RECORDS

    def observation(self, external_id: str, name: str) -> Observation:
        return Observation(
            kind="person",
            external_id=external_id,
            observed_at=self.context.clock(),
            person=PersonData(
                full_name=name, emails=[ContactValue(value=f"{external_id}@example.com")]
            ),
        )

    def start(self, cursor: dict[str, Any] | None) -> int:
        return 0 if cursor is None else int(cursor["offset"])

    def cursor(self, offset: int) -> dict[str, Any] | None:
        return {"offset": offset}

    def token(self, start: int) -> str:
        return f"snapshot-{len(self.records())}"

    def snapshot_end(self, token: str) -> SnapshotEnd:
        return SnapshotEnd(scope=self.scope, token=token)

    def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        records = self.records()
        size = cast(MemorySettings, self.settings).batch_size
        first = self.start(cursor)
        token = self.token(first)
        for start in range(first, len(records), size):
            chunk = records[start : start + size]
            end = start + len(chunk)
            yield Batch(
                observations=[self.observation(*r) for r in chunk],
                cursor=self.cursor(end),
                scope=self.scope,
                token=token,
                snapshot_end=self.snapshot_end(token) if end == len(records) else None,
            )

    def check(self) -> CheckResult:
        return CheckResult(ok=True, message="in memory")


def factory_of(cls: type[Connector]) -> ConnectorFactory:
    return lambda: cls("memory-test", MemorySettings(), make_context(name="memory-test"))


def problems_of(cls: type[Connector], *only: str) -> list[str]:
    return check_connector(factory_of(cls), only=only or None)


def assert_problem(problems: list[str], pattern: str) -> None:
    assert any(re.search(pattern, p) for p in problems), problems


# -- the good connector ------------------------------------------------------------------------


def test_good_connector_has_no_problems() -> None:
    assert problems_of(MemoryConnector) == []


class TestGoodConnectorThroughTheContractClass(ConnectorContract):
    changes_unsupported = ("RECORDS is a constant; the changing-source checks run on a "
                           "mocked API in tests/sources")
    @pytest.fixture
    def connector_factory(self) -> ConnectorFactory:
        return factory_of(MemoryConnector)


def test_push_only_connector_passes() -> None:
    class PushOnly(Connector):
        kind = "hook"

    assert problems_of(PushOnly) == []


def test_unknown_check_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown checks"):
        check_connector(factory_of(MemoryConnector), only=["speed"])


def test_contract_class_fails_with_the_problem_list() -> None:
    class Upper(MemoryConnector):
        kind = "Memory"

    with pytest.raises(pytest.fail.Exception, match=r"contract \(kind\) broken:\n- kind must"):
        ConnectorContract().test_kind_is_a_lowercase_name(factory_of(Upper))


# -- broken connectors ---------------------------------------------------------------------------


def test_uppercase_kind_fails() -> None:
    class Upper(MemoryConnector):
        kind = "Memory"

    assert problems_of(Upper) == ["kind must be a non-empty lowercase str, got 'Memory'"]


def test_settings_accepting_unknown_keys_fail() -> None:
    class LooseSettings(BaseModel):
        batch_size: int = 2

    class Loose(MemoryConnector):
        Settings = LooseSettings  # type: ignore[assignment]

    problems = problems_of(Loose, "settings")
    assert_problem(problems, r"^Settings LooseSettings must forbid unknown keys")
    assert_problem(problems, r"accepted an unknown key")
    assert_problem(problems, r"connector.settings is a MemorySettings, not an instance")


def test_non_json_cursor_fails() -> None:
    class DateCursor(MemoryConnector):
        def cursor(self, offset: int) -> dict[str, Any] | None:
            return {"offset": offset, "at": datetime(2026, 1, 1, tzinfo=UTC)}

    assert_problem(
        problems_of(DateCursor, "batches"),
        r"^batch 1: cursor is not JSON-serialisable: Object of type datetime",
    )


def test_cursor_that_does_not_round_trip_fails() -> None:
    class TupleCursor(MemoryConnector):
        def cursor(self, offset: int) -> dict[str, Any] | None:
            return {"offset": (offset, 0)}

    assert_problem(problems_of(TupleCursor, "batches"), r"^batch 1: cursor does not survive")


def test_missing_cursor_fails() -> None:
    class NoCursor(MemoryConnector):
        def cursor(self, offset: int) -> dict[str, Any] | None:
            return None

    assert_problem(problems_of(NoCursor), r"^batch 1: cursor is None")


def test_cursor_mutated_after_yield_fails() -> None:
    class SharedCursor(MemoryConnector):
        shared: ClassVar[dict[str, Any]] = {}

        def cursor(self, offset: int) -> dict[str, Any] | None:
            self.shared["offset"] = offset
            return self.shared

    assert_problem(
        problems_of(SharedCursor, "batches"),
        r"^batch 1: cursor was changed after the batch was yielded",
    )


def test_duplicated_ids_fail() -> None:
    class Duplicates(MemoryConnector):
        def records(self) -> list[tuple[str, str]]:
            return [*RECORDS, RECORDS[1]]

    assert_problem(
        problems_of(Duplicates, "batches"),
        r"^batch 3, observation 2: person 'p2' repeats batch 1, observation 2 unchanged",
    )


def test_tombstone_after_the_record_is_not_a_duplicate() -> None:
    class Tombstone(MemoryConnector):
        def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
            done = 0 if cursor is None else int(cursor["n"])
            if done < 1:
                yield Batch(observations=[self.observation("p1", "Ada")], cursor={"n": 1})
            if done < 2:
                gone = Observation(kind="person", external_id="p1", observed_at=FIXED, deleted=True)
                yield Batch(observations=[gone], cursor={"n": 2})

    assert problems_of(Tombstone) == []


def test_non_deterministic_output_fails() -> None:
    counter = itertools.count()

    class Drifting(MemoryConnector):
        def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
            run = next(counter)
            for batch in super().sync(cursor, full=full):
                for obs in batch.observations:
                    assert obs.person is not None
                    obs.person.title = f"run {run}"
                yield batch

    assert problems_of(Drifting, "deterministic") == [
        "sync(None) is not deterministic: person 'p1' (batch 1, observation 1) differs"
        " between two runs from the same data (fields: person)"
    ]


def test_resync_yielding_again_fails() -> None:
    class IgnoresCursor(MemoryConnector):
        def start(self, cursor: dict[str, Any] | None) -> int:
            return 0

    problems = problems_of(IgnoresCursor)
    assert_problem(
        problems,
        r"^sync\(final cursor\) on unchanged data yielded 5 observations \(first: person 'p1'",
    )
    assert_problem(
        problems,
        r"^resuming from the cursor of batch 1 re-yielded person 'p1' unchanged from batch 1",
    )


def test_losing_records_on_resume_fails() -> None:
    class SkipsOne(MemoryConnector):
        def start(self, cursor: dict[str, Any] | None) -> int:
            return 0 if cursor is None else int(cursor["offset"]) + 1

    assert_problem(
        problems_of(SkipsOne, "resume"),
        r"^resuming from the cursor of batch 1 lost person 'p3' \(batch 2, observation 1\)",
    )


def test_new_token_when_resuming_an_open_snapshot_fails() -> None:
    class TokenPerRun(MemoryConnector):
        def token(self, start: int) -> str:
            return f"from-{start}"

    assert_problem(
        problems_of(TokenPerRun, "resume"),
        r"^resuming from the cursor of batch 1 continued snapshot 'people' with token"
        r" 'from-2' instead of 'from-0'",
    )


def test_snapshot_end_before_the_last_batch_of_its_scope_fails() -> None:
    class EarlyEnd(MemoryConnector):
        def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
            for batch in super().sync(cursor, full=full):
                if batch.cursor == {"offset": 4}:
                    batch.snapshot_end = self.snapshot_end(cast(str, batch.token))
                if batch.cursor == {"offset": 5}:
                    batch.snapshot_end = None
                yield batch

    assert problems_of(EarlyEnd, "snapshots") == [
        "batch 2: ends snapshot 'people' but batch 3 still belongs to it;"
        " SnapshotEnd must be on the last batch of its scope"
    ]


def test_snapshot_end_of_another_scope_fails() -> None:
    class OtherScope(MemoryConnector):
        def snapshot_end(self, token: str) -> SnapshotEnd:
            return SnapshotEnd(scope="companies", token=token)

    assert_problem(
        problems_of(OtherScope, "snapshots"),
        r"^batch 3: snapshot_end scope 'companies' does not match the batch scope 'people'",
    )


def test_yielding_something_else_than_a_batch_fails() -> None:
    class Dicts(MemoryConnector):
        def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
            yield {"observations": []}  # type: ignore[misc]

    assert problems_of(Dicts, "batches") == ["batch 1: sync yielded dict, not a Batch"]


def test_observation_that_does_not_revalidate_fails() -> None:
    class Constructed(MemoryConnector):
        def observation(self, external_id: str, name: str) -> Observation:
            return Observation.model_construct(
                kind="person", external_id=external_id, observed_at=FIXED, person=None
            )

    assert_problem(
        problems_of(Constructed, "batches"),
        r"^batch 1, observation 1: does not re-validate as an Observation: .*needs its 'person'",
    )


def test_sync_raising_is_reported_once_with_its_consequences() -> None:
    class Breaks(MemoryConnector):
        def observation(self, external_id: str, name: str) -> Observation:
            if external_id == "p3":
                raise RuntimeError("source went away")
            return super().observation(external_id, name)

    problems = problems_of(Breaks)
    assert "sync(None) raised RuntimeError after 1 batch: source went away" in problems
    assert_problem(problems, r"^cannot check deterministic: sync\(None\) raised RuntimeError")


def test_endless_sync_is_stopped() -> None:
    class Endless(MemoryConnector):
        def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
            for n in itertools.count(1):
                yield Batch(cursor={"n": n})

    problems = check_connector(factory_of(Endless), only=["batches"], max_batches=3)
    assert problems == ["sync(None) yielded more than 3 batches; stopped there"]


def test_check_raising_fails() -> None:
    class BadCheck(MemoryConnector):
        def check(self) -> CheckResult:
            raise RuntimeError("no route to host")

    assert problems_of(BadCheck, "check") == ["check() raised RuntimeError: no route to host"]


def test_factory_returning_something_else_fails() -> None:
    problems = check_connector(lambda: cast(Connector, object()), only=CHECKS)
    assert problems == ["connector_factory() returned object, not a hub.connectors.Connector"]


def test_make_context_resolves_known_secrets_only() -> None:
    context = make_context(secrets={"API_KEY": "k-123"})

    assert context.resolve_secret({"env": "API_KEY"}) == "k-123"
    assert context.resolve_secret("API_KEY") == "k-123"
    assert context.clock() == FIXED
    with pytest.raises(Exception, match="secret env OTHER has no value"):
        context.resolve_secret({"env": "OTHER"})


FIXED = datetime(2026, 1, 1, tzinfo=UTC)
