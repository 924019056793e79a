"""One mailbox's address book (People API ``connections``, and ``otherContacts``).

The first read is a **snapshot** (``requestSyncToken=true``): every batch carries
``scope`` (``contacts:<mailbox>``) and a new ``token``, the last one a
:class:`~hub.connectors.SnapshotEnd`, so people the address book no longer has are
deleted (within ``max_delete_ratio``). Later runs pass the ``nextSyncToken`` kept in the
cursor and read only the changes: a person with ``metadata.deleted`` becomes a tombstone.
Those batches carry the same scope and the last snapshot's token, so the next snapshot
sees them. An expired sync token (HTTP 400, ``EXPIRED_SYNC_TOKEN``, seven days after it
was issued) or ``--full`` reads a new snapshot. A run cut short resumes at the page it
reached, under the same token. The external id is ``<mailbox>/<resourceName>``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from googleapiclient.errors import HttpError
from pydantic import ValidationError

from hub.connectors import Batch, Rejected, SnapshotEnd
from hub.records import Observation, first_error
from hub_gmail.client import GoogleClient, reasons

PERSON_FIELDS = "names,emailAddresses,phoneNumbers,organizations,addresses,urls,metadata"
OTHER_FIELDS = "names,emailAddresses,phoneNumbers"
PAGE_SIZE = 1000


@dataclass(frozen=True)
class Book:
    """One list of people: its cursor key, scope prefix and People API call."""

    key: str  # in the mailbox cursor
    scope: str  # prefix of the snapshot scope
    what: str  # names the call in messages

    def request(self, client: GoogleClient, **params: Any) -> Any:
        if self.key == "contacts":
            return client.people.people().connections().list(
                resourceName="people/me", personFields=PERSON_FIELDS, pageSize=PAGE_SIZE,
                requestSyncToken=True, **params)
        return client.people.otherContacts().list(
            readMask=OTHER_FIELDS, pageSize=PAGE_SIZE, requestSyncToken=True, **params)

    def items(self, page: dict[str, Any]) -> list[dict[str, Any]]:
        return list(page.get("connections" if self.key == "contacts" else "otherContacts")
                    or [])


CONNECTIONS = Book("contacts", "contacts", "people connections.list")
OTHER_CONTACTS = Book("other_contacts", "other-contacts", "people otherContacts.list")


class ContactReader:
    """The batches of one address book of one mailbox, from its cursor."""

    def __init__(self, client: GoogleClient, mailbox: str, book: Book,
                 max_delete_ratio: float) -> None:
        self.client = client
        self.mailbox = mailbox
        self.book = book
        self.scope = f"{book.scope}:{mailbox}"
        self.max_delete_ratio = max_delete_ratio
        self.context = client.context

    def batches(self, cursor: dict[str, Any]) -> Iterator[tuple[Batch, dict[str, Any]]]:
        """Each batch with this book's cursor after it."""
        if cursor.get("sync_token") and cursor.get("token"):
            try:
                yield from self._read(cursor, snapshot=False)
                return
            except HttpError as exc:
                if int(exc.status_code) != 400 or "EXPIRED_SYNC_TOKEN" not in reasons(exc):
                    raise
                self.context.logger.info("mailbox %s: %s sync token expired; reading the "
                                         "whole list again", self.mailbox, self.book.key)
            cursor = {}
        snapshot = cursor.get("snapshot") or {"token": uuid.uuid4().hex, "page_token": None}
        yield from self._read(snapshot, snapshot=True)

    def _read(self, state: dict[str, Any], *, snapshot: bool
              ) -> Iterator[tuple[Batch, dict[str, Any]]]:
        token = str(state["token"])
        page_token = state.get("page_token")
        while True:
            params: dict[str, Any] = {} if snapshot else {"syncToken": state["sync_token"]}
            if page_token:
                params["pageToken"] = page_token
            page = self.client.execute(self.book.request(self.client, **params), self.book.what)
            batch = Batch(scope=self.scope, token=token)
            observed_at = self.context.clock()
            for person in self.book.items(page):
                self._add(batch, person, observed_at)
            page_token = page.get("nextPageToken")
            if page_token:
                after = {"snapshot": {"token": token, "page_token": page_token}} if snapshot \
                    else {**state, "page_token": page_token}
                yield batch, after
                continue
            if snapshot:
                batch.snapshot_end = SnapshotEnd(self.scope, token, self.max_delete_ratio)
            sync_token = page.get("nextSyncToken") or state.get("sync_token")
            yield batch, {"sync_token": sync_token, "token": token}
            return

    def _add(self, batch: Batch, person: dict[str, Any], observed_at: Any) -> None:
        resource = person.get("resourceName")
        if not isinstance(resource, str) or not resource:
            batch.rejected.append(Rejected("person without a resourceName",
                                           payload=json.dumps(person, sort_keys=True)))
            return
        external_id = f"{self.mailbox}/{resource}"
        if (person.get("metadata") or {}).get("deleted"):
            batch.observations.append(Observation(
                kind="person", external_id=external_id, deleted=True, observed_at=observed_at))
            return
        try:
            batch.observations.append(Observation.model_validate({
                "kind": "person", "external_id": external_id, "observed_at": observed_at,
                "raw": {"resource_name": resource, "etag": person.get("etag")},
                "person": person_data(person)}))
        except (ValidationError, ValueError, TypeError, AttributeError) as exc:
            reason = first_error(exc) if isinstance(exc, ValidationError) else str(exc)
            batch.rejected.append(Rejected(f"person not readable: {reason}"[:500],
                                           payload=json.dumps(person, sort_keys=True),
                                           external_id=external_id))


def _primary(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    for item in items:
        if (item.get("metadata") or {}).get("primary"):
            return item
    return items[0] if items else None


def _values(items: list[dict[str, Any]], key: str = "value") -> list[dict[str, Any]]:
    found = []
    for item in items:
        value = item.get(key) or item.get("value")
        if value:
            found.append({"value": str(value),
                          "label": item.get("type") or item.get("formattedType") or None,
                          "primary": bool((item.get("metadata") or {}).get("primary"))})
    return found


def person_data(person: dict[str, Any]) -> dict[str, Any]:
    """A People API ``Person`` as :class:`~hub.records.PersonData` fields."""
    data: dict[str, Any] = {}
    name = _primary(person.get("names") or [])
    if name:
        data.update(given_name=name.get("givenName"), family_name=name.get("familyName"),
                    full_name=name.get("displayName") or name.get("unstructuredName"))
    data["emails"] = _values(person.get("emailAddresses") or [])
    data["phones"] = _values(person.get("phoneNumbers") or [])
    organization = _primary(person.get("organizations") or [])
    websites = [str(u["value"]) for u in person.get("urls") or [] if u.get("value")]
    if organization:
        data["title"] = organization.get("title")
        if organization.get("name") or organization.get("domain"):
            data["company"] = {"name": organization.get("name"),
                               "domain": organization.get("domain"),
                               "website": websites[0] if websites else None}
    address = _primary(person.get("addresses") or [])
    if address:
        data["address"] = {
            "street": address.get("streetAddress"), "city": address.get("city"),
            "postcode": address.get("postalCode"), "region": address.get("region"),
            "country": address.get("countryCode") or address.get("country")}
    if websites:
        data["custom"] = {"urls": websites}
    return data
