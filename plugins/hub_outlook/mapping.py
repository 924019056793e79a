"""Graph's contact and message resources as crmhub reads them.

A contact becomes a ``person`` observation keyed ``{mailbox}/{id}`` (a contact id is unique
within its mailbox); a message becomes a :class:`~hub.sources.mail.MailMessage`, for the
mail policy to turn into an interaction. Anything the mapping cannot read raises
:class:`ValueError` (or ``TypeError``) with the reason, and the item is quarantined.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.records import Observation
from hub.sources.mail import Address, MailMessage

__all__ = ["CONTACT_FIELDS", "MESSAGE_FIELDS", "contact_observation", "mail_message"]

CONTACT_FIELDS = ("displayName,givenName,middleName,surname,emailAddresses,businessPhones,"
                  "homePhones,mobilePhone,companyName,jobTitle,department,businessAddress,"
                  "birthday,categories")
MESSAGE_FIELDS = ("from,toRecipients,ccRecipients,subject,sentDateTime,receivedDateTime,"
                  "internetMessageId,conversationId")


def _text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} is a {type(value).__name__}, not text")
    return value.strip() or None


def _list(item: dict[str, Any], key: str) -> list[Any]:
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{key} is a {type(value).__name__}, not a list")
    return value


def item_id(item: dict[str, Any]) -> str:
    value = item.get("id")
    if not isinstance(value, str) or not value:
        raise ValueError("the item has no id")
    return value


def contact_observation(item: dict[str, Any], mailbox: str, *,
                        observed_at: datetime) -> Observation:
    """The person of one Graph contact (a removed one is for the caller to tombstone)."""
    external_id = f"{mailbox}/{item_id(item)}"
    emails = []
    for entry in _list(item, "emailAddresses"):
        if not isinstance(entry, dict):
            raise TypeError("emailAddresses holds something other than {name, address}")
        address = _text(entry, "address")
        if address:
            emails.append({"value": address})
    phones = [{"value": v, "label": "work"} for v in _list(item, "businessPhones")]
    phones += [{"value": v, "label": "home"} for v in _list(item, "homePhones")]
    if mobile := _text(item, "mobilePhone"):
        phones.append({"value": mobile, "label": "mobile"})
    person: dict[str, Any] = {
        "given_name": _text(item, "givenName"), "family_name": _text(item, "surname"),
        "full_name": _text(item, "displayName"), "title": _text(item, "jobTitle"),
        "emails": emails, "phones": [p for p in phones if p["value"]],
        "tags": [str(c) for c in _list(item, "categories")]}
    if company := _text(item, "companyName"):
        person["company"] = {"name": company}
    if department := _text(item, "department"):
        person["custom"] = {"department": department}
    address = item.get("businessAddress")
    if address is not None:
        if not isinstance(address, dict):
            raise TypeError("businessAddress is not an object")
        place = {"street": _text(address, "street"), "city": _text(address, "city"),
                 "region": _text(address, "state"),
                 "country": _text(address, "countryOrRegion"),
                 "postcode": _text(address, "postalCode")}
        if any(place.values()):
            person["address"] = place
    if birthday := _text(item, "birthday"):
        person["birthday"] = _when(birthday, "birthday").date().isoformat()
    return Observation.model_validate({"kind": "person", "external_id": external_id,
                                       "observed_at": observed_at, "person": person})


def _when(value: str, key: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{key} {value[:60]!r} is not an ISO 8601 date-time") from None
    return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _recipient(value: Any, key: str) -> Address | None:
    """One ``{emailAddress: {name, address}}``; ``None`` without an Internet address (an
    Exchange-internal X.500 address, a recipient with no address)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("emailAddress", {}), dict):
        raise TypeError(f"{key} is not an {{emailAddress: {{name, address}}}} object")
    email = value.get("emailAddress") or {}
    address = _text(email, "address")
    if not address or "@" not in address:
        return None
    return Address(address.lower(), _text(email, "name"))


def _recipients(item: dict[str, Any], key: str) -> list[Address]:
    found = [_recipient(v, key) for v in _list(item, key)]
    return [a for a in found if a is not None]


def mail_message(item: dict[str, Any], mailbox: str, folder: str) -> MailMessage:
    """The headers of one Graph message of ``mailbox``'s ``folder`` (``inbox`` or
    ``sentitems``); the date is when it was sent, else when it was received."""
    key = "sentDateTime" if _text(item, "sentDateTime") else "receivedDateTime"
    sent = _text(item, key)
    if sent is None:
        raise ValueError("the message has neither sentDateTime nor receivedDateTime")
    sender = _recipient(item.get("from"), "from")
    if sender is None and folder == "sentitems":
        sender = Address(mailbox)  # what this mailbox sent
    return MailMessage(
        id=item_id(item), mailbox=mailbox, occurred_at=_when(sent, key),
        sender=sender, to=_recipients(item, "toRecipients"),
        cc=_recipients(item, "ccRecipients"), subject=_text(item, "subject"),
        thread_id=_text(item, "conversationId"),
        message_id=_text(item, "internetMessageId"))
