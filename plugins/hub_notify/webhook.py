"""``sink = "webhook"``: the event as JSON, POSTed and signed with HMAC-SHA256.

The receiver checks ``X-Crmhub-Signature-256: sha256=<hex>`` where the hex digest is
HMAC-SHA256 of ``<X-Crmhub-Timestamp> + "." + <raw body>`` with the shared secret, and
rejects timestamps too far from its clock (replays). ``X-Crmhub-Delivery`` is the event id:
delivery is at least once, so the receiver deduplicates on it.

``url`` and each ``headers`` value may be a secret reference (``{ env = "HOOK_URL" }``), for
URLs that carry a token and for ``Authorization`` headers; the core masks their values in
logs and in the errors ``crmhub status`` shows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import Field

from hub.routing.delivery import (
    PermanentDeliveryError,
    Sink,
    SinkSettings,
    TextOrSecret,
    UrlOrSecret,
)
from hub.secrets import SecretRef


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Crmhub-Signature-256`` value for this body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


# A receiver that is being redeployed or has its credentials rotated answers these for a
# while: retried with backoff like 5xx. Any other 4xx refuses the event for good.
RETRIED_4XX = frozenset({401, 403, 404, 408, 429})


class WebhookSink(Sink):
    name = "webhook"

    class Settings(SinkSettings):
        url: UrlOrSecret
        secret: SecretRef
        timeout: float = Field(default=10.0, gt=0, le=120)
        headers: dict[str, TextOrSecret] = Field(default_factory=dict)

    settings: Settings
    clock: Callable[[], float] = staticmethod(time.time)

    def _value(self, value: str | SecretRef) -> str:
        return self.context.resolve_secret(value) if isinstance(value, SecretRef) else value

    def send(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, ensure_ascii=False, sort_keys=True,
                          separators=(",", ":"), default=str).encode()
        url = self._value(self.settings.url)
        if not url.startswith(("http://", "https://")):  # the message must not quote it
            raise ValueError("the webhook url secret is not an http:// or https:// URL")
        timestamp = str(int(self.clock()))
        secret = self.context.resolve_secret(self.settings.secret)
        headers = {**{k: self._value(v) for k, v in self.settings.headers.items()},
                   "Content-Type": "application/json",
                   "X-Crmhub-Event": str(event["type"]),
                   "X-Crmhub-Delivery": str(event["id"]),
                   "X-Crmhub-Timestamp": timestamp,
                   "X-Crmhub-Signature-256": sign(secret, timestamp, body)}
        response = self.context.http.post(url, data=body, headers=headers,
                                          timeout=self.settings.timeout,
                                          raise_for_status=False)
        if 200 <= response.status_code < 300:
            return
        message = f"HTTP {response.status_code} from the webhook"
        if 400 <= response.status_code < 500 and response.status_code not in RETRIED_4XX:
            raise PermanentDeliveryError(message)  # the receiver refuses it: retrying won't help
        raise RuntimeError(message)
