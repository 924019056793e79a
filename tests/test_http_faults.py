"""Injected HTTP faults, from the retry layer up to a whole sync on both engines.

A mocked paginated JSON API (``responses``) serves 20 pages of 50 people. On a seeded 30%
of calls it answers 429 with ``Retry-After``, 500 or 503, or the call fails with a
connection error, a connect timeout or a read timeout (the kinds in turn); otherwise it
serves the page asked for. The test connector ``paged`` reads the pages through
``ConnectorContext.http`` (the hub's shared :class:`hub.http.HttpClient`, its sleeps
recorded instead of slept), one batch per page with its cursor. The sync runs through the
real pipeline, reading in the forked producer process as ``crmhub sync`` does: what the
API and the sleeps see is written to a journal file that both processes append to.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from sqlalchemy import select

from hub import hookimpl
from hub.connectors import Batch, Connector, ConnectorSettings, RetriableError
from hub.export import export_contacts
from hub.http import HttpClient, TransientHttpError
from hub.plugins import HubPlugins
from hub.records import Observation
from hub.service.runtime import Hub
from hub.service.sync import SyncReport, run_sync
from hub.store.db import is_sqlite, make_engine, upgrade
from hub.store.model import OutboxEvent, SourceRecord, SyncState
from tests.crash_support import comparable
from tests.local_http import serving
from tests.postgres import sibling_database

BASE = "https://api.example.test/v1/people"
PAGES = 20
PER_PAGE = 50
SEED = 20_261_204
FAULT_RATE = 0.3
RETRY_AFTER = 3  # seconds, on every 429
FAULTS = ("429", "500", "503", "ConnectionError", "ConnectTimeout", "ReadTimeout")
RAISED: dict[str, type[Exception]] = {
    "ConnectionError": requests.exceptions.ConnectionError,
    "ConnectTimeout": requests.exceptions.ConnectTimeout,
    "ReadTimeout": requests.exceptions.ReadTimeout,
}
OBSERVED = datetime(2026, 1, 1, tzinfo=UTC)

GIVEN = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Radia",
         "Ken", "Margaret", "Dennis", "Hedy", "Niklaus", "Karen", "Tim"]
FAMILY = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus",
          "Perlman", "Thompson", "Hamilton", "Ritchie", "Lamarr", "Wirth", "Jones", "Berners"]


def people() -> list[dict[str, Any]]:
    """The API's 1,000 people, the same on every call: distinct e-mails, seeded names."""
    rng = random.Random(SEED)
    return [{"id": f"u{n:04d}", "given": rng.choice(GIVEN), "family": rng.choice(FAMILY),
             "email": f"user{n}@example.org"} for n in range(PAGES * PER_PAGE)]


class Journal:
    """JSON lines appended by whichever process calls: the API's answers and the sleeps."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    def sleep(self, seconds: float) -> None:
        self.write({"sleep": seconds})

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class Api:
    """The mocked API: ``page`` and ``per_page`` query parameters, seeded faults, and pages
    that answer 503 whatever the retries (``down``)."""

    def __init__(self, journal: Journal, fault_rate: float = 0.0) -> None:
        self.journal = journal
        self.fault_rate = fault_rate
        self.rng = random.Random(SEED)
        self.faults = 0
        self.down: set[int] = set()
        self.people = people()

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str] | Exception:
        query = parse_qs(urlsplit(request.url).query)
        page, per_page = int(query["page"][0]), int(query["per_page"][0])
        fault: str | None = None
        if page in self.down:
            fault = "503"
        elif self.rng.random() < self.fault_rate:
            fault = FAULTS[self.faults % len(FAULTS)]
            self.faults += 1
        self.journal.write({"page": page, "answer": fault or "ok", "pid": os.getpid()})
        if fault == "429":
            return 429, {"Retry-After": str(RETRY_AFTER)}, ""
        if fault in ("500", "503"):
            return int(fault), {}, ""
        if fault is not None:
            return RAISED[fault](f"injected {fault}")
        rows = self.people[(page - 1) * per_page:page * per_page]
        next_page = page + 1 if page * per_page < len(self.people) else None
        return 200, {}, json.dumps({"results": rows, "next_page": next_page})


class Paged(Connector):
    """Pages through the API from the page after its cursor, one batch per page."""

    kind = "paged"

    class Settings(ConnectorSettings):
        base_url: str
        per_page: int = PER_PAGE

    settings: Settings

    def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        page: int | None = 1 if full or cursor is None else int(cursor["page"]) + 1
        while page is not None:
            data = self.context.http.get(self.settings.base_url, params={
                "page": page, "per_page": self.settings.per_page}).json()
            yield Batch([Observation(
                kind="person", external_id=row["id"], observed_at=OBSERVED,
                person={"given_name": row["given"], "family_name": row["family"],
                        "emails": [{"value": row["email"]}]}) for row in data["results"]],
                cursor={"page": page})
            page = data["next_page"]


class _Register:
    @hookimpl
    def crmhub_register_connectors(self) -> list[type[Connector]]:
        return [Paged]


def open_hub(directory: Path, url: str, journal: Journal) -> Hub:
    """A hub on ``url`` whose shared HTTP client records its sleeps in ``journal``."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "crmhub.toml"
    config.write_text(f'[hub]\ndatabase_url = "{url}"\n\n[[connectors]]\nname = "people"\n'
                      f'kind = "paged"\n\n[connectors.settings]\nbase_url = "{BASE}"\n',
                      encoding="utf-8")
    if not is_sqlite(url):
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    hub = Hub.open(config, plugins=HubPlugins.load(extra=[("paged", _Register())]))
    hub.http = HttpClient(sleep=journal.sleep, rng=random.Random(SEED))
    return hub


def sync(hub: Hub, api: Api) -> SyncReport:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, BASE, callback=api)
        return run_sync(hub, "people")


def exported(hub: Hub) -> list[str]:
    with hub.pipeline.sessions() as session:
        return comparable(list(export_contacts(session)))


def stored(hub: Hub) -> tuple[list[str], Any, int]:
    """(external ids of the source records, the stored cursor, consecutive failures)."""
    with hub.pipeline.sessions() as session:
        ids = list(session.scalars(select(SourceRecord.external_id)
                                   .order_by(SourceRecord.external_id)))
        state = session.get(SyncState, "people")
        assert state is not None
        return ids, state.cursor, state.consecutive_failures


def clean_export(db_url: str, tmp_path: Path) -> list[str]:
    """What a run without any fault stores, in a database of its own on the same engine."""
    with sibling_database(db_url, tmp_path) as url:
        journal = Journal(tmp_path / "clean.jsonl")
        hub = open_hub(tmp_path / "clean", url, journal)
        try:
            report = sync(hub, Api(journal))
            assert report.ok and report.batches == PAGES, report.as_dict()
            assert [e["page"] for e in journal.read()] == list(range(1, PAGES + 1))
            return exported(hub)
        finally:
            hub.close()


def _backoff_bounds(attempt: int) -> tuple[float, float]:
    """HttpClient's wait after failed attempt ``attempt`` (base 1 s): equal jitter."""
    step = 2.0 ** (attempt - 1)
    return step / 2, step


def test_a_sync_through_injected_faults_stores_every_person_once_as_a_clean_run_does(
        db_url: str, tmp_path: Path) -> None:
    reference = clean_export(db_url, tmp_path)
    journal = Journal(tmp_path / "faults.jsonl")
    hub = open_hub(tmp_path / "faults", db_url, journal)
    try:
        report = sync(hub, Api(journal, FAULT_RATE))

        assert report.ok, report.error
        assert report.batches == PAGES and report.stats.created == PAGES * PER_PAGE
        entries = journal.read()
        answers = [e for e in entries if "page" in e]
        # Every page was served once, in order, after whatever faults it met.
        assert [e["page"] for e in answers if e["answer"] == "ok"] == list(range(1, PAGES + 1))
        faults = Counter(e["answer"] for e in answers if e["answer"] != "ok")
        print(f"\n{len(answers)} calls, faults: {dict(faults)}")
        assert set(faults) == set(FAULTS)  # each kind met at least once
        # The calls came from the forked producer, through the client it inherited.
        (producer,) = {e["pid"] for e in answers}
        assert producer != os.getpid()
        assert sum(faults.values()) == sum(1 for e in entries if "sleep" in e)
        # Each fault was followed by one wait: the server's Retry-After after a 429, else
        # the exponential backoff of that page's attempt.
        attempt = 0
        for entry, following in zip(entries, [*entries[1:], {}], strict=True):
            if "sleep" in entry:
                continue
            attempt = attempt + 1 if entry["answer"] != "ok" else 0
            if entry["answer"] == "ok":
                continue
            assert "sleep" in following, (entry, following)
            if entry["answer"] == "429":
                assert following["sleep"] == RETRY_AFTER
            else:
                low, high = _backoff_bounds(attempt)
                assert low <= following["sleep"] <= high, (entry, following, attempt)

        ids, cursor, failures = stored(hub)
        assert ids == [p["id"] for p in people()]  # every person stored once
        assert cursor == {"page": PAGES} and failures == 0
        rows = exported(hub)
        assert len(rows) == PAGES * PER_PAGE
        assert rows == reference
    finally:
        hub.close()


def test_a_page_failing_past_the_retry_budget_fails_the_run_retriable_and_the_next_run_resumes(
        db_url: str, tmp_path: Path) -> None:
    reference = clean_export(db_url, tmp_path)
    journal = Journal(tmp_path / "budget.jsonl")
    hub = open_hub(tmp_path / "budget", db_url, journal)
    api = Api(journal)
    try:
        api.down = {7}
        first = sync(hub, api)

        assert not first.ok and first.error_kind == "retriable"
        assert first.error == (f"TransientHttpError: HTTP 503 from GET {BASE} after 5 "
                               "attempts")
        assert first.batches == 6 and first.stats.created == 6 * PER_PAGE
        entries = journal.read()
        assert [(e["page"], e["answer"]) for e in entries if "page" in e] == \
            [(p, "ok") for p in range(1, 7)] + [(7, "503")] * 5
        waits = [e["sleep"] for e in entries if "sleep" in e]
        assert len(waits) == 4
        assert all(_backoff_bounds(n)[0] <= wait <= _backoff_bounds(n)[1]
                   for n, wait in enumerate(waits, start=1)), waits
        ids, cursor, failures = stored(hub)
        assert cursor == {"page": 6} and failures == 1
        assert ids == [p["id"] for p in people()[:6 * PER_PAGE]]
        with hub.pipeline.sessions() as session:
            events = session.scalars(select(OutboxEvent.payload)
                                     .where(OutboxEvent.type == "sync.failed")).all()
        assert [(e["kind"], e["error"]) for e in events] == [("retriable", first.error)]

        api.down = set()
        journal.clear()
        second = sync(hub, api)

        assert second.ok and second.batches == PAGES - 6
        assert second.stats.created == (PAGES - 6) * PER_PAGE
        # It resumed from the committed cursor: pages 1 to 6 were not asked again.
        assert [e["page"] for e in journal.read()] == list(range(7, PAGES + 1))
        ids, cursor, failures = stored(hub)
        assert ids == [p["id"] for p in people()]
        assert cursor == {"page": PAGES} and failures == 0
        assert exported(hub) == reference
    finally:
        hub.close()


# -- the retry layer itself ------------------------------------------------------------


def test_every_injected_fault_kind_is_retried_in_turn_honouring_retry_after() -> None:
    journal_waits: list[float] = []
    client = HttpClient(sleep=journal_waits.append, rng=random.Random(SEED), max_attempts=8)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, BASE, status=429, headers={"Retry-After": "3"})
        mock.add(responses.GET, BASE, status=500)
        mock.add(responses.GET, BASE, status=503, headers={"Retry-After": "0"})
        mock.add(responses.GET, BASE, body=requests.exceptions.ConnectionError("reset"))
        mock.add(responses.GET, BASE, body=requests.exceptions.ConnectTimeout("connect"))
        mock.add(responses.GET, BASE, body=requests.exceptions.ReadTimeout("read"))
        mock.add(responses.GET, BASE, body=requests.exceptions.ChunkedEncodingError("cut"))
        mock.add(responses.GET, BASE, json={"results": [], "next_page": None})

        response = client.get(BASE, params={"page": 1})

        assert response.json() == {"results": [], "next_page": None}
        assert len(mock.calls) == 8
    assert journal_waits[0] == 3.0 and journal_waits[2] == 0.0
    for attempt in (2, 4, 5, 6, 7):
        low, high = _backoff_bounds(attempt)
        assert low <= journal_waits[attempt - 1] <= high, (attempt, journal_waits)
    assert len(journal_waits) == 7


def test_faults_past_the_budget_raise_a_retriable_error_naming_the_last_one() -> None:
    client = HttpClient(sleep=lambda _: None, rng=random.Random(SEED), max_attempts=3)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, BASE, status=503)
        mock.add(responses.GET, BASE, status=429, headers={"Retry-After": "1"})
        mock.add(responses.GET, BASE, body=requests.exceptions.ReadTimeout("read"))
        with pytest.raises(RetriableError) as info:
            client.get(BASE, params={"token": "s3cr3t"})
        assert len(mock.calls) == 3
    assert isinstance(info.value, TransientHttpError)
    assert str(info.value) == f"GET {BASE} failed after 3 attempts: ReadTimeout"
    assert isinstance(info.value.__cause__, requests.exceptions.ReadTimeout)


# -- no pooled HTTP connection crosses a fork ----------------------------------------------


class _WhoAsks(BaseHTTPRequestHandler):
    """Answers with the client's port: one port per TCP connection."""

    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        body = json.dumps({"port": self.client_address[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    """An HTTP server on the loopback interface (not an external API: a socket is what
    this test is about, and ``responses`` has none)."""
    with serving(_WhoAsks) as base:
        yield f"{base}/who"


def test_a_forked_child_opens_its_own_http_connection_and_the_parent_keeps_its_own(
        local_server: str) -> None:
    client = HttpClient(sleep=lambda _: None)
    parents = client.get(local_server).json()["port"]
    assert client.get(local_server).json()["port"] == parents  # kept alive, reused

    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()

    def child() -> None:
        theirs.send([client.get(local_server).json()["port"] for _ in range(2)])

    process = context.Process(target=child)
    process.start()
    childs = ours.recv()
    process.join(30)

    assert process.exitcode == 0
    assert childs[0] != parents and childs[1] == childs[0]  # its own, then kept alive
    assert client.get(local_server).json()["port"] == parents
    client.close()
