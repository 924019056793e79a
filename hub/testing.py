"""The contract tests every connector runs, built-in or third-party (like singer-sdk's).

A connector author subclasses :class:`ConnectorContract` in their own tests and overrides
one fixture, ``connector_factory``: a callable that returns a *fresh* connector reading
the *same* source data each time it is called. The kit then actually runs ``sync`` several
times and checks what the core relies on::

    import pytest
    from hub.testing import ConnectorContract, make_context
    from hub_acme import AcmeConnector

    class TestAcmeContract(ConnectorContract):
        @pytest.fixture
        def connector_factory(self, tmp_path):
            source = tmp_path / "contacts.csv"
            source.write_text("id,email\\n1,ada@example.com\\n")
            settings = AcmeConnector.Settings(paths=[str(source)])
            return lambda: AcmeConnector("acme-test", settings, make_context())

Each ``test_*`` method proves one property (see :data:`CHECKS`) and fails listing every
problem found, e.g. ``batch 3: cursor is not JSON-serialisable: ...``. Outside pytest,
``check_connector(factory)`` returns the same problems as a list (empty: the connector
passes). HTTP connectors mock their source with ``responses`` inside the fixture.

A source that changes is checked too: the ``source_changes`` fixture (see
:class:`SourceChanges`) adds, updates and deletes records between two syncs, and the kit
runs the real core on a throwaway SQLite database to prove that an update keeps its
external id and reaches the store, that a deletion tombstones the record (and nothing
else), and that a full re-read deletes nothing still at the source.

This module is also a pytest plugin (entry point ``pytest11: crmhub``): installing crmhub
gives every test session the ``connector_context`` fixture.

Two choices the core depends on: every batch carries a cursor (a JSON object the core
stores with it), and "identical" means the same kind, external id and content, with
``observed_at`` left out (a source without timestamps stamps the ingest time).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import pytest
from pydantic import BaseModel, ValidationError

from hub import __version__
from hub.connectors import (
    Batch,
    CheckResult,
    Connector,
    ConnectorContext,
    FatalError,
    Rejected,
    SnapshotEnd,
)
from hub.http import HttpClient
from hub.logs import add_secret, get_logger
from hub.records import Observation, first_error
from hub.secrets import SecretRef

if TYPE_CHECKING:  # the inbox, with the core, is imported when used
    from hub.inbox import Inbox

__all__ = [
    "CHANGE_CHECKS",
    "CHECKS",
    "FIXED_NOW",
    "ConnectorContract",
    "ConnectorFactory",
    "SourceChanges",
    "check_changes",
    "check_connector",
    "make_context",
]

ConnectorFactory = Callable[[], Connector]

#: What the clock of :func:`make_context` always answers, so runs are reproducible.
FIXED_NOW = datetime(2026, 1, 1, tzinfo=UTC)

#: Every check, in the order check_connector runs them.
CHECKS = (
    "kind",
    "settings",
    "batches",
    "snapshots",
    "incremental",
    "deterministic",
    "resume",
    "check",
)

_MAX_LISTED = 3  # problems of one kind listed per run before "and N more"


def make_context(
    *,
    name: str = "contract-test",
    secrets: Mapping[Any, str] | None = None,
    clock: Callable[[], datetime] | None = None,
    http: HttpClient | None = None,
    inbox: Inbox | None = None,
    own_domains: Collection[str] = (),
) -> ConnectorContext:
    """A ConnectorContext for tests: fixed clock, an HttpClient that never sleeps.

    ``secrets`` gives the value of each secret the connector's settings refer to, keyed
    as the config refers to it: a :class:`~hub.secrets.SecretRef`, its table
    (``{"env": "ACME_TOKEN"}``) or just the name it reads (``"ACME_TOKEN"``, a
    credential's name, a file's path). A reference with no value raises
    :class:`FatalError` naming it, as the core would. ``inbox`` is what a push connector
    drains (fill it with ``inbox.put(name, None, headers, body)``). ``own_domains`` is
    ``[hub] own_domains``.
    """
    table: dict[str, str] = {}
    for key, value in (secrets or {}).items():
        table[_secret_name(key)] = value

    def resolve(reference: Any) -> str:
        name = _secret_name(reference)
        if name in table:
            add_secret(table[name])
            return table[name]
        known = ", ".join(sorted(table)) or "none"
        raise FatalError(
            f"secret {_describe(reference)} has no value in make_context(secrets=...) "
            f"(given: {known}); add secrets={{{name!r}: '...'}}"
        )

    return ConnectorContext(
        http=http if http is not None else HttpClient(sleep=lambda _seconds: None),
        resolve_secret=resolve,
        logger=get_logger(f"hub.connector.{name}", connector=name),
        clock=clock if clock is not None else (lambda: FIXED_NOW),
        inbox=inbox,
        own_domains=frozenset(d.lower() for d in own_domains),
    )


def _as_ref(reference: Any) -> SecretRef | None:
    if isinstance(reference, SecretRef):
        return reference
    if isinstance(reference, Mapping):
        try:
            return SecretRef.model_validate(dict(reference))
        except ValidationError:
            return None
    return None


def _secret_name(reference: Any) -> str:
    """What a reference reads: an env variable's or credential's name, a file's path."""
    ref = _as_ref(reference)
    if ref is None:
        return str(reference)
    return str(ref.env or ref.credential or ref.file)


def _describe(reference: Any) -> str:
    ref = _as_ref(reference)
    return ref.describe() if ref is not None else repr(reference)


@pytest.fixture
def connector_context() -> ConnectorContext:
    """A :func:`make_context` context (fixed clock, HTTP that never sleeps, no secrets)."""
    return make_context()


def pytest_report_header() -> str:
    return f"crmhub contract kit {__version__}"


# -- running sync -----------------------------------------------------------------------------


@dataclass
class _Seen:
    """One observation as it was when yielded: where, what, and its comparable content."""

    batch: int
    position: int
    kind: str
    external_id: str
    deleted: bool
    dump: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.external_id)

    @property
    def content(self) -> str:
        return json.dumps(
            {k: v for k, v in self.dump.items() if k != "observed_at"}, sort_keys=True
        )

    def describe(self) -> str:
        return f"{self.kind} {self.external_id!r} (batch {self.batch}, observation {self.position})"


@dataclass
class _Yielded:
    """One batch as it was when yielded (the core commits it before asking for more)."""

    number: int
    batch: Batch
    cursor_json: str | None
    observations: list[_Seen]


@dataclass
class _Run:
    label: str
    batches: list[_Yielded] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def observations(self) -> list[_Seen]:
        return [seen for y in self.batches for seen in y.observations]


def _first_error(exc: ValidationError) -> str:
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return first_error(exc) + more


def _inspect_observation(number: int, position: int, item: object, run: _Run) -> _Seen | None:
    prefix = f"batch {number}, observation {position}"
    if not isinstance(item, Observation):
        run.problems.append(f"{prefix}: {type(item).__name__} is not a hub.records.Observation")
        return None
    try:
        Observation.model_validate(item.model_dump())
        dump = item.model_dump(mode="json")
        json.dumps(dump, allow_nan=False)
    except ValidationError as exc:
        run.problems.append(
            f"{prefix}: does not re-validate as an Observation: {_first_error(exc)}"
        )
        return None
    except Exception as exc:  # a model_construct'ed value pydantic cannot serialise
        run.problems.append(f"{prefix}: cannot be serialised to JSON: {exc}")
        return None
    return _Seen(number, position, item.kind, item.external_id, item.deleted, dump)


def _inspect_cursor(number: int, cursor: object, run: _Run) -> str | None:
    prefix = f"batch {number}: cursor"
    if cursor is None:
        run.problems.append(
            f"{prefix} is None; every batch must carry the cursor to resume after it"
        )
        return None
    if not isinstance(cursor, dict):
        run.problems.append(f"{prefix} is a {type(cursor).__name__}, not a dict")
        return None
    try:
        text = json.dumps(cursor, allow_nan=False)
    except (TypeError, ValueError) as exc:
        run.problems.append(f"{prefix} is not JSON-serialisable: {exc}")
        return None
    if json.loads(text) != cursor:
        run.problems.append(
            f"{prefix} does not survive a JSON round-trip (tuples? non-str keys?): {cursor!r}"
        )
        return None
    return text


def _inspect_batch(number: int, item: object, run: _Run) -> _Yielded | None:
    if not isinstance(item, Batch):
        run.problems.append(f"batch {number}: sync yielded {type(item).__name__}, not a Batch")
        return None
    seen = [
        s
        for position, obs in enumerate(item.observations, start=1)
        if (s := _inspect_observation(number, position, obs, run)) is not None
    ]
    for position, rejected in enumerate(item.rejected, start=1):
        if not isinstance(rejected, Rejected):
            run.problems.append(
                f"batch {number}, rejected {position}: {type(rejected).__name__}"
                " is not a hub.connectors.Rejected"
            )
    return _Yielded(number, item, _inspect_cursor(number, item.cursor, run), seen)


def _pulls(connector: Connector) -> bool:
    return type(connector).sync is not Connector.sync


def _run(factory: ConnectorFactory, cursor_json: str | None, label: str, max_batches: int) -> _Run:
    """Run one sync to its end on a fresh connector, recording each batch as yielded."""
    run = _Run(label)
    cursor = json.loads(cursor_json) if cursor_json is not None else None
    iterator: Iterator[Batch] | None = None
    try:
        iterator = iter(factory().sync(cursor))
        for number, item in enumerate(iterator, start=1):
            if number > max_batches:
                run.error = f"{label} yielded more than {max_batches} batches; stopped there"
                break
            yielded = _inspect_batch(number, item, run)
            if yielded is not None:
                run.batches.append(yielded)
    except Exception as exc:
        count = len(run.batches)
        run.error = (
            f"{label} raised {type(exc).__name__} after {count}"
            f" batch{'' if count == 1 else 'es'}: {exc}"
        )
    finally:
        close = getattr(iterator, "close", None)
        if callable(close):
            close()
    return run


def _capped(label: str, problems: list[str]) -> list[str]:
    if len(problems) <= _MAX_LISTED:
        return problems
    return [*problems[:_MAX_LISTED], f"{label}: {len(problems) - _MAX_LISTED} more like these"]


# -- the checks ---------------------------------------------------------------------------------


class _Checker:
    """Runs the checks of :data:`CHECKS` against one factory, sharing the first run."""

    def __init__(self, factory: ConnectorFactory, max_batches: int) -> None:
        self.factory = factory
        self.max_batches = max_batches

    @cached_property
    def connector(self) -> Connector | str:
        """A fresh connector, or the reason the factory could not produce one."""
        try:
            connector = self.factory()
        except Exception as exc:
            return f"connector_factory() raised {type(exc).__name__}: {exc}"
        if not isinstance(connector, Connector):
            return (
                f"connector_factory() returned {type(connector).__name__},"
                " not a hub.connectors.Connector"
            )
        return connector

    @cached_property
    def first(self) -> _Run:
        return _run(self.factory, None, "sync(None)", self.max_batches)

    def run(self, name: str) -> list[str]:
        if isinstance(self.connector, str):
            return [self.connector]
        if name in ("kind", "settings", "check"):
            return list(getattr(self, f"check_{name}")(self.connector))
        if not _pulls(self.connector):
            return []  # a push-only connector: nothing to sync
        if name == "batches":
            return self.check_batches()
        if self.first.error is not None:
            return [f"cannot check {name}: {self.first.error}"]
        return list(getattr(self, f"check_{name}")())

    def check_kind(self, connector: Connector) -> Iterator[str]:
        kind = getattr(type(connector), "kind", None)
        if not isinstance(kind, str) or not kind or kind != kind.strip().lower():
            yield f"kind must be a non-empty lowercase str, got {kind!r}"

    def check_settings(self, connector: Connector) -> Iterator[str]:
        model = getattr(type(connector), "Settings", None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            yield f"Settings must be a pydantic model class, got {model!r}"
            return
        if model.model_config.get("extra") != "forbid":
            yield (
                f"Settings {model.__name__} must forbid unknown keys"
                " (subclass hub.connectors.ConnectorSettings or set extra='forbid')"
            )
        try:
            model.model_validate({"__crmhub_contract_unknown_key__": 1})
        except ValidationError as exc:
            if not any(e["type"] == "extra_forbidden" for e in exc.errors()):
                yield f"Settings {model.__name__} accepted an unknown key without complaint"
        else:
            yield f"Settings {model.__name__} accepted an unknown key without complaint"
        if not isinstance(connector.settings, model):
            yield (
                f"connector.settings is a {type(connector.settings).__name__},"
                f" not an instance of its Settings {model.__name__}"
            )

    def check_batches(self) -> list[str]:
        run = self.first
        problems = list(run.problems)
        if run.error is not None:
            problems.append(run.error)
        last: dict[tuple[str, str], _Seen] = {}
        for seen in run.observations:
            before = last.get(seen.key)
            if before is not None and not seen.deleted and seen.content == before.content:
                problems.append(
                    f"batch {seen.batch}, observation {seen.position}: {seen.kind}"
                    f" {seen.external_id!r} repeats batch {before.batch}, observation"
                    f" {before.position} unchanged; external ids must be unique within a run"
                    " unless the later one is an update or a tombstone"
                )
            last[seen.key] = seen
        for y in run.batches:
            if y.cursor_json is not None and json.dumps(y.batch.cursor) != y.cursor_json:
                problems.append(
                    f"batch {y.number}: cursor was changed after the batch was yielded"
                    " (a reused dict?); the core stores it when the batch is committed"
                )
        return problems

    def check_snapshots(self) -> Iterator[str]:
        batches = self.first.batches
        for i, y in enumerate(batches):
            b = y.batch
            if b.scope is not None and b.token is None:
                yield f"batch {y.number}: scope {b.scope!r} has no token"
            if b.token is not None and b.scope is None:
                yield f"batch {y.number}: token {b.token!r} has no scope"
            end = b.snapshot_end
            if end is None:
                continue
            if not isinstance(end, SnapshotEnd):
                yield f"batch {y.number}: snapshot_end is a {type(end).__name__}, not a SnapshotEnd"
                continue
            if end.scope != b.scope:
                yield (
                    f"batch {y.number}: snapshot_end scope {end.scope!r} does not match"
                    f" the batch scope {b.scope!r}"
                )
            if b.token is not None and end.token != b.token:
                yield (
                    f"batch {y.number}: snapshot_end token {end.token!r} differs from"
                    f" the batch token {b.token!r}"
                )
            if not 0.0 <= end.max_delete_ratio <= 1.0:
                yield f"batch {y.number}: max_delete_ratio {end.max_delete_ratio} is not in [0, 1]"
            for later in batches[i + 1 :]:
                if later.batch.scope == end.scope and later.batch.token == end.token:
                    yield (
                        f"batch {y.number}: ends snapshot {end.scope!r} but batch"
                        f" {later.number} still belongs to it; SnapshotEnd must be on"
                        " the last batch of its scope"
                    )
                    break
            for earlier in reversed(batches[:i]):
                eb = earlier.batch
                if eb.scope != end.scope:
                    continue
                if eb.snapshot_end is not None:
                    break  # the previous snapshot of this scope
                if eb.token != end.token:
                    yield (
                        f"batch {earlier.number}: token {eb.token!r} of scope {end.scope!r}"
                        f" differs from the snapshot_end token {end.token!r} (batch"
                        f" {y.number}); its records would be tombstoned"
                    )

    def check_incremental(self) -> list[str]:
        if not self.first.batches:
            return []
        last = self.first.batches[-1]
        if last.cursor_json is None:
            return [f"cannot check incremental sync: batch {last.number} has no usable cursor"]
        again = _run(self.factory, last.cursor_json, "sync(final cursor)", self.max_batches)
        problems = [again.error] if again.error is not None else []
        observations = again.observations
        if observations:
            problems.append(
                f"sync(final cursor) on unchanged data yielded {len(observations)}"
                f" observations (first: {observations[0].describe()}); an incremental"
                " re-run must yield none"
            )
        return problems

    def check_deterministic(self) -> list[str]:
        second = _run(self.factory, None, "second sync(None)", self.max_batches)
        if second.error is not None:
            return [second.error]
        one, two = self.first.observations, second.observations
        for a, b in zip(one, two, strict=False):
            if a.dump != b.dump:
                fields = sorted(
                    k for k in a.dump.keys() | b.dump.keys() if a.dump.get(k) != b.dump.get(k)
                )
                return [
                    f"sync(None) is not deterministic: {a.describe()} differs between two"
                    f" runs from the same data (fields: {', '.join(fields)})"
                    + (f"; the second run yielded {b.describe()}" if a.key != b.key else "")
                ]
        if len(one) != len(two):
            return [
                f"sync(None) is not deterministic: the first run yielded {len(one)}"
                f" observations, the second {len(two)}"
            ]
        return []

    def check_resume(self) -> Iterator[str]:
        batches = self.first.batches
        for k, y in enumerate(batches[:-1]):  # resuming from the last one: check_incremental
            if y.cursor_json is None:
                continue
            label = f"resuming from the cursor of batch {y.number}"
            resumed = _run(self.factory, y.cursor_json, label, self.max_batches)
            if resumed.error is not None:
                yield resumed.error
                continue
            yield from self._resume_problems(label, batches[: k + 1], batches[k + 1 :], resumed)

    @staticmethod
    def _resume_problems(
        label: str, done: list[_Yielded], rest: list[_Yielded], resumed: _Run
    ) -> Iterable[str]:
        committed = {(s.key, s.content): s for y in done for s in y.observations}
        expected_later = {(s.key, s.content) for y in rest for s in y.observations}
        got = {(s.key, s.content) for s in resumed.observations}
        repeated = [
            f"{label} re-yielded {s.kind} {s.external_id!r} unchanged from"
            f" batch {committed[(s.key, s.content)].batch}; the core already committed it"
            for s in resumed.observations
            if (s.key, s.content) in committed and (s.key, s.content) not in expected_later
        ]
        final: dict[tuple[str, str], _Seen] = {s.key: s for y in rest for s in y.observations}
        lost = [
            f"{label} lost {s.describe()}" for s in final.values() if (s.key, s.content) not in got
        ]
        problems = _capped(label, repeated) + _capped(label, lost)
        # A snapshot left open at the cursor must be continued under the same token,
        # or what was committed before the cursor is tombstoned at its end.
        open_scope = done[-1].batch
        if open_scope.scope is not None and open_scope.snapshot_end is None:
            for r in resumed.batches:
                if r.batch.scope == open_scope.scope and r.batch.token != open_scope.token:
                    problems.append(
                        f"{label} continued snapshot {open_scope.scope!r} with token"
                        f" {r.batch.token!r} instead of {open_scope.token!r}; records"
                        " committed before the cursor would be tombstoned"
                    )
                    break
        return problems

    def check_check(self, connector: Connector) -> Iterator[str]:
        try:
            result = connector.check()
        except Exception as exc:
            yield f"check() raised {type(exc).__name__}: {exc}"
            return
        if not isinstance(result, CheckResult):
            yield f"check() returned {type(result).__name__}, not a hub.connectors.CheckResult"


def check_connector(
    factory: ConnectorFactory,
    *,
    only: Iterable[str] | None = None,
    max_batches: int = 10_000,
) -> list[str]:
    """Every contract problem of the connector ``factory`` builds; empty when it passes.

    ``only`` restricts the run to some of :data:`CHECKS`. ``factory`` is called several
    times and must return a fresh connector over the same, unchanged source data.
    """
    names = list(CHECKS if only is None else only)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {unknown}; choose from {list(CHECKS)}")
    checker = _Checker(factory, max_batches)
    problems = [p for name in names for p in checker.run(name)]
    return list(dict.fromkeys(problems))  # a shared cause is reported once


# -- a source that changes between two syncs ---------------------------------------------------


class SourceChanges(Protocol):
    """What a contract test does to the source between two syncs. The connector factory
    must read the changed data afterwards (the same file, the same mocked API)."""

    def add(self) -> str:
        """Add a new record at the source; return the external id it will have."""

    def update(self, external_id: str) -> None:
        """Change a field of the record the core knows by ``external_id`` (a name, an
        e-mail): the change a user makes at the source."""

    def delete(self, external_id: str) -> None:
        """Delete that record at the source (or flag it deleted, as the source does).
        A source that never deletes (pushed calls) sets ``deletes = False`` on the changes
        object instead, one whose records never change once read ``updates = False``:
        that check is then skipped, the others run."""


#: What :func:`check_changes` reports for the deletion check of a source that never deletes.
NEVER_DELETES = "the source never deletes records (deletes = False): nothing to check"

#: ... and for the update check of a source whose records never change once read.
NEVER_UPDATES = ("the source never changes a record once it is read (updates = False): "
                 "nothing to check")

#: The checks :func:`check_changes` makes, each a contract test of its own.
CHANGE_CHECKS = ("added", "updated", "deleted", "reread")


@dataclass
class _Store:
    """The real core on a throwaway SQLite database: what a sync leaves in the store."""

    workdir: Path
    kind: str

    def __post_init__(self) -> None:
        # The core is imported when a store is made, not when pytest loads this module as
        # a plugin (in every test session of a project that has crmhub installed).
        from hub.config import ConnectorConfig, HubConfig
        from hub.ingest.pipeline import Pipeline
        from hub.store.db import make_engine, upgrade

        self.engine = make_engine(f"sqlite:///{self.workdir / 'contract.db'}")
        upgrade(self.engine)
        self.pipeline = Pipeline(self.engine, HubConfig(), clock=lambda: FIXED_NOW)
        self.config = ConnectorConfig(name="contract-test", kind=self.kind)
        self.kinds: dict[str, str] = {}  # external id -> the kind it was yielded as

    def sync(self, factory: ConnectorFactory, cursor: dict[str, Any] | None, *,
             full: bool = False) -> tuple[dict[str, Any] | None, list[str]]:
        """One sync through the core; the final cursor and the external ids yielded (their
        kinds in ``self.kinds``)."""
        yielded: list[str] = []
        for batch in factory().sync(cursor, full=full):
            self.pipeline.ingest(self.config, batch, allow_deletes=True)
            if batch.on_commit is not None:
                batch.on_commit()
            cursor = batch.cursor
            yielded += [o.external_id for o in batch.observations]
            self.kinds.update((o.external_id, o.kind) for o in batch.observations)
        return cursor, yielded

    def records(self) -> dict[str, tuple[str, bool]]:
        """Each stored record: external id -> (content hash, deleted)."""
        from sqlalchemy import select

        from hub.store.model import SourceRecord

        with self.engine.connect() as connection:
            rows = connection.execute(select(
                SourceRecord.external_id, SourceRecord.content_hash, SourceRecord.deleted_at)
                .where(SourceRecord.connector == self.config.name))
            return {external_id: (digest, deleted is not None)
                    for external_id, digest, deleted in rows}

    def close(self) -> None:
        self.engine.dispose()


def check_changes(factory: ConnectorFactory, changes: SourceChanges, workdir: Path,
                  *, only: Iterable[str] | None = None) -> list[str]:
    """Sync, change the source (add one record, update one, delete one), sync from the
    cursor, then re-read everything, all through the real core on a SQLite database in
    ``workdir``; the problems of the checks named in ``only`` (default: all of
    :data:`CHANGE_CHECKS`). Empty: the connector passes."""
    names = set(CHANGE_CHECKS if only is None else only)
    unknown = names - set(CHANGE_CHECKS)
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}; choose from {list(CHANGE_CHECKS)}")
    connector = factory()
    store = _Store(workdir, connector.kind)
    try:
        return [p for name, p in _changes(factory, changes, store) if name in names]
    finally:
        store.close()


def _changes(factory: ConnectorFactory, changes: SourceChanges,
             store: _Store) -> Iterator[tuple[str, str]]:
    cursor, first = store.sync(factory, None)
    before = store.records()
    live = [external_id for external_id in dict.fromkeys(first)
            if external_id in before and not before[external_id][1]]
    if len(live) < 2:
        for name in CHANGE_CHECKS:
            yield name, (f"the first sync stored {len(live)} live record(s); the test data "
                         "needs at least two (one to update, one to delete)")
        return
    updates_only = not getattr(changes, "deletes", True)
    appends_only = not getattr(changes, "updates", True)
    updated, deleted = live[0], ("" if updates_only else live[1])
    added = changes.add()
    if not appends_only:
        changes.update(updated)
    if not updates_only:
        changes.delete(deleted)
    cursor, second = store.sync(factory, cursor)
    after = store.records()

    if added not in after or after[added][1]:
        yield "added", (f"a record added at the source ({added!r}) is not in the store after "
                        "the next sync" + ("" if added in second else " (it was not yielded)"))
    if appends_only:
        yield "updated", NEVER_UPDATES
    # Records of another kind may come with the added one (a lead's form interaction).
    strangers = sorted(x for x in set(second) - set(before) - {added}
                       if store.kinds.get(x) == store.kinds.get(updated))
    if strangers:
        yield "updated", (f"the sync after an update yielded {strangers[0]!r}, an external id "
                          "never seen before: an update must keep the record's external id "
                          "(is the id derived from a field that changed?)")
    if appends_only:
        pass
    elif updated not in second:
        yield "updated", (f"the record updated at the source ({updated!r}) was not yielded "
                          "again under its external id")
    elif after[updated][1]:
        yield "updated", f"the record updated at the source ({updated!r}) was deleted"
    elif after[updated][0] == before[updated][0]:
        yield "updated", (f"the record updated at the source ({updated!r}) was yielded "
                          "unchanged: the update did not reach the observation")
    if updates_only:
        yield "deleted", NEVER_DELETES
    elif deleted not in after or not after[deleted][1]:
        yield "deleted", (f"the record deleted at the source ({deleted!r}) is still live "
                          "after the next sync: yield a tombstone (Observation(deleted=True))"
                          " for it, or end a snapshot (SnapshotEnd) without it"
                          + (" (it was yielded as a live record: is the deleted flag read?)"
                             if deleted in second else ""))
    falsely = sorted(k for k, (_, gone) in after.items() if gone and k != deleted)
    if falsely:
        yield "deleted", f"records still at the source were deleted: {', '.join(falsely)}"

    for label, start, full in (("a re-read from scratch", None, False),
                               ("a full re-read", cursor, True)):
        store.sync(factory, start, full=full)
        again = store.records()
        gone = sorted(k for k, (_, flag) in again.items() if flag and k != deleted)
        if gone:
            yield "reread", (f"{label} (sync(None) / full=True) deleted records still at the "
                             f"source: {', '.join(gone)}")
        if deleted in again and not again[deleted][1]:
            yield "reread", f"{label} brought back {deleted!r}, deleted at the source"


def _assert_changes(factory: ConnectorFactory, changes: SourceChanges, workdir: Path,
                    names: list[str]) -> None:
    problems = check_changes(factory, changes, workdir, only=names)
    for reason in (NEVER_DELETES, NEVER_UPDATES):
        if reason in problems and len(names) == 1:
            pytest.skip(reason)
    problems = [p for p in problems if p not in (NEVER_DELETES, NEVER_UPDATES)]
    if problems:
        listed = "\n".join(f"- {p}" for p in problems)
        pytest.fail(f"connector contract ({', '.join(names)}) broken:\n{listed}",
                    pytrace=False)


def _assert_contract(factory: ConnectorFactory, name: str, max_batches: int) -> None:
    problems = check_connector(factory, only=[name], max_batches=max_batches)
    if problems:
        listed = "\n".join(f"- {p}" for p in problems)
        pytest.fail(f"connector contract ({name}) broken:\n{listed}", pytrace=False)


class ConnectorContract:
    """Base class of a connector's contract tests: override the ``connector_factory`` fixture.

    Not collected by itself (its name does not start with ``Test``); a subclass named
    ``Test...`` inherits every test below. ``max_batches`` bounds each sync run.
    """

    max_batches: ClassVar[int] = 10_000
    #: Why this connector's source cannot be changed from a test (a push-only connector):
    #: the changing-source tests are skipped with this reason. ``None``: they run.
    changes_unsupported: ClassVar[str | None] = None

    @pytest.fixture
    def connector_factory(self) -> ConnectorFactory:
        """Return a callable building a fresh connector over the same test data."""
        pytest.fail(
            f"{type(self).__name__} must override the connector_factory fixture", pytrace=False
        )

    @pytest.fixture
    def source_changes(self) -> SourceChanges:
        """Return what adds, updates and deletes records in the factory's test data."""
        if self.changes_unsupported:
            pytest.skip(self.changes_unsupported)
        pytest.fail(
            f"{type(self).__name__} must override the source_changes fixture (add, update "
            "and delete records of the test data; see hub.testing.SourceChanges), or set "
            "changes_unsupported to the reason it cannot", pytrace=False
        )

    def test_a_record_added_or_updated_at_the_source_is_synced_under_its_own_id(
        self, connector_factory: ConnectorFactory, source_changes: SourceChanges,
        tmp_path: Path,
    ) -> None:
        _assert_changes(connector_factory, source_changes, tmp_path, ["added", "updated"])

    def test_a_record_deleted_at_the_source_is_tombstoned_and_nothing_else(
        self, connector_factory: ConnectorFactory, source_changes: SourceChanges,
        tmp_path: Path,
    ) -> None:
        _assert_changes(connector_factory, source_changes, tmp_path, ["deleted"])

    def test_a_full_re_read_deletes_nothing_still_at_the_source(
        self, connector_factory: ConnectorFactory, source_changes: SourceChanges,
        tmp_path: Path,
    ) -> None:
        _assert_changes(connector_factory, source_changes, tmp_path, ["reread"])

    def test_kind_is_a_lowercase_name(self, connector_factory: ConnectorFactory) -> None:
        _assert_contract(connector_factory, "kind", self.max_batches)

    def test_settings_forbid_unknown_keys(self, connector_factory: ConnectorFactory) -> None:
        _assert_contract(connector_factory, "settings", self.max_batches)

    def test_sync_yields_valid_batches_with_json_cursors(
        self, connector_factory: ConnectorFactory
    ) -> None:
        _assert_contract(connector_factory, "batches", self.max_batches)

    def test_snapshot_end_closes_its_scope(self, connector_factory: ConnectorFactory) -> None:
        _assert_contract(connector_factory, "snapshots", self.max_batches)

    def test_resync_from_final_cursor_yields_nothing(
        self, connector_factory: ConnectorFactory
    ) -> None:
        _assert_contract(connector_factory, "incremental", self.max_batches)

    def test_sync_is_deterministic(self, connector_factory: ConnectorFactory) -> None:
        _assert_contract(connector_factory, "deterministic", self.max_batches)

    def test_resume_from_each_cursor_neither_repeats_nor_loses(
        self, connector_factory: ConnectorFactory
    ) -> None:
        _assert_contract(connector_factory, "resume", self.max_batches)

    def test_check_returns_a_check_result(self, connector_factory: ConnectorFactory) -> None:
        _assert_contract(connector_factory, "check", self.max_batches)
