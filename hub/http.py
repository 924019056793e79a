"""The one HTTP retry layer every connector shares.

:class:`HttpClient` wraps a :class:`requests.Session` so that every request a connector
makes has a timeout, a crmhub ``User-Agent``, and the same retry policy: connection errors,
timeouts and throttling/5xx answers are retried with exponential backoff and jitter,
honouring ``Retry-After``. A request is sent again only when that cannot act twice at the
source: an idempotent method (GET, PUT, DELETE, ...) after any of those failures, any method
when nothing was sent (a connect timeout) or the server says it did not act on it (408,
429, 503). A POST whose answer was lost (a read timeout, a reset, a 500) is not repeated:
the run fails as retriable, and the scheduler's next run reads the source again. A TLS
failure (a certificate the server presents, a handshake refused) is not retried within
the call: another attempt meets the same certificate. ``idempotent=True`` marks a POST
that only reads (a search, a batch of GETs). What is left after the retries is classified
for the scheduler:

* still throttled, down or unreachable -> :class:`TransientHttpError` (a ``RetriableError``);
* 401/403 -> :class:`CredentialsRejectedError` (a ``FatalError``);
* any other error status -> :class:`requests.HTTPError`, for the caller to interpret
  (a 404 may mean "deleted at the source").

URLs in logs and messages lose their query string and user-info, which may carry tokens;
headers are never logged.

No pooled connection crosses a fork: a client used in a forked child (a daemon's worker, a
sync's producer) first drops the keep-alive connections it inherited, so two processes
never talk over one socket (and never read each other's responses).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import EllipsisType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, retry_if_result
from tenacity.stop import stop_after_attempt

from hub import __version__
from hub.clock import utcnow
from hub.connectors import FatalError, RetriableError

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "DEFAULT_TIMEOUT",
    "CredentialsRejectedError",
    "HttpClient",
    "TransientHttpError",
    "parse_retry_after",
    "redact_url",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: (connect, read) seconds, as ``requests`` takes them.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
#: Methods whose repetition has the effect of one request (RFC 9110, section 9.2.2).
IDEMPOTENT_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE",
                                                "TRACE"})
#: Answers that say the server did not act on the request: sent again whatever the method.
NOT_ACTED_ON: frozenset[int] = frozenset({408, 429, 503})

Timeout = float | tuple[float, float] | tuple[float | None, float | None] | None

# Network failures worth another attempt. ConnectTimeout is both a ConnectionError and a
# Timeout; ChunkedEncodingError is a connection cut while the body was being read.
_NETWORK_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class TransientHttpError(RetriableError):
    """The source stayed throttled, down or unreachable: the scheduler should retry later.

    ``retry_after`` is the delay the server asked for, when it asked for one.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.retry_after = retry_after


class CredentialsRejectedError(FatalError):
    """The server answered 401 or 403: retrying with the same credentials cannot help."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


def redact_url(url: str) -> str:
    """``url`` without query string, fragment or user-info, which may carry secrets."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    Returns ``None`` when the header is absent or unparsable (backoff applies), and
    never a negative delay: a date in the past means "now".
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class HttpClient:
    """A ``requests.Session`` with crmhub's timeouts, retry policy and error classification.

    ``sleep`` and ``clock`` are injectable so tests never wait; ``rng`` draws the jitter.
    ``session`` is public for libraries that bring their own HTTP calls (MSAL accepts
    ``http_client=client.session``); those calls get the User-Agent but neither the
    retries nor the fork guard.
    """

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        max_retry_after: float = 300.0,
        retry_statuses: Collection[int] = DEFAULT_RETRY_STATUSES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.session = session if session is not None else requests.Session()
        self.session.headers["User-Agent"] = f"crmhub/{__version__}"
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.retry_statuses = frozenset(retry_statuses)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._pid = os.getpid()

    # -- public API ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: Timeout | EllipsisType = ...,
        raise_for_status: bool = True,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request with retries and return the final response.

        ``timeout`` overrides the client default for this call; other keyword arguments go
        to :meth:`requests.Session.request`. With ``raise_for_status=False`` a 4xx (401/403
        included) or non-retried 5xx is returned instead of raised; exhausted retries and
        an over-long ``Retry-After`` still raise :class:`TransientHttpError`, because the
        scheduler, not the caller, owns waiting. ``idempotent`` says whether the request
        may be repeated after its answer was lost (default: by its method).
        """
        self._own_connections()
        method = method.upper()
        repeatable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        kwargs["timeout"] = self.timeout if isinstance(timeout, EllipsisType) else timeout
        safe_url = redact_url(url)

        def attempt() -> requests.Response:
            response = self.session.request(method, url, **kwargs)
            if response.status_code in self.retry_statuses:
                delay = self._retry_after(response)
                if delay is not None and delay > self.max_retry_after:
                    response.close()
                    raise TransientHttpError(
                        f"HTTP {response.status_code} from {method} {safe_url}: server asks"
                        f" to retry after {delay:.0f}s (more than {self.max_retry_after:.0f}s)",
                        url=safe_url,
                        status=response.status_code,
                        retry_after=delay,
                    )
            return response

        retrying = Retrying(
            sleep=self._sleep,
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=(
                retry_if_exception(lambda exc: _may_resend(exc, repeatable))
                | retry_if_result(lambda r: r.status_code in self.retry_statuses
                                  and (repeatable or r.status_code in NOT_ACTED_ON))
            ),
            before_sleep=lambda state: self._log_retry(state, method, safe_url),
            # After the last attempt hand back its outcome (a response or an exception)
            # instead of tenacity's RetryError, so it can be classified below.
            retry_error_callback=lambda state: _outcome(state),
        )
        try:
            response: requests.Response = retrying(attempt)
        except _NETWORK_ERRORS as exc:
            raise TransientHttpError(
                f"{method} {safe_url} failed after {_attempts(retrying)}:"
                f" {type(exc).__name__}",
                url=safe_url,
            ) from exc
        return self._classify(response, method, safe_url, raise_for_status,
                              _attempts(retrying))

    def call(
        self,
        action: Callable[[], T],
        *,
        what: str,
        retriable: Callable[[BaseException], bool],
        retry_after: Callable[[BaseException], float | None] = lambda _exc: None,
    ) -> T:
        """Run ``action`` (a call through a client library with its own transport, such as
        googleapiclient's) under this client's retry policy: one retry layer for every
        connector. An exception ``retriable`` accepts is retried with the same backoff,
        jitter and ``Retry-After`` cap as :meth:`request` (``retry_after`` reads the delay
        the server asked for); once the attempts are spent it becomes
        :class:`TransientHttpError`. Any other exception propagates at once. ``what``
        names the call in logs and messages; it must hold no secret (the exception's own
        text, which may carry a URL with an address in it, is not repeated).
        """
        self._own_connections()

        def wait(state: RetryCallState) -> float:
            outcome = state.outcome
            failure = outcome.exception() if outcome is not None else None
            if failure is not None:
                delay = retry_after(failure)
                if delay is not None:
                    return delay
            return self._wait(state)

        def attempt() -> T:
            try:
                return action()
            except BaseException as exc:
                delay = retry_after(exc) if retriable(exc) else None
                if delay is not None and delay > self.max_retry_after:
                    raise TransientHttpError(
                        f"{what}: server asks to retry after {delay:.0f}s (more than "
                        f"{self.max_retry_after:.0f}s)", url=what, retry_after=delay) from exc
                raise

        retrying = Retrying(
            sleep=self._sleep,
            stop=stop_after_attempt(self.max_attempts),
            wait=wait,
            retry=retry_if_exception(lambda exc: not isinstance(exc, TransientHttpError)
                                     and retriable(exc)),
            before_sleep=lambda state: self._log_retry(state, "CALL", what),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except TransientHttpError:
            raise
        except BaseException as exc:
            if not retriable(exc):
                raise
            status = getattr(exc, "status_code", None)
            raise TransientHttpError(
                f"{what} failed after {_attempts(retrying)}: {type(exc).__name__}"
                + (f" (HTTP {status})" if status else ""),
                url=what, status=status if isinstance(status, int) else None,
                retry_after=retry_after(exc)) from exc

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        """``request("GET", url, ...)``."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        """``request("POST", url, ...)``."""
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        """Close the pooled connections of the underlying session."""
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------

    def _own_connections(self) -> None:
        """In a process forked since the last request, drop the inherited pooled connections
        (the session opens its own). Closing a socket a parent still holds sends nothing:
        the parent's connections go on as they were."""
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            self.session.close()

    def _retry_after(self, response: requests.Response) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"), self._clock())

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server sent one, else capped exponential backoff + jitter."""
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            delay = self._retry_after(outcome.result())
            if delay is not None:
                return delay
        exponential = self.backoff_base * 2.0 ** (state.attempt_number - 1)
        # "Equal jitter": at least half the exponential step, so waits still grow.
        step = min(self.backoff_cap, exponential)
        return step / 2 + self._rng.uniform(0, step / 2)

    def _log_retry(self, state: RetryCallState, method: str, safe_url: str) -> None:
        outcome = state.outcome
        status: int | None = None
        reason: str
        if outcome is None:  # pragma: no cover - tenacity always sets it before sleeping
            reason = "unknown"
        elif outcome.failed:
            reason = type(outcome.exception()).__name__
        else:
            response: requests.Response = outcome.result()
            status = response.status_code
            reason = f"HTTP {status}"
            response.close()  # release the pooled connection before sleeping
        wait = state.upcoming_sleep
        log.warning(
            "retrying %s %s after %s (attempt %d/%d), waiting %.1fs",
            method,
            safe_url,
            reason,
            state.attempt_number,
            self.max_attempts,
            wait,
            extra={
                "method": method,
                "url": safe_url,
                "status": status,
                "attempt": state.attempt_number,
                "wait_s": round(wait, 3),
            },
        )

    def _classify(
        self, response: requests.Response, method: str, safe_url: str, raise_for_status: bool,
        attempts: str,
    ) -> requests.Response:
        status = response.status_code
        if status in self.retry_statuses:
            response.close()
            raise TransientHttpError(
                f"HTTP {status} from {method} {safe_url} after {attempts}",
                url=safe_url,
                status=status,
                retry_after=self._retry_after(response),
            )
        if status < 400 or not raise_for_status:
            return response
        if status in (401, 403):
            raise CredentialsRejectedError(
                f"credentials rejected: HTTP {status} from {method} {safe_url}",
                url=safe_url,
                status=status,
            )
        # requests' own message repeats the full URL, query string (and token) included.
        raise requests.HTTPError(
            f"HTTP {status} {response.reason or ''} from {method} {safe_url}".replace("  ", " "),
            response=response,
        )


def _outcome(state: RetryCallState) -> Any:
    """The last attempt's result, or re-raise its exception."""
    assert state.outcome is not None
    return state.outcome.result()


def _may_resend(exc: BaseException, repeatable: bool) -> bool:
    """Whether a request that failed with ``exc`` may be sent again."""
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # the same certificate or handshake fails the same way
    if isinstance(exc, requests.ConnectTimeout):
        return True  # no connection, so nothing was sent
    return repeatable and isinstance(exc, _NETWORK_ERRORS)


def _attempts(retrying: Retrying) -> str:
    count = int(retrying.statistics.get("attempt_number", 1))
    return "1 attempt" if count == 1 else f"{count} attempts"
