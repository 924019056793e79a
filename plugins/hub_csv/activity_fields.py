"""The cells of an activity-history row, read into the fields of an interaction.

An activity history (calls, meetings, e-mails logged in a legacy CRM) has one row per
activity. Its columns are found by name, or named by ``mapping`` (column -> target):

* ``external_id`` — the activity's id in the source;
* ``occurred_at`` — when it happened (a date and time; a separate ``time`` column is
  joined to it);
* ``channel`` — ``call``, ``email``, ``meeting``, ``sms``, ``social`` or ``form``, or a
  word for one of them (``Phone call``, ``Appel``, ``Rendez-vous``, ``Text``...);
* ``direction`` — ``inbound``, ``outbound`` or ``internal`` (``Incoming``, ``Sent``...);
* ``duration`` — seconds, ``mm:ss``, ``h:mm:ss`` or ``5 min`` / ``1h 20m`` / ``90s``;
* ``subject``, ``summary`` (notes), ``status`` (``completed``, ``no-answer``...);
* ``participants.email``, ``participants.phone``, ``participants.name`` — who the
  activity was with; a cell may hold several (`` ::: ``, ``;`` or ``,`` between them);
* ``agent.email``, ``agent.phone`` — the team member who made or took it (an e-mail, an
  extension): the sender of an outbound activity, the receiver of an inbound one, which
  is what an SLA counts as the owner working the lead.

Values are read here, not normalised: an e-mail or a phone is passed on as written, and
the core links each participant to the contact with that address or number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser

from hub.records import Channel, Direction
from hub_csv.presets import Columns, fold_header

CHANNELS: tuple[str, ...] = get_args(Channel)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
TARGETS = (
    "external_id", "occurred_at", "time", "channel", "direction", "duration", "subject",
    "summary", "status", "participants.email", "participants.phone", "participants.name",
    "agent.email", "agent.phone",
)
DateOrder = Literal["auto", "dmy", "mdy", "ymd"]

# Header names (folded: lower case, single spaces) each target is found under when there
# is no mapping, first match wins.
COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("id", "activity id", "activity_id", "call id", "event id", "record id"),
    "occurred_at": ("date", "date/time", "datetime", "date time", "timestamp", "start",
                    "start time", "started", "activity date", "call date", "date of activity",
                    "when", "created", "created at", "created date", "sent", "sent at"),
    "time": ("time", "hour"),
    "channel": ("channel", "type", "activity type", "kind", "medium"),
    "direction": ("direction", "call direction", "in/out"),
    "duration": ("duration", "duration (s)", "duration (sec)", "duration (seconds)",
                 "call duration", "duration (min)", "duration (minutes)", "length"),
    "subject": ("subject", "title", "topic"),
    "summary": ("notes", "note", "description", "comments", "comment", "body", "details",
                "summary"),
    "status": ("status", "outcome", "result", "disposition"),
    "participants.email": ("email", "e-mail", "email address", "e-mail address",
                           "contact email", "participants", "attendees", "attendee emails",
                           "with email"),
    "participants.phone": ("phone", "phone number", "number", "contact phone", "telephone",
                           "mobile"),
    "participants.name": ("name", "contact", "contact name", "full name", "with",
                          "participant"),
    "agent.email": ("agent email", "owner email", "user email", "rep email",
                    "sales rep email", "assigned to email", "from email"),
    "agent.phone": ("extension", "agent extension", "agent phone", "user phone"),
}

# Words for a channel or a direction, folded; anything else must be named in the
# connector's ``channels`` / ``directions`` settings.
CHANNEL_WORDS: dict[str, str] = {
    **{name: name for name in CHANNELS},
    "phone": "call", "phone call": "call", "call log": "call", "voice": "call",
    "logged call": "call", "appel": "call", "appel téléphonique": "call", "anruf": "call",
    "llamada": "call", "telefonat": "call",
    "e-mail": "email", "mail": "email", "courriel": "email", "logged email": "email",
    "email sent": "email", "email received": "email",
    "meet": "meeting", "visit": "meeting", "demo": "meeting", "video call": "meeting",
    "rendez-vous": "meeting", "rdv": "meeting", "réunion": "meeting", "termin": "meeting",
    "besprechung": "meeting", "reunión": "meeting", "event": "meeting",
    "text": "sms", "text message": "sms", "whatsapp": "sms", "mms": "sms",
    "linkedin": "social", "linkedin message": "social", "inmail": "social",
    "social message": "social", "web form": "form", "form submission": "form",
}
DIRECTION_WORDS: dict[str, str] = {
    **{name: name for name in DIRECTIONS},
    "in": "inbound", "incoming": "inbound", "received": "inbound", "inbound call": "inbound",
    "entrant": "inbound", "reçu": "inbound", "eingehend": "inbound", "entrante": "inbound",
    "out": "outbound", "outgoing": "outbound", "sent": "outbound", "made": "outbound",
    "outbound call": "outbound", "sortant": "outbound", "envoyé": "outbound",
    "ausgehend": "outbound", "saliente": "outbound",
}

_SPLIT = re.compile(r"\s*(?: ::: |;|,)\s*")
_PHONE_SPLIT = re.compile(r"\s*(?: ::: |;)\s*")
_CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})")
_UNITS = re.compile(r"(\d+(?:[.,]\d+)?)\s*(h|hrs?|hours?|m|mins?|minutes?|s|secs?|seconds?)\b")


def check_target(target: str) -> str:
    """A mapping target, or ``ValueError`` naming the accepted ones."""
    if target.strip() not in TARGETS:
        raise ValueError(f"unknown target {target!r}; use one of: {', '.join(TARGETS)}")
    return target.strip()


def word(value: str, extra: Mapping[str, str], words: Mapping[str, str]) -> str | None:
    """The channel (or direction) a cell names, via the settings' words first."""
    key = fold_header(value)
    return extra.get(key) or words.get(key)


def seconds(value: str, minutes: bool) -> int:
    """A duration in whole seconds; a bare number is seconds (minutes when ``minutes``)."""
    text = value.strip().lower()
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        pass
    else:
        if number < 0:
            raise ValueError(f"{value!r} is a negative duration")
        return round(number * 60 if minutes else number)
    if clock := _CLOCK.fullmatch(text):
        hours, mins, secs = (int(part or 0) for part in clock.groups())
        return hours * 3600 + mins * 60 + secs
    parts = _UNITS.findall(text)
    if parts and not _UNITS.sub("", text).strip():
        scale = {"h": 3600, "m": 60, "s": 1}
        return round(sum(float(n.replace(",", ".")) * scale[unit[0]] for n, unit in parts))
    raise ValueError(
        f"{value!r} is not a duration (seconds, mm:ss, h:mm:ss, or e.g. '5 min', '1h 20m')"
    )


def moment(value: str, order: DateOrder, zone: ZoneInfo) -> datetime:
    """When an activity happened, in UTC; a time without an offset is in ``zone``.

    ISO 8601 is read as such whatever ``order`` says; other dates are read in ``order``
    (``auto``: day first, as most of the world writes them).
    """
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = dateparser.parse(text, dayfirst=order in ("dmy", "auto"),
                                      yearfirst=order == "ymd",
                                      default=datetime.combine(datetime(2000, 1, 1), time()))
        except (ValueError, OverflowError):
            raise ValueError(
                f"{value!r} is not a date and time (read {_order_text(order)}; set "
                "`date_order` if the file writes dates another way)"
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _order_text(order: DateOrder) -> str:
    return {"auto": "ISO 8601 or day first", "dmy": "day first", "mdy": "month first",
            "ymd": "year first"}[order]


def values(cell: str, phones: bool = False) -> list[str]:
    """The several e-mails, phones or names of one cell."""
    return [part for part in (_PHONE_SPLIT if phones else _SPLIT).split(cell.strip()) if part]


def find_columns(header: Sequence[str]) -> dict[str, int]:
    """Each target's column in ``header`` by the usual names (no mapping)."""
    columns = Columns(header)
    found: dict[str, int] = {}
    for target, candidates in COLUMNS.items():
        for candidate in candidates:
            at = columns.find(candidate)
            if at is not None and at not in found.values():
                found[target] = at
                break
    return found
