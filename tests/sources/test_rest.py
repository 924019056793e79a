"""hub.sources: paging, the tie-safe cursor, deletions, error mapping and authenticators,
against APIs mocked with `responses` in the shapes such APIs answer."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import requests
import responses
from responses import matchers

from hub.connectors import ConnectorSettings, FatalError, RetriableError
from hub.http import CredentialsRejectedError, HttpClient
from hub.sources import (
    ApiKey,
    Basic,
    CursorToken,
    NextLink,
    OAuth2ClientCredentials,
    Offset,
    PageNumber,
    RecordGone,
    ReplicationCursor,
    RestConnector,
    RestSettings,
    get_path,
)
from hub.testing import make_context
from tests.sources.acme import AcmeConnector
from tests.sources.fake_api import BASE, FakeContacts, stamp

URL = f"{BASE}/v1/contacts"


def acme(cls: type[RestConnector] = AcmeConnector, **settings: Any) -> RestConnector:
    values = {"base_url": BASE, "page_size": 2, **settings}
    if issubclass(cls, AcmeConnector):
        values["token"] = {"env": "ACME_TOKEN"}
    return cls("acme", cls.Settings.model_validate(values),
               make_context(secrets={"ACME_TOKEN": "t0k"}))


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def ids(batches: list[Any]) -> list[tuple[str, bool]]:
    return [(o.external_id, o.deleted) for b in batches for o in b.observations]


def test_an_incremental_stream_pages_maps_and_sends_the_cursor_back_inclusively(
        mock: responses.RequestsMock) -> None:
    api = FakeContacts(5)
    api.install(mock)
    batches = list(acme().sync(None))
    assert ids(batches) == [(f"c{n}", False) for n in range(1, 6)]
    first = batches[0].observations[0]
    assert first.person is not None and first.person.full_name == "Person 1"
    assert first.observed_at == datetime(2026, 3, 1, 9, 1, tzinfo=UTC)
    assert first.raw["email"] == "person1@example.org"
    assert [b.cursor for b in batches][-1] == {"since": stamp(5), "ids": ["c5"]}
    assert mock.calls[0].request.headers["Authorization"] == "Bearer t0k"
    assert [q.get("cursor") for q in api.requests] == [None, ["2"], ["4"]]

    api.update("c2")
    api.delete("c4")
    again = list(acme().sync(batches[-1].cursor))
    assert ids(again) == [("c2", False), ("c4", True)]
    assert api.requests[-1]["updated_since"] == [stamp(5)]
    assert ids(list(acme().sync(again[-1].cursor))) == []  # nothing new: nothing yielded


def test_records_sharing_the_boundary_time_are_neither_lost_nor_read_twice(
        mock: responses.RequestsMock) -> None:
    api = FakeContacts(5, same_time=True)  # five records at one instant, pages of two
    api.install(mock)
    batches = list(acme().sync(None))
    assert ids(batches) == [(f"c{n}", False) for n in range(1, 6)]
    cursor = batches[-1].cursor
    assert cursor == {"since": stamp(0), "ids": ["c1", "c2", "c3", "c4", "c5"]}
    late = api.add(same_time=True)  # written at the same instant, after the run
    assert ids(list(acme().sync(cursor))) == [(late, False)]
    # resumed from the middle of the first run, nothing read is read again
    assert ids(list(acme().sync(batches[0].cursor))) == [("c3", False), ("c4", False),
                                                         ("c5", False), (late, False)]


def test_the_cursor_compares_times_as_times_whatever_their_offset() -> None:
    cursor = ReplicationCursor("2026-03-01T10:00:00+01:00", ["a"])
    assert cursor.seen("2026-03-01T09:00:00Z", "a") and not cursor.seen("2026-03-01T09:00:00Z",
                                                                       "b")
    assert cursor.seen("2026-03-01T08:59:59Z", "z")
    cursor.advance("2026-03-01T09:00:01Z", "c")
    assert cursor.to_json() == {"since": "2026-03-01T09:00:01Z", "ids": ["c"]}
    numbers = ReplicationCursor(9, ["x"])
    assert numbers.seen(8, "y") and not numbers.seen(10, "y")


class Snapshot(RestConnector):
    kind: ClassVar[str] = "snap"
    path = "/people"
    records_path = "items"
    paginator = Offset()

    def person(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"full_name": record["name"]}


def people(count: int) -> list[dict[str, Any]]:
    return [{"id": n, "name": f"P{n}"} for n in range(1, count + 1)]


def offset_pages(mock: responses.RequestsMock, records: list[dict[str, Any]]) -> None:
    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        query = dict(part.split("=") for part in (request.url or "").split("?")[1].split("&"))
        start, limit = int(query["offset"]), int(query["limit"])
        return 200, {}, json.dumps({"items": records[start:start + limit]})

    mock.add_callback(responses.GET, f"{BASE}/people", callback=answer)


def test_a_snapshot_stream_ends_its_snapshot_and_resumes_at_its_page_under_one_token(
        mock: responses.RequestsMock) -> None:
    offset_pages(mock, people(5))
    connector = acme(Snapshot, page_size=2)
    batches = list(connector.sync(None))
    assert [len(b.observations) for b in batches] == [2, 2, 1]
    tokens = {b.token for b in batches}
    assert len(tokens) == 1 and {b.scope for b in batches} == {"snap"}
    assert [b.snapshot_end is not None for b in batches] == [False, False, True]
    assert batches[-1].cursor == {}
    resumed = list(acme(Snapshot, page_size=2).sync(batches[0].cursor))
    assert ids(resumed) == [("3", False), ("4", False), ("5", False)]
    assert {b.token for b in resumed} == tokens


def test_page_number_and_next_link_paginators_follow_the_api(
        mock: responses.RequestsMock) -> None:
    class Numbered(Snapshot):
        path = "/numbered"
        paginator = PageNumber(total_pages="meta.pages")

    for page, rows in ((1, people(2)), (2, people(3)[2:])):
        mock.get(f"{BASE}/numbered", json={"items": rows, "meta": {"pages": 2}},
                 match=[matchers.query_param_matcher({"page": page, "per_page": 2})])
    assert [o.external_id for b in acme(Numbered).sync(None) for o in b.observations] == [
        "1", "2", "3"]

    class Linked(Snapshot):
        path = "/linked"
        paginator = NextLink(path="links.next")

    mock.get(f"{BASE}/linked", json={"items": people(1), "links": {"next": f"{BASE}/p2"}})
    mock.get(f"{BASE}/p2", json={"items": people(2)[1:]},
             headers={"Link": f'<{BASE}/p3?after=2>; rel="next"'})
    mock.get(f"{BASE}/p3?after=2", json={"items": people(3)[2:]})
    assert [o.external_id for b in acme(Linked).sync(None) for o in b.observations] == [
        "1", "2", "3"]

    class Tokens(Snapshot):
        path = "/tokens"
        paginator = CursorToken(param="after", token_path="paging.next", size_param=None)

    mock.get(f"{BASE}/tokens", json={"items": people(1), "paging": {"next": "abc"}},
             match=[matchers.query_param_matcher({})])
    mock.get(f"{BASE}/tokens", json={"items": people(2)[1:], "paging": {"next": ""}},
             match=[matchers.query_param_matcher({"after": "abc"})])
    assert [o.external_id for b in acme(Tokens).sync(None) for o in b.observations] == [
        "1", "2"]


def test_a_record_the_mapping_cannot_read_is_quarantined_and_the_page_goes_on(
        mock: responses.RequestsMock) -> None:
    mock.get(URL, json={"data": [
        {"id": "a", "name": "Ann", "email": "ann@x.org", "updated_at": stamp(1)},
        {"name": "No Id", "email": "x@x.org", "updated_at": stamp(2)},
        {"id": "b", "email": "b@x.org", "updated_at": stamp(3)},
        "not an object",
        {"id": "c", "name": "Cy", "email": "cy@x.org", "updated_at": stamp(4)}],
        "meta": {"next_cursor": None}})
    [batch] = list(acme().sync(None))
    assert [o.external_id for o in batch.observations] == ["a", "c"]
    reasons = [(r.external_id, r.reason) for r in batch.rejected]
    assert reasons == [(None, "cannot map the record: the record has no 'id'"),
                       ("b", "cannot map the record: the record has no 'name'"),
                       (None, "cannot map the record: a record is a JSON object, not str")]
    assert json.loads(batch.rejected[1].payload)["email"] == "b@x.org"


@pytest.mark.parametrize(("status", "body", "error", "message"), [
    (404, {"message": "Not Found"}, FatalError, "no such endpoint: check base_url"),
    (400, {"error": {"message": "updated_since must be ISO 8601"}}, FatalError,
     "the API refused the request (HTTP 400): updated_since must be ISO 8601"),
    (422, {"errors": [{"message": "limit too large"}]}, FatalError, "limit too large"),
    (401, {"message": "bad token"}, CredentialsRejectedError, "credentials rejected"),
])
def test_error_answers_map_to_documented_errors(
        mock: responses.RequestsMock, status: int, body: dict[str, Any],
        error: type[Exception], message: str) -> None:
    mock.get(URL, json=body, status=status)
    with pytest.raises(error, match=re.escape(message)):
        list(acme().sync(None))


def test_an_answer_that_is_not_json_is_retried_later_and_a_gone_record_is_told(
        mock: responses.RequestsMock) -> None:
    mock.get(URL, body="<html>Maintenance</html>", content_type="text/html")
    with pytest.raises(RetriableError, match="not JSON"):
        list(acme().sync(None))
    mock.get(f"{URL}/c9", json={"message": "no such contact"}, status=404)
    with pytest.raises(RecordGone, match="the record is gone"):
        acme().fetch("/v1/contacts/c9")
    mock.get(f"{URL}/c1", json={"id": "c1"})
    assert acme().fetch("/v1/contacts/c1") == {"id": "c1"}


def test_check_makes_one_request_and_says_what_it_found(mock: responses.RequestsMock) -> None:
    mock.get(URL, json={"data": [{"id": 1}], "meta": {}})
    assert acme().check().message.endswith("reachable, 1 record(s) on the first page")
    mock.replace(responses.GET, URL, json={"message": "expired"}, status=403)
    result = acme().check()
    assert not result.ok and "credentials rejected" in result.message


def test_api_key_basic_and_bearer_authenticators_sign_each_request(
        mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/x", json={})
    http = HttpClient(sleep=lambda _: None)
    http.get(f"{BASE}/x", auth=ApiKey("k1"))
    http.get(f"{BASE}/x", auth=ApiKey("k2", name="api_key", where="query"))
    http.get(f"{BASE}/x", auth=Basic("user", "pw"))
    sent = [call.request for call in mock.calls]
    assert sent[0].headers["X-API-Key"] == "k1"
    assert sent[1].url == f"{BASE}/x?api_key=k2" and "X-API-Key" not in sent[1].headers
    assert sent[2].headers["Authorization"] == "Basic dXNlcjpwdw=="


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


TOKEN_URL = "https://login.example.com/oauth2/token"


def test_oauth2_client_credentials_reuses_a_token_until_it_expires_and_after_a_401_once(
        mock: responses.RequestsMock) -> None:
    tokens = iter(["tok-1", "tok-2", "tok-3"])
    mock.add_callback(responses.POST, TOKEN_URL, callback=lambda request: (
        200, {}, json.dumps({"access_token": next(tokens), "token_type": "Bearer",
                             "expires_in": 3600})))
    answers = iter([200, 200, 200, 401, 200])
    mock.add_callback(responses.GET, f"{BASE}/x", callback=lambda request: (
        next(answers), {}, "{}"))
    clock = Clock()
    http = HttpClient(sleep=lambda _: None)
    auth = OAuth2ClientCredentials(http, TOKEN_URL, "client", "s3cret", scope="contacts.read",
                                   clock=clock)
    http.get(f"{BASE}/x", auth=auth)
    http.get(f"{BASE}/x", auth=auth)
    assert auth.fetched == 1
    form = mock.calls[0].request.body
    assert "grant_type=client_credentials" in form and "scope=contacts.read" in form
    assert mock.calls[0].request.headers["Authorization"].startswith("Basic ")
    clock.now += timedelta(seconds=3600 - 30)  # inside the leeway: fetched again
    http.get(f"{BASE}/x", auth=auth)
    assert auth.fetched == 2
    gets = [c.request.headers["Authorization"] for c in mock.calls if c.request.method == "GET"]
    assert gets == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    response = http.get(f"{BASE}/x", auth=auth)  # revoked: 401, a new token, sent again
    assert response.status_code == 200 and auth.fetched == 3
    assert response.request.headers["Authorization"] == "Bearer tok-3"


def test_a_refused_client_secret_is_a_credentials_error_without_the_secret(
        mock: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    mock.post(TOKEN_URL, status=401, json={"error": "invalid_client",
                                           "error_description": "Client authentication failed"})
    auth = OAuth2ClientCredentials(HttpClient(sleep=lambda _: None), TOKEN_URL, "client",
                                   "s3cret-value")
    with caplog.at_level(logging.DEBUG), pytest.raises(CredentialsRejectedError) as caught:
        auth.current_token()
    assert "invalid_client Client authentication failed" in str(caught.value)
    assert "s3cret-value" not in str(caught.value) + caplog.text


def test_get_path_reads_dotted_paths_through_objects_and_lists() -> None:
    body = {"data": {"items": [{"id": 7}]}, "meta": None}
    assert get_path(body, "data.items.0.id") == 7
    assert get_path(body, "data.items.-1.id") == 7
    assert get_path(body, "data.items.3.id", "none") == "none"
    assert get_path(body, "meta.next") is None and get_path(body, "") is body


def test_settings_of_a_rest_connector_refuse_unknown_keys() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        RestSettings.model_validate({"base_url": BASE, "pagesize": 5})
    assert issubclass(RestSettings, ConnectorSettings)
