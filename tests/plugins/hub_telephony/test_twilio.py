"""twilio: the Calls API mocked with `responses` in Twilio's shapes (RFC 2822 times, string
durations, next_page_uri, newest first): paging, the day watermark and its ties, calls in
progress read once they end."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import responses
from requests import PreparedRequest

from hub.testing import ConnectorContract, ConnectorFactory, make_context
from hub_telephony import TwilioConnector

ACCOUNT = "AC" + "0123456789abcdef" * 2
CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeTwilio:
    """Calls newest first, ``StartTime>=`` by day, ``PageSize`` and ``next_page_uri``."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.queries: list[dict[str, list[str]]] = []

    def call(self, n: int, minutes: int, *, status: str = "completed",
             direction: str = "inbound") -> str:
        sid = f"CA{n:032x}"
        self.calls[sid] = {
            "sid": sid, "account_sid": ACCOUNT, "from": f"+3361234{n:04d}",
            "to": "+33145000000", "direction": direction, "status": status,
            "start_time": format_datetime(T0 + timedelta(minutes=minutes)),
            "end_time": None, "duration": "42" if status == "completed" else "0",
            "price": None, "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json"}
        return sid

    def answer(self, request: PreparedRequest) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(request.url or "").query)
        self.queries.append(query)
        day = query.get("StartTime>=", [""])[0]
        size = int(query.get("PageSize", ["50"])[0])
        page = int(query.get("Page", ["0"])[0])
        rows = sorted(self.calls.values(), key=lambda c: _sort(c), reverse=True)
        rows = [c for c in rows if _day(c) >= day]
        chunk = rows[page * size:(page + 1) * size]
        more = (page + 1) * size < len(rows)
        query_next = urlencode({"PageSize": size, "Page": page + 1, "StartTime>=": day,
                                "PageToken": f"PA{page + 1}"})
        next_uri = f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json?{query_next}" if more else None
        return 200, {}, json.dumps({"calls": chunk, "next_page_uri": next_uri, "page": page,
                                    "page_size": size, "start": page * size, "end": 0})


def _sort(call: dict[str, Any]) -> tuple[datetime, str]:
    return parsedate_to_datetime(call["start_time"]), call["sid"]


def _day(call: dict[str, Any]) -> str:
    return _sort(call)[0].date().isoformat()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, CALLS, callback=lambda r: fake.answer(r))
        yield fake


def factory(**settings: Any) -> ConnectorFactory:
    values = {"account_sid": ACCOUNT, "password": {"env": "TWILIO_TOKEN"}, "page_size": 2,
              **settings}
    return lambda: TwilioConnector("twilio", TwilioConnector.Settings.model_validate(values),
                                   make_context(secrets={"TWILIO_TOKEN": "tok"}))


def sync(cursor: dict[str, Any] | None = None) -> tuple[list[Any], dict[str, Any] | None]:
    found = []
    for batch in factory()().sync(cursor):
        found += batch.observations
        cursor = batch.cursor
    return found, cursor


def test_pages_are_followed_and_each_call_becomes_an_interaction(twilio: FakeTwilio) -> None:
    first = twilio.call(1, 0)
    twilio.call(2, 5, direction="outbound-api", status="no-answer")
    twilio.call(3, 10, status="busy")
    found, cursor = sync()
    calls = {o.external_id: o.interaction for o in found}
    assert len(calls) == 3 and len(twilio.queries) == 2  # two pages of two
    one = calls[first]
    assert (one.direction, one.status, one.duration_s) == ("inbound", "answered", 42)
    assert one.occurred_at == T0 and [(p.phone, p.role) for p in one.participants] == [
        ("+33612340001", "from")]
    assert calls[f"CA{2:032x}"].direction == "outbound"
    assert calls[f"CA{2:032x}"].participants[0].phone == "+33145000000"  # to: outside party
    assert cursor == {"since": format_datetime(T0 + timedelta(minutes=10)),
                      "ids": [f"CA{3:032x}"]}
    assert twilio.queries[0]["PageSize"] == ["2"] and "StartTime>=" not in twilio.queries[0]


def test_the_day_watermark_skips_calls_read_and_keeps_calls_at_the_boundary(
        twilio: FakeTwilio) -> None:
    twilio.call(1, 0)
    twilio.call(2, 10)
    _, cursor = sync()
    late = twilio.call(3, 10)  # the same second as the last call read
    later = twilio.call(4, 20)
    found, cursor = sync(cursor)
    assert sorted(o.external_id for o in found) == sorted([late, later])
    assert twilio.queries[-1]["StartTime>="] == ["2026-03-02"]
    assert sync(cursor)[0] == []


def test_a_call_in_progress_is_read_once_it_ended_and_the_watermark_waits_for_it(
        twilio: FakeTwilio) -> None:
    ringing = twilio.call(1, 0, status="in-progress")
    twilio.call(2, 30)
    found, cursor = sync()
    assert [o.external_id for o in found] == [f"CA{2:032x}"]
    twilio.calls[ringing].update(status="completed", duration="300")
    found, cursor = sync(cursor)
    ended = {o.external_id: o.interaction for o in found}
    assert ended[ringing].duration_s == 300
    assert sync(cursor)[0] == []


def test_credentials_go_as_basic_auth_with_the_account_sid_or_an_api_key(
        twilio: FakeTwilio) -> None:
    twilio.call(1, 0)
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, CALLS, callback=lambda r: twilio.answer(r))
        list(factory()().sync(None))
        list(TwilioConnector("twilio", TwilioConnector.Settings.model_validate({
            "account_sid": ACCOUNT, "username": {"env": "KEY"}, "password": {"env": "SECRET"}}),
            make_context(secrets={"KEY": "SKkey", "SECRET": "s"})).sync(None))
        users = [base64.b64decode(c.request.headers["Authorization"].split()[1]).decode()
                 for c in mock.calls]
    assert users == [f"{ACCOUNT}:tok", "SKkey:s"]


class TwilioChanges:
    """Twilio never deletes a call, and a call read (ended) no longer changes; one still in
    progress is not read until it ends (the test above)."""

    deletes = False
    updates = False

    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake
        for n in range(1, 6):
            fake.call(n, n)

    def add(self) -> str:
        return self.fake.call(len(self.fake.calls) + 1, 60)

    def update(self, external_id: str) -> None:
        pytest.fail("not called: updates = False")

    def delete(self, external_id: str) -> None:
        pytest.fail("not called: deletes = False")


class TestTwilioContract(ConnectorContract):
    @pytest.fixture
    def changes(self, twilio: FakeTwilio) -> TwilioChanges:
        return TwilioChanges(twilio)

    @pytest.fixture
    def connector_factory(self, changes: TwilioChanges) -> ConnectorFactory:
        return factory()

    @pytest.fixture
    def source_changes(self, changes: TwilioChanges) -> TwilioChanges:
        return changes
