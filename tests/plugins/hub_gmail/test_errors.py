"""gmail: scripted Google replies (HttpMockSequence) for retries and refusals, the settings'
validation and the production sign-in (built offline)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from googleapiclient.http import HttpMockSequence
from pydantic import ValidationError

from hub.connectors import FatalError
from hub.http import HttpClient
from hub_gmail import GmailConnector, GmailSettings
from hub_gmail.client import production_http
from hub_gmail.settings import CONTACTS, GMAIL_METADATA, OTHER_CONTACTS, scopes
from tests.plugins.hub_gmail.conftest import ANN, KEY, context
from tests.plugins.hub_gmail.fake_google import error

PROFILE = json.dumps({"emailAddress": ANN, "messagesTotal": 0, "threadsTotal": 0,
                      "historyId": "4242"}).encode()
EMPTY_LIST = json.dumps({"resultSizeEstimate": 0}).encode()
SCOPE_ERROR = error(403, "Request had insufficient authentication scopes.",
                    "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "PERMISSION_DENIED", details=True)


def scripted(replies: list[tuple[dict[str, str], bytes]], waits: list[float] | None = None,
             **settings: Any) -> tuple[GmailConnector, HttpMockSequence]:
    sequence = HttpMockSequence(replies)
    http = HttpClient(sleep=(waits if waits is not None else []).append,
                      rng=random.Random(1))
    values = {"mailboxes": [ANN], "service_account_key": KEY, **settings}
    conn = GmailConnector("gmail-test", GmailSettings.model_validate(values),
                          context(http=http), http_factory=lambda _s, _scopes: sequence)
    return conn, sequence


def test_a_429_with_retry_after_and_a_503_are_retried_then_the_sync_goes_on() -> None:
    waits: list[float] = []
    conn, sequence = scripted([
        ({"status": "429", "retry-after": "7"},
         error(429, "Too many requests", "rateLimitExceeded", "RESOURCE_EXHAUSTED")),
        ({"status": "503"}, error(503, "Backend Error", "backendError", "UNAVAILABLE")),
        ({"status": "200"}, PROFILE),
        ({"status": "200"}, EMPTY_LIST)], waits, contacts=False)
    batches = list(conn.sync(None))
    assert waits[0] == 7.0 and len(waits) == 2 and 0 < waits[1] <= 2.0
    assert batches[-1].cursor == {"mailboxes": {ANN: {"messages": {"history_id": "4242"}}}}
    assert batches[-1].parts == {ANN: None}
    assert [uri.split("?")[0].rsplit("/", 1)[1] for uri, *_ in sequence.request_sequence] == [
        "profile", "profile", "profile", "messages"]


def test_a_403_user_rate_limit_is_throttling_not_a_refusal() -> None:
    waits: list[float] = []
    conn, _ = scripted([
        ({"status": "403"}, error(403, "User-rate limit exceeded", "userRateLimitExceeded",
                                  "PERMISSION_DENIED")),
        ({"status": "200"}, PROFILE), ({"status": "200"}, EMPTY_LIST)], waits, contacts=False)
    assert list(conn.sync(None))[-1].parts == {ANN: None} and len(waits) == 1


def test_a_401_is_fatal_and_names_the_scopes_to_grant() -> None:
    conn, _ = scripted([({"status": "401"}, error(
        401, "Request had invalid authentication credentials.", "authError",
        "UNAUTHENTICATED"))], contacts=False)
    with pytest.raises(FatalError, match="HTTP 401") as caught:
        list(conn.sync(None))
    assert GMAIL_METADATA in str(caught.value)


def test_a_403_missing_scope_is_fatal_and_says_where_to_grant_it() -> None:
    conn, _ = scripted([({"status": "403"}, SCOPE_ERROR)])
    batches: list[Any] = []
    with pytest.raises(FatalError) as caught:
        batches += conn.sync(None)
    text = str(caught.value)
    assert "lacks a scope" in text and CONTACTS in text and GMAIL_METADATA in text
    assert "Domain-wide delegation" in text


def test_a_check_reports_a_missing_scope_without_raising() -> None:
    conn, _ = scripted([({"status": "403"}, SCOPE_ERROR)], contacts=False)
    result = conn.check()
    assert not result.ok and "FAILED" in result.message and GMAIL_METADATA in result.message


def test_retries_spent_become_a_retriable_error() -> None:
    conn, _ = scripted([({"status": "500"}, error(500, "x", "backendError", "INTERNAL"))] * 5,
                       contacts=False)
    with pytest.raises(Exception, match="every mailbox failed") as caught:
        list(conn.sync(None))
    assert not isinstance(caught.value, FatalError)


@pytest.mark.parametrize("values, message", [
    ({"service_account_key": KEY, "client_id": "c"}, "not both"),
    ({}, "sign in with service_account_key"),
    ({"client_id": "c", "client_secret": KEY, "refresh_token": KEY,
      "mailboxes": [ANN, "ben@acme.com"]}, "one mailbox"),
    ({"service_account_key": KEY, "mailboxes": "all"}, "needs admin"),
    ({"service_account_key": KEY, "page_size": 501}, "less than or equal to 500"),
])
def test_settings_refuse_an_unclear_way_to_sign_in(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GmailSettings.model_validate({"mailboxes": [ANN], **values})


def test_scopes_are_the_least_the_settings_need() -> None:
    base = {"mailboxes": [ANN], "service_account_key": KEY}
    assert scopes(GmailSettings.model_validate(base)) == [GMAIL_METADATA, CONTACTS]
    assert scopes(GmailSettings.model_validate({**base, "other_contacts": True,
                                                "messages": False})) == [CONTACTS,
                                                                         OTHER_CONTACTS]


def test_a_refresh_token_signs_in_offline_with_the_minimal_scopes() -> None:
    settings = GmailSettings.model_validate({
        "mailboxes": [ANN], "client_id": "cid.apps.googleusercontent.com",
        "client_secret": {"env": "SECRET"}, "refresh_token": {"env": "REFRESH"}})
    secrets = {"SECRET": "s3cret", "REFRESH": "1//refresh"}
    http = production_http(settings, lambda ref: secrets[ref.env], ANN, scopes(settings))
    credentials = http.credentials
    assert credentials.refresh_token == "1//refresh" and credentials.token is None
    assert credentials.scopes == [GMAIL_METADATA, CONTACTS]
    assert credentials.token_uri == "https://oauth2.googleapis.com/token"


def test_a_service_account_key_that_is_not_json_is_fatal_without_showing_it() -> None:
    settings = GmailSettings.model_validate({"mailboxes": [ANN], "service_account_key": KEY})
    with pytest.raises(FatalError, match="not a service account's JSON key") as caught:
        production_http(settings, lambda _ref: "secret-text", ANN, [GMAIL_METADATA])
    assert "secret-text" not in str(caught.value)
