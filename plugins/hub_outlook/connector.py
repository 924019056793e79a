"""The ``outlook`` connector: each mailbox's contacts and mail through Graph's delta queries.

Per mailbox (see :class:`~hub.sources.mail.MailConnector`), the cursor holds one entry per
contact folder (``contacts``) and per mail folder (``messages``: ``inbox``, ``sentitems``):
``{"delta": url}`` once a round ended, ``{"next": url}`` while it pages. Each page is one
batch whose cursor carries the next page's link, so a run cut short resumes at that page;
Graph may replay an item, and the core's upserts are idempotent.

**Contacts** are read as snapshots: the first read of a folder (and every re-read: a reset
delta link, ``full = True``) tags each batch with the scope ``contacts:{mailbox}/{folder}``
and a new token, and its last page ends the snapshot, so the core deletes the contacts that
were not read again (within ``max_delete_ratio``), never one still there. Between
snapshots, the delta's changes carry the last snapshot's token, and a removed contact
(``@removed``) becomes a tombstone.

**Messages** are read from the window's start (``receivedDateTime ge``, ``window_days``)
and then by delta; each becomes an interaction through the mail policy. A message removed
from a folder is not deleted (a move to another folder looks the same): it is counted in
the run's skips. A reset delta link starts a new windowed round.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import ValidationError

from hub.connectors import (
    Batch,
    ConnectorSettings,
    FatalError,
    Rejected,
    RetriableError,
    SnapshotEnd,
)
from hub.records import Observation, first_error
from hub.sources.mail import MailConnector, MailPolicy
from hub_outlook.graph import USERS_PERMISSION, DeltaReset, GraphClient
from hub_outlook.mapping import (
    CONTACT_FIELDS,
    MESSAGE_FIELDS,
    contact_observation,
    item_id,
    mail_message,
)
from hub_outlook.settings import DEFAULT_FOLDER, OutlookSettings

__all__ = ["MAIL_FOLDERS", "SKIP_REMOVED", "OutlookConnector"]

MAIL_FOLDERS = ("inbox", "sentitems")
SKIP_REMOVED = "message removed from a folder (kept in the history)"
_PAYLOAD_LIMIT = 16 * 1024


def _payload(item: Any) -> str:
    return json.dumps(item, default=str, ensure_ascii=False)[:_PAYLOAD_LIMIT]


def _reason(exc: Exception) -> str:
    return first_error(exc) if isinstance(exc, ValidationError) else str(exc)


class OutlookConnector(MailConnector):
    """Microsoft 365 mailboxes: contacts and the messages of Inbox and Sent Items."""

    kind: ClassVar[str] = "outlook"
    Settings: ClassVar[type[ConnectorSettings]] = OutlookSettings

    _graph: GraphClient | None = None

    @property
    def outlook(self) -> OutlookSettings:
        assert isinstance(self.settings, OutlookSettings)
        return self.settings

    @property
    def graph(self) -> GraphClient:
        """The connector's Graph client: one MSAL application, one token cache."""
        if self._graph is None:
            self._graph = GraphClient(self.outlook, self.context)
        return self._graph

    @staticmethod
    def _user(mailbox: str) -> str:
        return f"/users/{quote(mailbox, safe='@')}"

    # -- mailboxes ------------------------------------------------------------------------

    def list_mailboxes(self) -> list[str]:
        """The ``mail`` of every enabled user of the tenant (permission User.Read.All).
        Shared mailboxes are disabled accounts: name them, or list them as aliases."""
        users = self.graph.pages(
            "/users", params={"$select": "mail,userPrincipalName,accountEnabled",
                              "$filter": "accountEnabled eq true"},
            what="listing the tenant's users", hint=USERS_PERMISSION)
        return [str(u["mail"]).lower() for u in users
                if isinstance(u.get("mail"), str) and u["mail"]]

    def check_mailbox(self, mailbox: str) -> str:
        self.graph.token()
        works: list[str] = []
        missing: list[str] = []
        user = self._user(mailbox)
        probes: list[tuple[str, str, dict[str, str]]] = []
        if self.mail.messages or not self.mail.contacts:
            probes.append(("mail", f"{user}/mailFolders/inbox", {"$select": "totalItemCount"}))
        if self.mail.contacts:
            probes.append(("contacts", f"{user}/contacts", {"$top": "1", "$select": "id"}))
        for label, path, params in probes:
            try:
                body = self.graph.get(path, params=params, what=f"reading {mailbox}'s {label}")
            except FatalError as exc:
                missing.append(str(exc))
                continue
            if label == "mail":
                works.append(f"inbox readable ({body.get('totalItemCount', '?')} messages)")
            else:
                works.append("contacts readable")
        if missing:
            raise FatalError("; ".join([*(f"works: {w}" for w in works), *missing]))
        return ", ".join(works)

    # -- one mailbox ----------------------------------------------------------------------

    def sync_mailbox(self, mailbox: str, cursor: dict[str, Any], *, full: bool,
                     policy: MailPolicy) -> Iterator[Batch]:
        state = copy.deepcopy(cursor)
        if self.mail.contacts:
            for key, path in self._contact_folders(mailbox):
                yield from self._contacts(mailbox, key, path, state, full=full)
        if self.mail.messages:
            for folder in MAIL_FOLDERS:
                yield from self._messages(mailbox, folder, state, policy)

    def _contact_folders(self, mailbox: str) -> list[tuple[str, str]]:
        """``(cursor key, delta path)`` of each contact folder to read."""
        user = self._user(mailbox)
        wanted = self.outlook.contact_folders
        default = (DEFAULT_FOLDER, f"{user}/contacts/delta")
        if wanted != "all" and wanted == [DEFAULT_FOLDER]:
            return [default]
        folders = {str(f["id"]): str(f.get("displayName") or "") for f in self.graph.pages(
            f"{user}/contactFolders", params={"$select": "id,displayName"},
            what=f"listing {mailbox}'s contact folders") if isinstance(f.get("id"), str)}
        chosen: list[tuple[str, str]] = []
        names = None if wanted == "all" else [w.lower() for w in wanted]
        if names is None or DEFAULT_FOLDER in names:
            chosen.append(default)
        for folder_id, name in sorted(folders.items()):
            if names is None or folder_id.lower() in names or name.lower() in names:
                chosen.append((folder_id, f"{user}/contactFolders/{quote(folder_id)}/contacts"
                                          "/delta"))
        if names is not None and len(chosen) < len(names):
            known = ", ".join(sorted(n for n in folders.values() if n)) or "none"
            raise FatalError(f"{mailbox}: some of contact_folders {wanted} are not folders "
                             f"of this mailbox (its folders: {known}; "
                             f"{DEFAULT_FOLDER!r} is the default one)")
        return chosen

    def _contacts(self, mailbox: str, key: str, path: str, state: dict[str, Any], *,
                  full: bool) -> Iterator[Batch]:
        folders: dict[str, Any] = state.setdefault("contacts", {})
        here = dict(folders.get(key) or {})
        scope = f"contacts:{mailbox}/{key}"
        url: str | None = here.get("next") or (None if full else here.get("delta"))
        token = str(here.get("token") or "")
        snapshot = bool(here.get("snapshot")) if "next" in here else False
        params: dict[str, str] | None = None
        if url is None or not token:
            url, params, token, snapshot = path, {"$select": CONTACT_FIELDS}, \
                uuid.uuid4().hex, True
        what = f"reading {mailbox}'s contacts ({key})"

        def reread() -> tuple[str, dict[str, str]]:
            nonlocal token, snapshot  # the folder is read again as a new snapshot
            token, snapshot = uuid.uuid4().hex, True
            return path, {"$select": CONTACT_FIELDS}

        for page in self._pages(url, params, what, reread):
            observations, rejected = self._contact_page(page, mailbox)
            link, done = self._links(page, what)
            folders[key] = {"delta": link, "token": token} if done else \
                {"next": link, "token": token, "snapshot": snapshot}
            end = SnapshotEnd(scope, token, max_delete_ratio=self.mail.max_delete_ratio) \
                if snapshot and done else None
            yield Batch(observations, cursor=copy.deepcopy(state), rejected=rejected,
                        scope=scope, token=token, snapshot_end=end)

    def _contact_page(self, page: dict[str, Any],
                      mailbox: str) -> tuple[list[Observation], list[Rejected]]:
        now = self.context.clock()
        observations: list[Observation] = []
        rejected: list[Rejected] = []
        for item in self._values(page):
            try:
                if "@removed" in item:
                    observations.append(Observation(
                        kind="person", external_id=f"{mailbox}/{item_id(item)}",
                        deleted=True, observed_at=now))
                else:
                    observations.append(contact_observation(item, mailbox, observed_at=now))
            except (ValueError, TypeError, AttributeError) as exc:
                external = f"{mailbox}/{item['id']}" if isinstance(item.get("id"), str) \
                    else None
                rejected.append(Rejected(f"contact: {_reason(exc)}", payload=_payload(item),
                                         external_id=external))
        return observations, rejected

    def _messages(self, mailbox: str, folder: str, state: dict[str, Any],
                  policy: MailPolicy) -> Iterator[Batch]:
        boxes: dict[str, Any] = state.setdefault("messages", {})
        here = dict(boxes.get(folder) or {})
        path = f"{self._user(mailbox)}/mailFolders/{folder}/messages/delta"
        url: str | None = here.get("next") or here.get("delta")
        params = None if url else self._window()
        url = url or path
        what = f"reading {mailbox}'s messages ({folder})"
        for page in self._pages(url, params, what, lambda: (path, self._window())):
            skipped: Counter[str] = Counter()
            observations: list[Observation] = []
            rejected: list[Rejected] = []
            now = self.context.clock()
            for item in self._values(page):
                if "@removed" in item:
                    skipped[SKIP_REMOVED] += 1
                    continue
                try:
                    message = mail_message(item, mailbox, folder)
                    found = policy.observation(message, observed_at=now, skipped=skipped)
                except (ValueError, TypeError, AttributeError) as exc:
                    rejected.append(Rejected(
                        f"message: {_reason(exc)}", payload=_payload(item),
                        external_id=f"{mailbox}/{item['id']}"
                        if isinstance(item.get("id"), str) else None))
                    continue
                if found is not None:
                    observations.append(found)
            link, done = self._links(page, what)
            boxes[folder] = {"delta": link} if done else {"next": link}
            yield Batch(observations, cursor=copy.deepcopy(state), rejected=rejected,
                        skipped=dict(skipped))

    def _pages(self, url: str, params: dict[str, str] | None, what: str,
               restart: Callable[[], tuple[str, dict[str, str]]]) -> Iterator[dict[str, Any]]:
        """The pages of one delta round, from ``url`` to the page with the delta link. When
        Graph no longer knows the link, the round starts again once from ``restart()``'s
        request; a second reset in a row fails the mailbox as retriable."""
        reset = False
        while True:
            try:
                page = self.graph.get(url, params=params, what=what)
            except DeltaReset as exc:
                if reset:
                    raise RetriableError(f"{exc}; Graph reset the delta twice in a row") from exc
                self.log.warning("%s: the delta link expired; starting the round again", what)
                reset = True
                url, params = restart()
                continue
            yield page
            link, done = self._links(page, what)
            if done:
                return
            url, params = link, None

    def _window(self) -> dict[str, str]:
        start = (self.context.clock() - timedelta(days=self.mail.window_days)).astimezone(UTC)
        return {"$select": MESSAGE_FIELDS,
                "$filter": f"receivedDateTime ge {start.strftime('%Y-%m-%dT%H:%M:%SZ')}"}

    @staticmethod
    def _values(page: dict[str, Any]) -> list[dict[str, Any]]:
        values = page.get("value")
        if not isinstance(values, list):
            raise RetriableError("a Graph delta page without its value list")
        return [v if isinstance(v, dict) else {"value": v} for v in values]

    @staticmethod
    def _links(page: dict[str, Any], what: str) -> tuple[str, bool]:
        """The next page's link and ``False``, or the delta link and ``True``."""
        for key, done in (("@odata.nextLink", False), ("@odata.deltaLink", True)):
            link = page.get(key)
            if isinstance(link, str) and link:
                return link, done
        raise RetriableError(f"{what}: a delta page with neither @odata.nextLink nor "
                             "@odata.deltaLink")

