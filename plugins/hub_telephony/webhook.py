"""The ``call_webhook`` kind: a cloud PBX POSTs each call, signed with crmhub's scheme.

Body (JSON)::

    {"call_id": "c-1029", "from": "+33 6 12 34 56 78", "to": "+33 1 45 00 00 00",
     "direction": "inbound", "started_at": "2026-03-02T09:15:00+01:00",
     "duration_s": 125, "status": "answered", "agent": "201"}

``direction`` is ``inbound`` or ``outbound``, ``status`` one of ``answered``, ``missed``,
``busy``, ``failed``. The external party is ``from`` for an inbound call and ``to`` for
an outbound one; ``agent`` is the extension or number that took or made it. A call
delivered twice is stored once; a later state of the same ``call_id`` (its end after its
start) updates it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.connectors import ConnectorSettings
from hub.records import Observation
from hub.webhooks import (
    WebhookConnector,
    WebhookRejected,
    WebhookSettings,
    body_digest,
    json_body,
)
from hub_telephony.calls import call_observation


class CallWebhookSettings(WebhookSettings):
    unknown_callers: Literal["lead", "ignore"] = Field(
        default="lead",
        description="a number no contact has: a new lead, or an unlinked call")


class Call(BaseModel):
    """One delivery's body; unknown keys are kept in ``raw`` and otherwise ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    call_id: str = Field(min_length=1, max_length=512)
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    direction: Literal["inbound", "outbound"]
    started_at: datetime
    duration_s: int | None = Field(default=None, ge=0)
    status: Literal["answered", "missed", "busy", "failed"]
    agent: str | None = None

    @field_validator("started_at")
    @classmethod
    def _with_offset(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("started_at needs a UTC offset (ISO 8601, e.g. ...+01:00 or Z)")
        return value

    @field_validator("call_id", "agent", "from_", "to", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class CallWebhookConnector(WebhookConnector):
    """Calls POSTed by a cloud PBX."""

    kind: ClassVar[str] = "call_webhook"
    Settings: ClassVar[type[ConnectorSettings]] = CallWebhookSettings
    channels: ClassVar[frozenset[str]] = frozenset({"call"})

    def event_id(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """The body's digest: a redelivery is one event, a call's later state (its end
        after its start, same ``call_id``) another, which updates the call."""
        try:
            json_body(body)
        except ValueError as exc:
            raise WebhookRejected(400, str(exc)) from None
        return body_digest(body)

    def handle_webhook(self, body: bytes, headers: dict[str, str]) -> list[Observation]:
        data = json_body(body)
        call = Call.model_validate(data)
        settings: CallWebhookSettings = self.settings  # type: ignore[assignment]
        inbound = call.direction == "inbound"
        return [call_observation(
            call_id=call.call_id, started_at=call.started_at, direction=call.direction,
            external=call.from_ if inbound else call.to,
            line=call.to if inbound else call.from_, agent=call.agent,
            duration_s=call.duration_s, status=call.status,
            observed_at=self.context.clock(),
            create_contacts=settings.unknown_callers == "lead", raw=data)]
