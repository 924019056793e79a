"""Push connectors: requests checked at the door, stored in the inbox, drained as batches.

A :class:`WebhookConnector` receives ``POST /webhooks/<connector name>`` through the
daemon's listener (``hub.web``). For each request the listener asks the connector to
:meth:`~WebhookConnector.verify` it (the signature, over the raw bytes received, before
any parsing), and for the provider's :meth:`~WebhookConnector.event_id`; then it commits
the request to the inbox and answers 2xx. Later the daemon runs the connector like any
other: :meth:`~WebhookConnector.sync` drains the inbox in batches, each request turned
into observations by :meth:`~WebhookConnector.handle_webhook`, with the inbox id as the
cursor. A request the connector cannot read becomes a quarantined record with the reason;
the rest of the batch goes on.

crmhub's own signature scheme, which every generic webhook kind uses::

    X-Crmhub-Timestamp: <unix seconds>
    X-Crmhub-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

checked with :func:`hmac.compare_digest`, the timestamp within ``window_s`` (300 s) of now,
so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, cast

from pydantic import Field, ValidationError

from hub.connectors import (
    Batch,
    CheckResult,
    Connector,
    ConnectorSettings,
    FatalError,
    Rejected,
)
from hub.records import Observation, first_error
from hub.secrets import SecretRef

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookConnector",
    "WebhookRejected",
    "WebhookSettings",
    "crmhub_signature",
    "verify_crmhub_signature",
]

TIMESTAMP_HEADER = "X-Crmhub-Timestamp"
SIGNATURE_HEADER = "X-Crmhub-Signature"
_PAYLOAD_LIMIT = 64 * 1024


class WebhookRejected(Exception):
    """A request refused at the door: ``status`` (4xx) and the reason sent back as JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def crmhub_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Crmhub-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_crmhub_signature(secret: str, headers: Mapping[str, str], body: bytes,
                            now: datetime, window_s: float = 300.0) -> None:
    """Raise :class:`WebhookRejected` (401) unless the request is signed with ``secret``
    within ``window_s`` of ``now``. Header names are matched without case."""
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "").strip()
    signature = lower.get(SIGNATURE_HEADER.lower(), "").strip()
    if not timestamp or not signature:
        raise WebhookRejected(401, f"unsigned: send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    if not timestamp.isdigit():
        raise WebhookRejected(401, f"{TIMESTAMP_HEADER} is not a Unix time in seconds")
    if abs(now.timestamp() - int(timestamp)) > window_s:
        raise WebhookRejected(401, f"{TIMESTAMP_HEADER} is more than {window_s:.0f} s away "
                                   "from the server's time (a replay, or a clock off)")
    expected = crmhub_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise WebhookRejected(401, "the signature does not match the body")


class WebhookSettings(ConnectorSettings):
    """What every push connector's settings have."""

    secret: SecretRef = Field(description="the shared secret requests are signed with")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    window_s: float = Field(default=300.0, ge=10.0, le=86400.0,
                            description="how far a request's timestamp may be from now")
    batch_size: int = Field(default=500, ge=1, le=10_000)


class WebhookConnector(Connector):
    """Base of push connectors: verify, name the event, store; then drain into batches."""

    Settings: ClassVar[type[ConnectorSettings]] = WebhookSettings
    #: The content types a request may have (the listener answers 415 otherwise).
    content_types: ClassVar[tuple[str, ...]] = ("application/json",)

    @property
    def options(self) -> WebhookSettings:
        return cast(WebhookSettings, self.settings)

    @property
    def can_reread(self) -> bool:
        return False  # the inbox is drained: a request is processed once

    # -- at the door (the listener, before the 2xx) --------------------------------------

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Raise :class:`WebhookRejected` unless the request is genuine (default: crmhub's
        signature scheme with ``settings.secret``)."""
        secret = self.context.resolve_secret(self.options.secret)
        verify_crmhub_signature(secret, headers, body, self.context.clock(),
                                self.options.window_s)

    def event_id(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """The provider's id of this delivery, so a redelivery is stored once (``None``:
        every request is new)."""
        return None

    def handshake(self, query: Mapping[str, str]) -> tuple[int, str]:
        """The answer to ``GET /webhooks/<name>`` (a subscription handshake)."""
        return 405, "this webhook takes POST requests"

    # -- draining the inbox (the daemon's worker) ----------------------------------------

    def handle_webhook(self, body: bytes, headers: dict[str, str]) -> list[Observation]:
        """The observations of one stored request; raise ``ValueError`` (a validation
        error is one) to quarantine it with the reason; any other exception fails the run,
        which is retried later from the same request."""
        raise NotImplementedError(f"{type(self).__name__} must define handle_webhook")

    def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        inbox = self.context.inbox
        if inbox is None:
            raise FatalError("no webhook inbox: this connector runs under the daemon or "
                             "`crmhub sync`, which open it")
        after = int((cursor or {}).get("inbox_id", 0))
        while True:
            items = inbox.pending(self.name, after, self.options.batch_size)
            if not items:
                return
            batch = Batch(cursor={"inbox_id": items[-1].id})
            for item in items:
                try:
                    batch.observations += self.handle_webhook(item.body, item.headers)
                except (ValueError, KeyError, TypeError) as exc:
                    # One bad request: quarantined, the rest go on. Anything else (the
                    # source's API away) fails the run, retried from the same cursor.
                    batch.rejected.append(self._reject(item.id, item.event_id, item.body, exc))
            upto = items[-1].id
            batch.on_commit = partial(inbox.done, self.name, upto)
            yield batch
            after = upto

    def _reject(self, inbox_id: int, event_id: str | None, body: bytes,
                exc: Exception) -> Rejected:
        reason = first_error(exc) if isinstance(exc, ValidationError) else \
            str(exc) or type(exc).__name__
        return Rejected(reason=f"cannot read the request: {reason}",
                        payload=body[:_PAYLOAD_LIMIT].decode("utf-8", "backslashreplace"),
                        external_id=event_id, location=f"{self.name}:inbox#{inbox_id}")

    def check(self) -> CheckResult:
        try:
            self.context.resolve_secret(self.options.secret)
        except Exception as exc:
            return CheckResult(ok=False, message=f"the secret cannot be read: {exc}")
        return CheckResult(ok=True, message="receives POST /webhooks/" + self.name)


def body_digest(body: bytes) -> str:
    """The event id of a provider that sends none: the same body delivered twice is one
    event, a changed body (a call's end after its start) another."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def json_body(body: bytes) -> Any:
    """The decoded JSON of a request body; ``ValueError`` naming what is wrong."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
