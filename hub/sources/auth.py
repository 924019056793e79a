"""Authenticators: how a connector's requests prove who they are.

Each is a :class:`requests.auth.AuthBase`, handed to every request of a stream (or to
``HttpClient.request(..., auth=...)``), so the retries, timeouts and redaction of
:mod:`hub.http` apply unchanged. Secrets are resolved by the connector before they get
here (``self.secret(settings.token)``) and are never logged: the log masker knows them.

* :class:`BearerToken` — ``Authorization: Bearer <token>``;
* :class:`Basic` — HTTP Basic;
* :class:`ApiKey` — a key in a header (``X-API-Key``) or in the query string (``api_key``);
* :class:`OAuth2ClientCredentials` — the client-credentials grant (RFC 6749, 4.4): the
  token is fetched on first use, reused until shortly before ``expires_in`` runs out, and
  fetched again once if the API answers 401 to a token it has not yet seen fail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from hub.clock import utcnow
from hub.http import CredentialsRejectedError, HttpClient, redact_url

__all__ = ["ApiKey", "Basic", "BearerToken", "OAuth2ClientCredentials"]

#: A token is fetched again this long before the server says it expires (clock skew).
EXPIRY_LEEWAY = timedelta(seconds=60)


class BearerToken(AuthBase):
    """``Authorization: Bearer <token>`` on every request."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class Basic(HTTPBasicAuth):
    """HTTP Basic authentication (user name and password, or an API key as the user)."""


class ApiKey(AuthBase):
    """An API key in a header (``where="header"``, the default) or a query parameter."""

    def __init__(self, key: str, *, name: str = "X-API-Key",
                 where: Literal["header", "query"] = "header") -> None:
        self.key, self.name, self.where = key, name, where

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.where == "header":
            request.headers[self.name] = self.key
        else:
            request.prepare_url(request.url, {self.name: self.key})
        return request


class OAuth2ClientCredentials(AuthBase):
    """The OAuth 2.0 client-credentials grant, with the token cached until it expires.

    The token endpoint is called through ``http`` (retries included; a token request
    only reads, so it may be repeated). A 400 or 401 from it (a wrong client id or secret)
    is :class:`~hub.http.CredentialsRejectedError` with the server's ``error`` and
    ``error_description``, never the secret.
    """

    def __init__(self, http: HttpClient, token_url: str, client_id: str, client_secret: str,
                 *, scope: str | None = None, extra: dict[str, str] | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.http = http
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.extra = dict(extra or {})
        self.clock = clock
        self.token: str | None = None
        self.expires_at: datetime | None = None
        self.fetched = 0  # tokens fetched so far (a test or a metric may read it)
        self._lock = threading.Lock()

    def current_token(self) -> str:
        """A token that is not about to expire, fetched when needed."""
        with self._lock:
            if self.token is None or (self.expires_at is not None
                                      and self.clock() >= self.expires_at):
                self._fetch()
            assert self.token is not None
            return self.token

    def _fetch(self) -> None:
        form = {"grant_type": "client_credentials", **self.extra}
        if self.scope:
            form["scope"] = self.scope
        response = self.http.request(
            "POST", self.token_url, data=form, auth=(self.client_id, self.client_secret),
            idempotent=True, raise_for_status=False)
        body = _json(response)
        if response.status_code >= 400 or not isinstance(body.get("access_token"), str):
            error = " ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
            raise CredentialsRejectedError(
                f"the token endpoint {redact_url(self.token_url)} refused the client "
                f"credentials (HTTP {response.status_code}" + (f": {error})" if error else ")"),
                url=redact_url(self.token_url), status=response.status_code)
        self.token = body["access_token"]
        lifetime = body.get("expires_in")
        self.expires_at = (self.clock() + timedelta(seconds=float(lifetime)) - EXPIRY_LEEWAY
                           if isinstance(lifetime, int | float | str) and str(lifetime).strip()
                           else None)
        self.fetched += 1

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.current_token()
        request.headers["Authorization"] = f"Bearer {token}"
        request.register_hook("response", self._on_response(token))  # type: ignore[no-untyped-call]
        return request

    def _on_response(self, sent_with: str) -> Callable[..., requests.Response]:
        def retry_once_on_401(response: requests.Response, **kwargs: Any) -> requests.Response:
            """A 401 to the token in use (revoked, or expired early): fetch a new one and
            send the request again, once."""
            if response.status_code != 401 or getattr(response.request, "_crmhub_retried", False):
                return response
            with self._lock:
                if self.token == sent_with:
                    self._fetch()
            retry = response.request.copy()
            retry.headers["Authorization"] = f"Bearer {self.token}"
            setattr(retry, "_crmhub_retried", True)  # noqa: B010 - a marker on a copy
            response.content  # noqa: B018 - read the body so the connection is released
            response.close()
            connection: Any = response.connection
            again: requests.Response = connection.send(retry, **kwargs)
            again.history.append(response)
            again.request = retry
            return again

        return retry_once_on_401


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
