"""The ``gmail`` connector: each Google Workspace (or Gmail) mailbox's address book and
message headers, each mailbox a part of the run (see :mod:`hub.sources.mail`).

One mailbox's cursor is ``{"contacts": ..., "other_contacts": ..., "messages": ...}``
(:mod:`hub_gmail.contacts`, :mod:`hub_gmail.messages`); its address book is read first,
so its messages link to the contacts it names. ``mailboxes = "all"`` lists the domain's
active users with the Admin SDK Directory API, as ``admin``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from googleapiclient.errors import HttpError

from hub.connectors import Batch, ConnectorContext, ConnectorSettings, FatalError
from hub.sources.mail import MailConnector, MailPolicy
from hub_gmail.client import GoogleClient, HttpFactory, production_http
from hub_gmail.contacts import CONNECTIONS, OTHER_CONTACTS, ContactReader
from hub_gmail.messages import MessageReader
from hub_gmail.settings import DIRECTORY, GmailSettings, scopes


class GmailConnector(MailConnector):
    """Google Workspace mailboxes: People API contacts and Gmail message headers."""

    kind: ClassVar[str] = "gmail"
    Settings: ClassVar[type[ConnectorSettings]] = GmailSettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext,
                 *, http_factory: HttpFactory | None = None) -> None:
        super().__init__(name, settings, context)
        self._http_factory = http_factory

    @property
    def gmail(self) -> GmailSettings:
        assert isinstance(self.settings, GmailSettings)
        return self.settings

    def http_for(self, subject: str, wanted: list[str]) -> Any:
        """The authorised httplib2 object of ``subject`` with ``wanted`` scopes (tests give
        ``http_factory`` to read a fake instead)."""
        if self._http_factory is not None:
            return self._http_factory(subject, wanted)
        return production_http(self.gmail, self.context.resolve_secret, subject, wanted)

    def client(self, subject: str, wanted: list[str] | None = None) -> GoogleClient:
        wanted = wanted if wanted is not None else scopes(self.gmail)
        return GoogleClient(self.http_for(subject, wanted), self.context, self.gmail,
                            wanted, label=subject)

    def list_mailboxes(self) -> list[str]:
        admin = self.gmail.admin
        if admin is None or self.gmail.auth != "service_account":
            raise FatalError('mailboxes = "all" needs a service account and admin')
        client = self.client(admin, [DIRECTORY])
        users = client.service("admin", "directory_v1").users()
        found: list[str] = []
        token: str | None = None
        try:
            while True:
                page = client.execute(users.list(
                    customer=self.gmail.customer, maxResults=500, orderBy="email",
                    **({"pageToken": token} if token else {})), "directory users.list")
                found += [str(u["primaryEmail"]).lower() for u in page.get("users") or []
                          if u.get("primaryEmail") and not u.get("suspended")
                          and not u.get("archived")]
                token = page.get("nextPageToken")
                if not token:
                    return found
        except HttpError as exc:
            raise FatalError(f"{admin}: directory users.list: HTTP {exc.status_code} "
                             f"{exc.reason[:200]}") from None

    def sync_mailbox(self, mailbox: str, cursor: dict[str, Any], *, full: bool,
                     policy: MailPolicy) -> Iterator[Batch]:
        client = self.client(mailbox)
        state = dict(cursor)
        settings = self.gmail
        readers: list[tuple[str, Any]] = []
        if settings.contacts:
            readers.append(("contacts", ContactReader(client, mailbox, CONNECTIONS,
                                                      settings.max_delete_ratio)))
        if settings.other_contacts:
            readers.append(("other_contacts", ContactReader(client, mailbox, OTHER_CONTACTS,
                                                            settings.max_delete_ratio)))
        if settings.messages:
            readers.append(("messages", MessageReader(client, mailbox, policy,
                                                      settings.window_days,
                                                      settings.page_size)))
        try:
            for key, reader in readers:
                for batch, after in reader.batches(dict(state.get(key) or {})):
                    state = {**state, key: after}
                    batch.cursor = state
                    yield batch
        except HttpError as exc:
            raise FatalError(f"{mailbox}: Google answered HTTP {exc.status_code} "
                             f"({exc.reason[:200]})") from None

    def check_mailbox(self, mailbox: str) -> str:
        client = self.client(mailbox)
        said: list[str] = []
        try:
            if self.gmail.messages:
                profile = client.execute(client.gmail.users().getProfile(userId="me"),
                                         "gmail users.getProfile")
                total = int(profile.get("messagesTotal") or 0)
                said.append(f"gmail.metadata ok ({total:,} messages)")
            if self.gmail.contacts:
                client.execute(CONNECTIONS.request(client), CONNECTIONS.what)
                said.append("contacts ok")
            if self.gmail.other_contacts:
                client.execute(OTHER_CONTACTS.request(client), OTHER_CONTACTS.what)
                said.append("other contacts ok")
        except HttpError as exc:
            raise FatalError(f"Google answered HTTP {exc.status_code} "
                             f"({exc.reason[:200]})") from None
        return ", ".join(said) or "nothing to read"
