"""Signing in to Google, and every Google call under crmhub's one retry policy.

googleapiclient talks through httplib2: each call's ``execute(num_retries=0)`` runs inside
:meth:`hub.http.HttpClient.call`, which retries what :func:`retriable` accepts (429, a
403 whose reason is a rate limit, 5xx, network errors) with the project's backoff and the
server's ``Retry-After``. What is left is mapped by :func:`fatal_error` to a
:class:`~hub.connectors.FatalError` that says what the admin must grant; a 404 or 400
the caller understands (a stale history id, an expired sync token) reaches it as the
``HttpError``. Tokens and third parties' addresses never appear in a message.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import httplib2
from google.auth.exceptions import GoogleAuthError, RefreshError, TransportError
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from hub.connectors import ConnectorContext, FatalError
from hub.http import CredentialsRejectedError, parse_retry_after
from hub_gmail.settings import GmailSettings

TOKEN_URI = "https://oauth2.googleapis.com/token"
BATCH_URI = "https://gmail.googleapis.com/batch/gmail/v1"
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED",
                          "quotaExceeded"})
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
DISABLED_REASONS = frozenset({"accessNotConfigured", "SERVICE_DISABLED"})
DELEGATION_PLACE = "Admin console, Security > API controls > Domain-wide delegation"

#: Builds the authorised httplib2-like object for (subject, scopes); tests give a fake.
HttpFactory = Callable[[str, Sequence[str]], Any]


class ItemsThrottled(Exception):
    """Some requests of a batch were throttled: the batch is sent again with those only."""

    def __init__(self, count: int, retry_after: float | None) -> None:
        super().__init__(f"{count} requests of a batch throttled")
        self.retry_after = retry_after


def reasons(exc: HttpError) -> set[str]:
    """The machine reasons of a Google error reply (``errors[].reason``, ``details[].reason``)."""
    try:
        error = json.loads(exc.content.decode("utf-8")).get("error") or {}
    except (ValueError, AttributeError, UnicodeDecodeError):
        return set()
    if not isinstance(error, dict):
        return set()
    found = {str(item.get("reason")) for key in ("errors", "details")
             for item in error.get(key) or [] if isinstance(item, dict) and item.get("reason")}
    if error.get("status"):
        found.add(str(error["status"]))
    return found


def is_throttled(exc: HttpError) -> bool:
    status = int(exc.status_code)
    return status == 429 or (status == 403 and bool(reasons(exc) & RATE_REASONS))


def retriable(exc: BaseException) -> bool:
    """Whether another attempt may succeed: throttling, a 5xx, the network."""
    if isinstance(exc, HttpError):
        return is_throttled(exc) or int(exc.status_code) >= 500
    if isinstance(exc, ItemsThrottled):
        return True
    if isinstance(exc, GoogleAuthError):  # a token endpoint that is down
        return isinstance(exc, TransportError) or bool(getattr(exc, "retryable", False))
    return isinstance(exc, (httplib2.HttpLib2Error, socket.timeout, ConnectionError, OSError))


def retry_after(exc: BaseException, context: ConnectorContext) -> float | None:
    """The delay the server asked for (``Retry-After`` of the error reply)."""
    if isinstance(exc, ItemsThrottled):
        return exc.retry_after
    if isinstance(exc, HttpError) and exc.resp is not None:
        return parse_retry_after(exc.resp.get("retry-after"), context.clock())
    return None


def fatal_error(exc: BaseException, what: str, settings: GmailSettings,
                scopes: Sequence[str]) -> FatalError | None:
    """The FatalError ``exc`` stands for, saying what to grant; ``None``: not a fatal one."""
    granted = ", ".join(scopes)
    if isinstance(exc, RefreshError):
        if settings.auth == "oauth":
            return FatalError(f"{what}: Google refused the refresh token ({_oauth_error(exc)}): "
                              f"sign in again and grant the scopes {granted}")
        return FatalError(
            f"{what}: domain-wide delegation refused ({_oauth_error(exc)}): in the "
            f"{DELEGATION_PLACE}, authorise the service account's client id for the scopes "
            f"{granted}, and check that the mailbox exists")
    if not isinstance(exc, HttpError):
        return None
    status, found = int(exc.status_code), reasons(exc)
    if status == 401:
        return CredentialsRejectedError(
            f"{what}: HTTP 401, the credentials were rejected; grant the scopes {granted}",
            url=what, status=401)
    if status == 403 and not is_throttled(exc):
        if found & DISABLED_REASONS:
            hint = "enable this API in the service account's Google Cloud project"
        elif found & SCOPE_REASONS or "scope" in exc.reason.lower():
            hint = f"the token lacks a scope: grant {granted}"
            if settings.auth == "service_account":
                hint += f" in the {DELEGATION_PLACE}"
        else:
            hint = f"access denied ({exc.reason[:200]}); grant the scopes {granted}"
        return CredentialsRejectedError(f"{what}: HTTP 403, {hint}", url=what, status=403)
    return None


def _oauth_error(exc: RefreshError) -> str:
    """The OAuth error code of a refused token request (``unauthorized_client``...)."""
    text = str(exc.args[0]) if exc.args else ""
    return text.split(":", 1)[0].strip()[:80] or "refused"


def production_http(settings: GmailSettings, resolve: Callable[[Any], str],
                    subject: str, scopes: Sequence[str]) -> Any:
    """An ``AuthorizedHttp`` signed in as ``subject`` (service account) or the token's user."""
    import google_auth_httplib2
    from google.oauth2 import credentials as user_credentials
    from google.oauth2 import service_account

    credentials: Any
    if settings.service_account_key is not None:
        try:
            info = json.loads(resolve(settings.service_account_key))
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=list(scopes)).with_subject(subject)
        except (ValueError, KeyError, TypeError) as exc:
            raise FatalError("service_account_key is not a service account's JSON key "
                             f"({type(exc).__name__})") from None
    else:
        assert settings.client_secret is not None and settings.refresh_token is not None
        credentials = user_credentials.Credentials(  # type: ignore[no-untyped-call]
            None, refresh_token=resolve(settings.refresh_token), client_id=settings.client_id,
            client_secret=resolve(settings.client_secret), token_uri=TOKEN_URI,
            scopes=list(scopes))
    return google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=60))


class GoogleClient:
    """The Google APIs of one signed-in subject, each call retried and its errors mapped."""

    def __init__(self, http: Any, context: ConnectorContext, settings: GmailSettings,
                 scopes: Sequence[str], label: str) -> None:
        self.http = http
        self.context = context
        self.settings = settings
        self.scopes = list(scopes)
        self.label = label  # names the subject in messages: a mailbox, never a third party
        self._services: dict[str, Any] = {}

    def service(self, name: str, version: str) -> Any:
        key = f"{name}/{version}"
        if key not in self._services:
            self._services[key] = build(name, version, http=self.http, static_discovery=True,
                                        cache_discovery=False)
        return self._services[key]

    @property
    def gmail(self) -> Any:
        return self.service("gmail", "v1")

    @property
    def people(self) -> Any:
        return self.service("people", "v1")

    def call(self, action: Callable[[], Any], what: str) -> Any:
        """Run ``action`` under the retry policy; map credential failures to FatalError."""
        label = f"{self.label}: {what}"
        try:
            return self.context.http.call(
                action, what=label, retriable=retriable,
                retry_after=lambda exc: retry_after(exc, self.context))
        except (HttpError, RefreshError) as exc:
            fatal = fatal_error(exc, label, self.settings, self.scopes)
            if fatal is not None:
                raise fatal from None
            raise

    def execute(self, request: Any, what: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call(lambda: request.execute(num_retries=0), what)
        return result

    def get_messages(self, ids: Sequence[str], headers: Sequence[str]
                     ) -> dict[str, dict[str, Any] | HttpError]:
        """``messages.get(format=metadata)`` of ``ids``, ``batch_size`` a batch: each id's
        message, or the error only it met (a throttled one is sent again)."""
        results: dict[str, dict[str, Any] | HttpError] = {}
        size = self.settings.batch_size
        for start in range(0, len(ids), size):
            pending = list(dict.fromkeys(ids[start:start + size]))
            self.call(partial(self._batch, pending, headers, results),
                      "gmail messages.get (batch)")
        return results

    def _batch(self, pending: list[str], headers: Sequence[str],
               results: dict[str, dict[str, Any] | HttpError]) -> None:
        throttled: list[str] = []
        delays: list[float] = []

        def done(request_id: str, response: Any, exception: HttpError | None) -> None:
            if exception is not None and is_throttled(exception):
                throttled.append(request_id)
                delay = retry_after(exception, self.context)
                if delay is not None:
                    delays.append(delay)
            elif exception is not None and int(exception.status_code) in (401, 403):
                fatal = fatal_error(exception, f"{self.label}: gmail messages.get",
                                    self.settings, self.scopes)
                raise fatal if fatal is not None else exception
            else:
                results[request_id] = exception if exception is not None else response

        messages = self.gmail.users().messages()
        batch = BatchHttpRequest(callback=done, batch_uri=BATCH_URI)
        for message_id in pending:
            batch.add(messages.get(userId="me", id=message_id, format="metadata",
                                   metadataHeaders=list(headers)), request_id=message_id)
        batch.execute()
        pending[:] = throttled
        if throttled:
            raise ItemsThrottled(len(throttled), max(delays) if delays else None)
