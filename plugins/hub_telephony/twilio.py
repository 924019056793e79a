"""The ``twilio`` kind: calls from Twilio's Calls API, upserted by call ``sid``.

``GET https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Calls.json`` with HTTP Basic
(the account SID and auth token, or an API key SID and secret, as secret references),
``PageSize`` records a page, ``next_page_uri`` followed as given. Twilio lists the newest
calls first and filters by day (``StartTime>=YYYY-MM-DD``), so the watermark is the tie-safe
cursor on ``start_time`` (RFC 2822 times) moved at the end of a run, and the calls of the
watermark's day that were read already are skipped by their ``sid``. A call still queued,
ringing or in progress is left for a later run, and the watermark does not pass it, so
its final state is read once it has one. Twilio has no deletion feed: calls are never
deleted here.

``completed`` is an answered call, ``no-answer`` a missed one, ``busy`` busy, ``failed`` and
``canceled`` failed; ``duration`` (seconds, a string) is the call's length. An inbound call's
outside party is ``from``, an outbound one's (``outbound-api``, ``outbound-dial``) ``to``;
list your Twilio numbers in ``[hub] own_numbers`` so they never become contacts.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal

from pydantic import Field
from requests.auth import AuthBase

from hub.connectors import ConnectorSettings
from hub.records import Observation
from hub.secrets import SecretRef
from hub.sources import Basic, NextLink, RestConnector, RestSettings
from hub_telephony.calls import call_observation

FINAL = {"completed": "answered", "no-answer": "missed", "busy": "busy", "failed": "failed",
         "canceled": "failed"}


class TwilioSettings(RestSettings):
    base_url: str = "https://api.twilio.com"
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="AC...")
    username: SecretRef | None = Field(
        default=None, description="an API key SID (SK...); default: the account SID")
    password: SecretRef = Field(description="the auth token, or the API key's secret")
    page_size: int = Field(default=100, ge=1, le=1000)
    unknown_callers: Literal["lead", "ignore"] = "lead"


class TwilioConnector(RestConnector):
    """Twilio calls, changed since the last run."""

    kind: ClassVar[str] = "twilio"
    Settings: ClassVar[type[ConnectorSettings]] = TwilioSettings
    channels: ClassVar[frozenset[str]] = frozenset({"call"})
    records_path = "calls"
    paginator = NextLink(path="next_page_uri", size_param="PageSize")
    id_key = "sid"
    record_kind = "interaction"
    replication_key = "start_time"
    since_param = "StartTime>="
    ordered = False  # newest first

    @property
    def twilio(self) -> TwilioSettings:
        return self.settings  # type: ignore[return-value]

    def url(self, path: str | None = None) -> str:
        return super().url(path or f"/2010-04-01/Accounts/{self.twilio.account_sid}/Calls.json")

    def authenticator(self) -> AuthBase:
        settings = self.twilio
        user = self.secret(settings.username) if settings.username else settings.account_sid
        return Basic(user, self.secret(settings.password))

    def since_value(self, since: Any) -> Any:
        return _time(str(since)).date().isoformat()  # Twilio filters by day

    def include(self, record: dict[str, Any]) -> bool:
        return str(record.get("status")) in FINAL

    def observation(self, record: dict[str, Any]) -> Observation:
        inbound = str(record.get("direction")) == "inbound"
        duration = str(record.get("duration") or "").strip()
        return call_observation(
            call_id=str(record["sid"]), started_at=_time(str(record["start_time"])),
            direction="inbound" if inbound else "outbound",
            external=record.get("from") if inbound else record.get("to"), line=None,
            agent=None, duration_s=int(duration) if duration.isdigit() else None,
            status=FINAL[str(record["status"])], observed_at=self.context.clock(),
            create_contacts=self.twilio.unknown_callers == "lead", raw=record)


def _time(value: str) -> datetime:
    """An RFC 2822 time as Twilio writes it (``Tue, 31 Aug 2010 20:36:29 +0000``)."""
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"start_time {value!r} is not an RFC 2822 time") from None
