"""A paginated JSON stream as a connector: declarations and one mapping function.

A :class:`RestConnector` subclass declares where the records are and how to page through
them; the base class owns the requests (through the shared :class:`~hub.http.HttpClient`:
timeouts, retries, redaction), paging, the cursor, deletions and error mapping::

    class Settings(RestSettings):
        token: SecretRef

    class AcmeConnector(RestConnector):
        kind = "acme"
        Settings = Settings
        path = "/v1/contacts"
        records_path = "data"
        paginator = CursorToken(token_path="meta.next_cursor")
        replication_key = "updated_at"          # with since_param: incremental
        since_param = "updated_since"
        deleted_key = "archived"

        def authenticator(self) -> AuthBase:
            return BearerToken(self.secret(self.options.token))

        def person(self, record: dict[str, Any]) -> dict[str, Any]:
            return {"full_name": record["name"], "emails": [{"value": record["email"]}]}

**Incremental** (``replication_key`` set): each request carries ``since_param`` = the
cursor's value, inclusive, and records already read at that instant are skipped (see
:class:`~hub.sources.cursor.ReplicationCursor`). With ``ordered = True`` (the source sorts
by the replication key, oldest first) the cursor moves after every page; otherwise it
moves at the end of the run, and a run cut short resumes at the page it reached.

**Snapshot** (no replication key): every run reads everything, tagged with one token, and
its last page ends the snapshot, so what the source no longer lists is deleted (within
``max_delete_ratio``). A run cut short resumes at its page under the same token.

**Deletions**: a record whose ``deleted_key`` is true (or for which :meth:`is_deleted`
says so) becomes a tombstone, never a live record and never skipped.

**Errors**: 401/403 -> :class:`~hub.http.CredentialsRejectedError`; 404 on the list ->
:class:`~hub.connectors.FatalError` (a wrong ``base_url`` or ``path``); 400/422 ->
``FatalError`` with the body's own message; 429/5xx after the retries ->
:class:`~hub.http.TransientHttpError` (retried by the scheduler); an answer that is not
JSON -> :class:`~hub.connectors.RetriableError`. :meth:`fetch` reads one record, and a 404
there is :class:`RecordGone`. A record the mapping cannot read (a missing key, a value
the Observation model refuses) is quarantined with the reason; the page goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, cast

import requests
from pydantic import Field, ValidationError
from requests.auth import AuthBase

from hub.connectors import (
    Batch,
    CheckResult,
    Connector,
    ConnectorError,
    ConnectorSettings,
    FatalError,
    Rejected,
    RetriableError,
    SnapshotEnd,
)
from hub.http import CredentialsRejectedError, redact_url
from hub.records import Observation, first_error
from hub.sources.cursor import ReplicationCursor, ordering
from hub.sources.paginators import Page, PageNumber, Paginator
from hub.sources.paths import get_path

__all__ = ["RecordGone", "RestConnector", "RestSettings", "error_message"]

_PAYLOAD_LIMIT = 16 * 1024


class RecordGone(ConnectorError):
    """:meth:`RestConnector.fetch` got a 404: the record no longer exists at the source."""


class RestSettings(ConnectorSettings):
    """What every REST connector's settings have; subclass it to add credentials."""

    base_url: str = Field(description="the API's root, e.g. https://api.example.com")
    page_size: int = Field(default=100, ge=1, le=10_000)
    max_delete_ratio: float = Field(default=0.2, ge=0.0, le=1.0,
                                    description="snapshot streams: the most a run may delete")


def error_message(response: requests.Response) -> str:
    """The message an API put in an error body (``message``, ``error_description``,
    ``error``, ``detail``, ``errors[0]``), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip() or (response.reason or "")
    if isinstance(body, dict):
        for key in ("message", "error_description", "detail", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            return str(first.get("message", first)) if isinstance(first, dict) else str(first)
    return json.dumps(body)[:300]


class RestConnector(Connector):
    """A connector over one paginated JSON endpoint. Declare, then map each record."""

    Settings: ClassVar[type[ConnectorSettings]] = RestSettings
    #: The endpoint, joined to ``settings.base_url``.
    path: ClassVar[str] = ""
    #: Where the list of records is in each answer (``""``: the answer is the list).
    records_path: ClassVar[str] = "data"
    paginator: ClassVar[Paginator] = PageNumber()
    #: What each record is.
    record_kind: ClassVar[Literal["person", "company", "interaction"]] = "person"
    #: The record's id at the source.
    id_key: ClassVar[str] = "id"
    #: The field that grows when a record changes (``None``: snapshot stream).
    replication_key: ClassVar[str | None] = None
    #: The query parameter that asks for records changed since a value (inclusive).
    since_param: ClassVar[str | None] = None
    #: Whether the source returns records oldest first by ``replication_key``.
    ordered: ClassVar[bool] = True
    #: A record whose field at this path is true is a deletion.
    deleted_key: ClassVar[str | None] = None
    #: Query parameters sent with every request.
    params: ClassVar[dict[str, Any]] = {}
    #: Keep each record as the observation's ``raw``: stored with the source record for
    #: provenance (the quarantine shows it for a rejected record), purged after
    #: ``raw_retention_days``.
    keep_raw: ClassVar[bool] = True

    @property
    def options(self) -> RestSettings:
        return cast(RestSettings, self.settings)

    # -- what a subclass provides -------------------------------------------------------

    def authenticator(self) -> AuthBase | None:
        """The authenticator of every request (see :mod:`hub.sources.auth`)."""
        return None

    def person(self, record: dict[str, Any]) -> Any:
        """A person record's payload: a :class:`~hub.records.PersonData` or its dict."""
        raise NotImplementedError(f"{type(self).__name__} must define person(record)")

    def company(self, record: dict[str, Any]) -> Any:
        """A company record's payload (``record_kind = "company"``)."""
        raise NotImplementedError(f"{type(self).__name__} must define company(record)")

    def interaction(self, record: dict[str, Any]) -> Any:
        """An interaction record's payload (``record_kind = "interaction"``)."""
        raise NotImplementedError(f"{type(self).__name__} must define interaction(record)")

    def include(self, record: dict[str, Any]) -> bool:
        """Whether to read the record now; one left out (a call still in progress) is read
        again by a later run: the cursor does not pass it."""
        return True

    def since_value(self, since: Any) -> Any:
        """``since_param``'s value for the cursor's ``since`` (by default, as read)."""
        return since

    def is_deleted(self, record: dict[str, Any]) -> bool:
        """Whether the record is a deletion (by default: ``deleted_key`` is true)."""
        return bool(self.deleted_key and get_path(record, self.deleted_key))

    def external_id(self, record: dict[str, Any]) -> str:
        """The record's id at the source (``id_key``); ``KeyError`` when it has none."""
        value = get_path(record, self.id_key)
        if value is None or value == "":
            raise KeyError(self.id_key)
        return str(value)

    def observed_at(self, record: dict[str, Any]) -> datetime:
        """When the source last changed the record: its replication value when that is
        a time, else now."""
        if self.replication_key:
            kind, value = ordering(get_path(record, self.replication_key))
            if kind == 1:
                return cast(datetime, value)
        return self.context.clock()

    def observation(self, record: dict[str, Any]) -> Observation:
        """The observation of one live record; override for full control."""
        kind = self.record_kind
        payload = getattr(self, kind)(record)
        return Observation.model_validate({
            "kind": kind, "external_id": self.external_id(record),
            "observed_at": self.observed_at(record), kind: payload,
            "raw": record if self.keep_raw else {}})

    def secret(self, reference: Any) -> str:
        """A secret's value from its reference in the settings."""
        return self.context.resolve_secret(reference)

    # -- the stream ---------------------------------------------------------------------

    def url(self, path: str | None = None) -> str:
        return self.options.base_url.rstrip("/") + "/" + (path or self.path).lstrip("/")

    def get(self, page: Page, extra: dict[str, Any] | None = None) -> requests.Response:
        """One GET of the stream, errors mapped (see the module's doc)."""
        url = self.url() if page.url is None else page.url if "://" in page.url else \
            self.options.base_url.rstrip("/") + "/" + page.url.lstrip("/")
        params = None if page.url else {**self.params, **(extra or {}), **page.params}
        response = self.context.http.request("GET", url, params=params,
                                             auth=self.authenticator(), raise_for_status=False)
        if response.status_code >= 400:
            raise self._error(response, url)
        return response

    def fetch(self, path: str) -> dict[str, Any]:
        """One record by its path (``/contacts/42``); :class:`RecordGone` on a 404."""
        url = self.url(path)
        response = self.context.http.request("GET", url, auth=self.authenticator(),
                                             raise_for_status=False)
        if response.status_code == 404:
            raise RecordGone(f"{redact_url(url)}: the record is gone (HTTP 404)")
        if response.status_code >= 400:
            raise self._error(response, url)
        body = self._json(response, url)
        if not isinstance(body, dict):
            raise FatalError(f"GET {redact_url(url)}: the answer is not a JSON object")
        return body

    def _error(self, response: requests.Response, url: str) -> ConnectorError:
        status, where = response.status_code, f"GET {redact_url(url)}"
        message = error_message(response)
        if status == 404:
            return FatalError(f"{where}: HTTP 404, no such endpoint: check base_url "
                              f"({self.options.base_url}) and the path")
        if status in (400, 422):
            return FatalError(f"{where}: the API refused the request (HTTP {status}): "
                              f"{message}")
        if status in (401, 403):
            return CredentialsRejectedError(f"credentials rejected: HTTP {status} from "
                                            f"{where}: {message}", url=redact_url(url),
                                            status=status)
        return FatalError(f"{where}: HTTP {status}: {message}")

    @staticmethod
    def _json(response: requests.Response, url: str) -> Any:
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise RetriableError(f"GET {redact_url(url)}: the answer is not JSON ({kind}); "
                                 "a maintenance page or a proxy?") from None

    def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        state = {} if full else dict(cursor or {})
        incremental = self.replication_key is not None
        start = ReplicationCursor.from_json(state) if incremental else ReplicationCursor()
        run = state.get("run") if isinstance(state.get("run"), dict) else None
        size = self.options.page_size
        page = Page.from_json(run["page"]) if run else self.paginator.first(size)
        high = ReplicationCursor.from_json(run.get("high")) if run else start.copy()
        token = str(run.get("token")) if run else self._token()
        since = ({self.since_param: self.since_value(start.since)}
                 if incremental and self.since_param and start.since is not None else {})
        while True:
            response = self.get(page, since)
            body = self._json(response, page.url or self.url())
            records = get_path(body, self.records_path)
            if not isinstance(records, list):
                raise FatalError(f"GET {redact_url(page.url or self.url())}: no list of records"
                                 f" at {self.records_path or 'the top level'!r} of the answer")
            batch = self._page(records, start, high)
            following = self.paginator.next(page, response, body, records, size)
            if following is None:
                batch.cursor = high.settled().to_json() if incremental else {}
            elif incremental and self.ordered:
                batch.cursor = high.settled().to_json()
            else:
                batch.cursor = {**start.to_json(), "run": {
                    "page": following.to_json(), "token": token, "high": high.to_json()}}
            if not incremental:
                batch.scope, batch.token = self.kind, token
                if following is None:
                    batch.snapshot_end = SnapshotEnd(self.kind, token,
                                                     self.options.max_delete_ratio)
            yield batch
            if following is None:
                return
            page = following

    def _token(self) -> str:
        return self.context.clock().astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")

    def _page(self, records: list[Any], start: ReplicationCursor,
              high: ReplicationCursor) -> Batch:
        batch = Batch()
        for record in records:
            try:
                if not isinstance(record, dict):
                    raise ValueError(f"a record is a JSON object, not {type(record).__name__}")
                external_id = self.external_id(record)
                value = get_path(record, self.replication_key) if self.replication_key \
                    else None
                if start.seen(value, external_id):
                    continue  # read by an earlier run: the inclusive filter's tie
                if not self.include(record):
                    high.hold(value)
                    continue
                high.advance(value, external_id)
                if self.is_deleted(record):
                    batch.observations.append(Observation(
                        kind=self.record_kind, external_id=external_id,
                        observed_at=self.observed_at(record), deleted=True))
                else:
                    batch.observations.append(self.observation(record))
            except (KeyError, ValueError, TypeError, ValidationError) as exc:
                batch.rejected.append(self._reject(record, exc))
        return batch

    def _reject(self, record: Any, exc: Exception) -> Rejected:
        if isinstance(exc, ValidationError):
            reason = first_error(exc)
        elif isinstance(exc, KeyError):
            reason = f"the record has no {exc.args[0]!r}"
        else:
            reason = str(exc)
        external_id = None
        if isinstance(record, dict):
            found = get_path(record, self.id_key)
            external_id = None if found is None else str(found)[:512]
        payload = json.dumps(record, ensure_ascii=False, default=str)[:_PAYLOAD_LIMIT]
        return Rejected(reason=f"cannot map the record: {reason}", payload=payload,
                        external_id=external_id, location=f"{self.kind}:{self.path}")

    def check(self) -> CheckResult:
        """One request for the first page: the URL, the credentials and the answer's
        shape."""
        try:
            page = self.paginator.first(self.options.page_size)
            response = self.get(page)
            records = get_path(self._json(response, self.url()), self.records_path)
        except (ConnectorError, requests.RequestException) as exc:
            return CheckResult(ok=False, message=str(exc))
        if not isinstance(records, list):
            return CheckResult(ok=False, message=f"no list of records at "
                               f"{self.records_path or 'the top level'!r} of the answer")
        return CheckResult(ok=True, message=f"{redact_url(self.url())}: reachable, "
                           f"{len(records)} record(s) on the first page")
