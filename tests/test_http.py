"""Tests of hub.http: the shared retry layer, with HTTP mocked by ``responses``."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import requests
import responses

from hub import __version__
from hub.connectors import FatalError, RetriableError
from hub.http import (
    DEFAULT_TIMEOUT,
    CredentialsRejectedError,
    HttpClient,
    TransientHttpError,
    parse_retry_after,
    redact_url,
)

URL = "https://api.example.com/v1/contacts"
NOW = datetime(2026, 11, 22, 15, 48, 35, tzinfo=UTC)


class Sleeps:
    """An injected ``sleep`` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> HttpClient:
    return HttpClient(sleep=sleeps, clock=lambda: NOW, rng=random.Random(7))


@responses.activate
def test_503_is_retried_then_the_success_is_returned(client: HttpClient, sleeps: Sleeps) -> None:
    responses.add(responses.GET, URL, status=503)
    responses.add(responses.GET, URL, status=503)
    responses.add(responses.GET, URL, json={"ok": True})

    response = client.get(URL)

    assert response.json() == {"ok": True}
    assert len(responses.calls) == 3
    assert len(sleeps.waits) == 2
    # Exponential backoff with equal jitter: attempt n waits within [2^(n-1)/2, 2^(n-1)].
    assert 0.5 <= sleeps.waits[0] <= 1.0
    assert 1.0 <= sleeps.waits[1] <= 2.0


def test_backoff_is_capped(sleeps: Sleeps) -> None:
    client = HttpClient(sleep=sleeps, max_attempts=12, backoff_cap=60.0)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, URL, status=500)
        with pytest.raises(TransientHttpError):
            client.get(URL)
    assert len(sleeps.waits) == 11
    assert max(sleeps.waits) <= 60.0
    assert sleeps.waits[-1] >= 30.0


@responses.activate
def test_retry_after_seconds_is_waited_exactly(client: HttpClient, sleeps: Sleeps) -> None:
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "7"})
    responses.add(responses.GET, URL, status=503, headers={"Retry-After": "120"})
    responses.add(responses.GET, URL, status=200)

    assert client.get(URL).status_code == 200
    assert sleeps.waits == [7.0, 120.0]


@responses.activate
def test_retry_after_http_date_is_measured_from_the_clock(
    client: HttpClient, sleeps: Sleeps
) -> None:
    responses.add(
        responses.GET, URL, status=503, headers={"Retry-After": "Sun, 22 Nov 2026 15:49:05 GMT"}
    )
    responses.add(responses.GET, URL, status=200)

    assert client.get(URL).status_code == 200
    assert sleeps.waits == [30.0]


@responses.activate
def test_too_long_retry_after_raises_retriable_without_sleeping(
    client: HttpClient, sleeps: Sleeps
) -> None:
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "3600"})

    with pytest.raises(RetriableError) as info:
        client.get(URL)

    assert sleeps.waits == []
    assert len(responses.calls) == 1
    assert isinstance(info.value, TransientHttpError)
    assert info.value.status == 429
    assert info.value.retry_after == 3600.0
    assert info.value.url == URL


@responses.activate
def test_exhausted_429_raises_retriable_error_with_status_and_url(
    client: HttpClient, sleeps: Sleeps
) -> None:
    responses.add(responses.GET, URL, status=429)

    with pytest.raises(RetriableError) as info:
        client.get(URL, params={"page": "2"})

    assert len(responses.calls) == 5
    assert len(sleeps.waits) == 4
    assert isinstance(info.value, TransientHttpError)
    assert info.value.status == 429
    assert "429" in str(info.value)
    assert URL in str(info.value)


@responses.activate
def test_401_raises_fatal_error_without_the_token(client: HttpClient) -> None:
    token = "ya29.SECRET-token-value"
    responses.add(responses.GET, URL, status=401)

    with pytest.raises(FatalError) as info:
        client.get(
            URL, params={"access_token": token}, headers={"Authorization": f"Bearer {token}"}
        )

    assert isinstance(info.value, CredentialsRejectedError)
    message = str(info.value)
    assert "credentials rejected" in message
    assert "401" in message
    assert URL in message
    assert token not in message
    assert len(responses.calls) == 1


@responses.activate
def test_403_raises_fatal_error_and_is_not_retried(client: HttpClient, sleeps: Sleeps) -> None:
    responses.add(responses.GET, URL, status=403)

    with pytest.raises(FatalError) as info:
        client.get(URL)

    assert isinstance(info.value, CredentialsRejectedError) and info.value.status == 403
    assert "credentials rejected: HTTP 403" in str(info.value)
    assert len(responses.calls) == 1 and sleeps.waits == []


@responses.activate
def test_403_is_returned_when_the_caller_opts_out(client: HttpClient) -> None:
    responses.add(responses.GET, URL, status=403)

    assert client.get(URL, raise_for_status=False).status_code == 403


@responses.activate
def test_404_raises_http_error_and_is_not_retried(client: HttpClient, sleeps: Sleeps) -> None:
    responses.add(responses.GET, URL, status=404)

    with pytest.raises(requests.HTTPError) as info:
        client.get(URL, params={"key": "s3cr3t-key"})

    assert info.value.response is not None
    assert info.value.response.status_code == 404
    assert "s3cr3t-key" not in str(info.value)
    assert len(responses.calls) == 1
    assert sleeps.waits == []


@responses.activate
def test_404_is_returned_when_the_caller_opts_out(client: HttpClient) -> None:
    responses.add(responses.GET, URL, status=404)

    assert client.get(URL, raise_for_status=False).status_code == 404
    assert len(responses.calls) == 1


@responses.activate
def test_connection_error_is_retried(client: HttpClient, sleeps: Sleeps) -> None:
    responses.add(responses.GET, URL, body=requests.ConnectionError("connection reset"))
    responses.add(responses.GET, URL, json={"ok": True})

    assert client.get(URL).json() == {"ok": True}
    assert len(responses.calls) == 2
    assert len(sleeps.waits) == 1


@responses.activate
def test_persistent_timeout_becomes_retriable_error(client: HttpClient, sleeps: Sleeps) -> None:
    responses.add(responses.GET, URL, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(RetriableError) as info:
        client.get(URL)

    assert isinstance(info.value.__cause__, requests.ReadTimeout)
    assert len(responses.calls) == 5


@responses.activate
def test_retry_statuses_are_configurable(sleeps: Sleeps) -> None:
    client = HttpClient(sleep=sleeps, retry_statuses={503})
    responses.add(responses.GET, URL, status=500)

    with pytest.raises(requests.HTTPError):
        client.get(URL)
    assert len(responses.calls) == 1


@responses.activate
def test_default_timeout_and_user_agent_are_sent(client: HttpClient) -> None:
    responses.add(responses.GET, URL)
    responses.add(responses.POST, URL)

    client.get(URL)
    client.post(URL, json={}, timeout=3)

    # responses records the keyword arguments the adapter received on the request.
    sent = [getattr(call.request, "req_kwargs", {}) for call in responses.calls]
    assert sent[0]["timeout"] == DEFAULT_TIMEOUT
    assert sent[1]["timeout"] == 3
    assert responses.calls[0].request.headers["User-Agent"] == f"crmhub/{__version__}"


@responses.activate
def test_retry_log_has_no_query_string_nor_headers(
    client: HttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    responses.add(responses.GET, URL, status=502)
    responses.add(responses.GET, URL, status=200)

    with caplog.at_level(logging.WARNING, logger="hub.http"):
        client.get(URL, params={"token": "q-secret"}, headers={"Authorization": "Bearer h-secret"})

    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.levelno == logging.WARNING
    text = record.getMessage()
    assert f"GET {URL}" in text
    assert "attempt 1/5" in text
    assert "HTTP 502" in text
    assert "q-secret" not in caplog.text
    assert "h-secret" not in caplog.text
    assert record.__dict__["url"] == URL
    assert record.__dict__["status"] == 502


def test_session_is_exposed_and_closed() -> None:
    closed: list[requests.Session] = []

    class Session(requests.Session):
        def close(self) -> None:
            closed.append(self)
            super().close()

    session = Session()
    with HttpClient(session=session) as client:
        assert client.session is session
        assert session.headers["User-Agent"] == f"crmhub/{__version__}"
        assert closed == []
    assert closed == [session]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12.0),
        (" 0 ", 0.0),
        ("-5", 0.0),
        ("Sun, 22 Nov 2026 15:48:45 GMT", 10.0),
        ("Sun, 22 Nov 2026 15:00:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_redact_url_drops_query_fragment_and_userinfo() -> None:
    assert redact_url("https://u:p@h.example:8443/a/b?token=x#frag") == "https://h.example:8443/a/b"


@responses.activate
def test_a_post_whose_answer_was_lost_is_not_sent_again(client: HttpClient,
                                                        sleeps: Sleeps) -> None:
    """The source may have acted on it: a second POST could create a second record."""
    responses.add(responses.POST, URL, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(RetriableError, match="after 1 attempt: ReadTimeout"):
        client.post(URL, json={"name": "Ada"})

    assert len(responses.calls) == 1 and sleeps.waits == []


@responses.activate
def test_a_post_answered_500_is_not_sent_again_but_503_and_429_are(client: HttpClient) -> None:
    responses.add(responses.POST, URL, status=500)
    with pytest.raises(RetriableError, match=r"HTTP 500 .* after 1 attempt"):
        client.post(URL)
    assert len(responses.calls) == 1

    responses.replace(responses.POST, URL, status=503)
    responses.add(responses.POST, URL, status=429)
    responses.add(responses.POST, URL, json={"id": 7})
    assert client.post(URL).json() == {"id": 7}
    assert len(responses.calls) == 4  # the 500, then 503, 429 and the success


@responses.activate
def test_a_post_that_never_connected_is_sent_again(client: HttpClient) -> None:
    responses.add(responses.POST, URL, body=requests.ConnectTimeout("connect timed out"))
    responses.add(responses.POST, URL, json={"id": 7})

    assert client.post(URL).json() == {"id": 7}
    assert len(responses.calls) == 2


@responses.activate
def test_a_post_marked_idempotent_is_retried_like_a_get(client: HttpClient) -> None:
    responses.add(responses.POST, URL, status=500)
    responses.add(responses.POST, URL, body=requests.ConnectionError("connection reset"))
    responses.add(responses.POST, URL, json={"hits": []})

    assert client.post(URL, idempotent=True).json() == {"hits": []}
    assert len(responses.calls) == 3


@responses.activate
def test_408_request_timeout_is_retried(client: HttpClient) -> None:
    responses.add(responses.GET, URL, status=408)
    responses.add(responses.GET, URL, json={"ok": True})

    assert client.get(URL).json() == {"ok": True}
    assert len(responses.calls) == 2


@responses.activate
def test_a_tls_failure_is_not_retried_within_the_call(client: HttpClient,
                                                      sleeps: Sleeps) -> None:
    responses.add(responses.GET, URL,
                  body=requests.exceptions.SSLError("certificate verify failed"))

    with pytest.raises(RetriableError, match="after 1 attempt: SSLError"):
        client.get(URL)

    assert len(responses.calls) == 1 and sleeps.waits == []


# -- HttpClient.call: a client library's own transport under the same policy --------------


class Throttled(Exception):
    """What a client library raises for a 429 (googleapiclient's HttpError, say)."""

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("429 for https://api.example.com/u/ann%40acme.fr/messages")
        self.status_code, self.retry_after = 429, retry_after


def _answers(*outcomes: Exception | str) -> Callable[[], str]:
    pending = list(outcomes)

    def action() -> str:
        outcome = pending.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return action


def _throttled(exc: BaseException) -> bool:
    return isinstance(exc, Throttled)


def test_call_retries_what_the_caller_calls_retriable_honouring_retry_after(
        client: HttpClient, sleeps: Sleeps) -> None:
    result = client.call(_answers(Throttled(7), Throttled(), "ok"), what="gmail messages.list",
                         retriable=_throttled,
                         retry_after=lambda exc: getattr(exc, "retry_after", None))
    assert result == "ok"
    assert sleeps.waits[0] == 7 and len(sleeps.waits) == 2


def test_call_gives_up_as_transient_without_repeating_the_librarys_message(
        client: HttpClient, sleeps: Sleeps) -> None:
    with pytest.raises(TransientHttpError) as caught:
        client.call(_answers(*[Throttled()] * client.max_attempts), what="gmail history.list",
                    retriable=_throttled)
    assert str(caught.value) == (f"gmail history.list failed after {client.max_attempts} "
                                 "attempts: Throttled (HTTP 429)")
    assert caught.value.status == 429 and len(sleeps.waits) == client.max_attempts - 1


def test_call_raises_other_errors_at_once_and_refuses_a_too_long_retry_after(
        client: HttpClient, sleeps: Sleeps) -> None:
    with pytest.raises(KeyError):
        client.call(_answers(KeyError("x"), "ok"), what="w", retriable=_throttled)
    with pytest.raises(TransientHttpError, match="retry after 3600s"):
        client.call(_answers(Throttled(3600), "ok"), what="w", retriable=_throttled,
                    retry_after=lambda exc: getattr(exc, "retry_after", None))
    assert sleeps.waits == []
