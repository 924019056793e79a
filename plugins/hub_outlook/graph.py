"""Microsoft Graph for one connector: an app-only token from MSAL, GETs through the shared
:class:`~hub.http.HttpClient`, and Graph's errors turned into what the core understands.

The token comes from MSAL's client credentials flow (a client secret or a certificate) and
stays in MSAL's in-memory cache, renewed by MSAL when it nears its expiry; it is never
logged. MSAL answers a refusal with an error dict instead of raising: it becomes a
:class:`~hub.connectors.FatalError` saying what to fix. MSAL's own calls go through the
shared HttpClient too (its timeout and retries); a sign-in that stays unreachable is a
:class:`~hub.connectors.RetriableError`.

Graph's answers: 429/503 are retried by the HttpClient (``Retry-After`` honoured); 401/403
name the permissions to grant; a delta link Graph no longer knows (410 Gone, or a
``syncStateNotFound``/``resyncRequired`` code) raises :class:`DeltaReset`, for the caller to
start the round again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msal
import requests

from hub.connectors import ConnectorContext, FatalError, RetriableError
from hub.http import HttpClient, redact_url
from hub.sources.rest import error_message
from hub_outlook.settings import OutlookSettings

__all__ = ["SCOPES", "DeltaReset", "GraphClient", "graph_error"]

SCOPES = ["https://graph.microsoft.com/.default"]

MAIL_PERMISSIONS = ("grant the application the Microsoft Graph application permissions "
                    "Mail.ReadBasic.All (or Mail.Read) and Contacts.Read with admin consent, "
                    "and check that no application access policy keeps it out of this "
                    "mailbox")
USERS_PERMISSION = ('mailboxes = "all" lists the tenant\'s users: grant the application the '
                    "Microsoft Graph application permission User.Read.All with admin consent, "
                    "or name the mailboxes")
_RESET_CODES = ("syncstatenotfound", "syncstateinvalid", "resyncrequired")
_NOT_REST = "mailboxnotenabledforrestapi"


class DeltaReset(Exception):
    """Graph no longer knows a delta round's state: start the round again."""


def graph_error(response: requests.Response) -> tuple[str, str]:
    """The ``error.code`` and the message of a Graph error answer (``("", text)`` when the
    body is not Graph's error shape)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")
    return "", error_message(response)


class _SignInClient:
    """The shared HttpClient as MSAL's ``http_client``: its timeout, its fork guard and its
    retries (a token endpoint answering 429 or 503, or unreachable for a moment). Every
    answer is handed back to MSAL as it came, errors included: MSAL reads them."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.http.request("GET", url, raise_for_status=False, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        # The client-credentials grant only issues a token: sending it again is harmless.
        return self.http.request("POST", url, raise_for_status=False, idempotent=True,
                                 **kwargs)

    def close(self) -> None:
        """The session is the HttpClient's to close."""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


class GraphClient:
    """One connector's access to Graph: its MSAL application (made once, when first
    needed) and authenticated GETs."""

    def __init__(self, settings: OutlookSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context
        self._app: Any = None
        self._refused: FatalError | None = None  # a credential refusal, not asked again

    # -- the token ------------------------------------------------------------------------

    def _credential(self) -> str | dict[str, str]:
        settings = self.settings
        if settings.client_secret is not None:
            return self.context.resolve_secret(settings.client_secret)
        assert settings.certificate_key is not None and settings.certificate_thumbprint
        return {"private_key": self.context.resolve_secret(settings.certificate_key),
                "thumbprint": settings.certificate_thumbprint.replace(":", "")}

    def _application(self) -> Any:
        if self._app is None:
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.settings.client_id, client_credential=self._credential(),
                    authority=self.settings.authority,
                    http_client=_SignInClient(self.context.http),
                    instance_discovery=False)
            except requests.RequestException as exc:
                raise RetriableError(f"cannot reach {self.settings.authority_host}: "
                                     f"{type(exc).__name__}") from exc
            except ValueError as exc:
                said = _first_line(str(exc))[:160]
                if "authority" not in said.lower():  # a certificate key MSAL cannot load
                    raise self._refuse(f"the certificate cannot be used ({said}): check "
                                       "certificate_key (a PEM private key)") from exc
                raise self._refuse(
                    f"cannot sign in at {self.settings.authority}: the tenant is unknown "
                    f"there; check tenant_id ({self.settings.tenant_id!r}) and "
                    f"authority_host ({said})") from exc
        return self._app

    def _refuse(self, message: str) -> FatalError:
        self._refused = FatalError(message)
        return self._refused

    def token(self) -> str:
        """An app-only access token for Graph, from MSAL's cache when still valid."""
        if self._refused is not None:
            raise self._refused
        app = self._application()
        try:
            result = app.acquire_token_for_client(scopes=SCOPES)
        except requests.RequestException as exc:
            raise RetriableError(f"cannot reach {self.settings.authority_host} for a token: "
                                 f"{type(exc).__name__}") from exc
        if isinstance(result, dict) and isinstance(result.get("access_token"), str):
            return str(result["access_token"])
        raise self._refuse(self._token_error(result if isinstance(result, dict) else {}))

    def _token_error(self, result: dict[str, Any]) -> str:
        error = str(result.get("error") or "unknown error")
        described = _first_line(str(result.get("error_description") or ""))
        codes = {int(c) for c in result.get("error_codes") or [] if str(c).isdigit()}
        said = f"Microsoft Entra ID refused the token ({error}: {described[:240]})"
        client = f"client_id {self.settings.client_id!r}"
        if codes & {90002, 900023, 90013}:
            fix = f"check tenant_id ({self.settings.tenant_id!r})"
        elif codes & {700016} or error == "unauthorized_client":
            fix = (f"check {client} and tenant_id: the application must be registered, or "
                   "consented to, in this tenant")
        elif codes & {65001, 500011, 7000112} or error == "invalid_grant":
            fix = MAIL_PERMISSIONS
        elif error == "invalid_client" and self.settings.client_secret is not None:
            fix = (f"the client secret of {client} is wrong or expired: create a new "
                   "secret (App registrations > Certificates & secrets) and put its value, "
                   "not its id, in client_secret")
        elif error == "invalid_client":
            fix = (f"the certificate is not the one uploaded to {client}, or it expired: "
                   "check certificate_key and certificate_thumbprint")
        else:
            fix = "check tenant_id, client_id and the credential"
        return f"{said}; {fix}"

    # -- requests -------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.settings.graph}{path}"

    def get(self, url: str, *, params: dict[str, str] | None = None, what: str,
            hint: str = MAIL_PERMISSIONS) -> dict[str, Any]:
        """GET one Graph resource (``url``: a path under ``graph_url``, or a next/delta link
        as Graph gave it); its JSON object, or the error that says why not. ``what`` names
        the request in errors; ``hint`` is what to grant when access is refused."""
        if url.startswith("/"):
            url = self.url(url)
        headers = {"Authorization": f"Bearer {self.token()}",
                   "Prefer": f"odata.maxpagesize={self.settings.page_size}"}
        response = self.context.http.get(url, headers=headers, params=params,
                                         raise_for_status=False)
        if response.status_code >= 400:
            self._raise_for(response, what, hint)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RetriableError(f"{what}: Graph answered something other than a JSON object "
                                 f"(HTTP {response.status_code} from "
                                 f"{redact_url(response.url or url)})")
        return body

    def pages(self, path: str, *, params: dict[str, str] | None = None, what: str,
              hint: str = MAIL_PERMISSIONS) -> Iterator[dict[str, Any]]:
        """The ``value`` items of a collection, following ``@odata.nextLink``."""
        url: str | None = path
        while url is not None:
            body = self.get(url, params=params, what=what, hint=hint)
            values = body.get("value")
            if isinstance(values, list):
                yield from (v for v in values if isinstance(v, dict))
            link = body.get("@odata.nextLink")
            url, params = (link if isinstance(link, str) and link else None), None

    def _raise_for(self, response: requests.Response, what: str, hint: str) -> None:
        status = response.status_code
        code, message = graph_error(response)
        lowered = code.lower()
        said = f"{what}: HTTP {status}" + (f" {code}" if code else "") + \
            (f": {_first_line(message)[:240]}" if message else "")
        if status == 410 or (status == 400 and any(c in lowered for c in _RESET_CODES)):
            raise DeltaReset(said)
        if lowered == _NOT_REST:
            raise FatalError(f"{said}; the mailbox is not in Exchange Online (on-premises, "
                             "inactive or without a licence): leave it out of mailboxes")
        if status in (401, 403):
            raise FatalError(f"{said}; {hint}")
        if status == 404:
            raise FatalError(f"{said}; is the mailbox address right, and does it have an "
                             "Exchange Online mailbox in this tenant?")
        if status >= 500:
            raise RetriableError(said)
        raise FatalError(said)
