"""One mailbox's messages: a windowed full sync once, then the history feed.

**Full sync** -- ``users.getProfile`` first (its ``historyId`` is where the next run's
history starts, so what arrives during the full sync is read then), then
``users.messages.list`` newest first (no ``q``: the ``gmail.metadata`` scope refuses it),
each page's messages read by batched ``messages.get(format=metadata)``, until a message's
``internalDate`` is older than ``window_days``. Each page is one batch whose cursor holds
the next page's token and the profile's history id, so a run cut short resumes at the
page it reached, with nothing lost or read twice.

**Incremental** -- ``users.history.list(startHistoryId, historyTypes=messageAdded)``, each
page's added messages read and yielded with the page token in the cursor; the last page
stores the reply's ``historyId``. A 404 (a history id too old, "at least a week") starts
a new windowed full sync.

Drafts, chats and spam are skipped and counted; removals are not propagated (see
:mod:`hub.sources.mail`). A message whose headers give neither a sender nor a date is
quarantined, the others go on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from googleapiclient.errors import HttpError

from hub.connectors import Batch, Rejected
from hub.records import Observation
from hub.sources.mail import MailMessage, MailPolicy, parse_addresses, parse_date, thread_root
from hub_gmail.client import GoogleClient

HEADERS = ["From", "To", "Cc", "Bcc", "Date", "Subject", "Message-ID", "References",
           "In-Reply-To", "List-Id", "Precedence", "Auto-Submitted"]
SKIP_LABELS = {"DRAFT": "draft or chat message", "CHAT": "draft or chat message",
               "SPAM": "spam message"}
VANISHED = "message deleted before it was read"


class MessageReader:
    """The message batches of one mailbox, from its ``messages`` cursor."""

    def __init__(self, client: GoogleClient, mailbox: str, policy: MailPolicy,
                 window_days: int, page_size: int) -> None:
        self.client = client
        self.mailbox = mailbox
        self.policy = policy
        self.window_days = window_days
        self.page_size = page_size
        self.context = client.context

    def batches(self, cursor: dict[str, Any]) -> Iterator[tuple[Batch, dict[str, Any]]]:
        """Each batch with the ``messages`` cursor after it."""
        if "history_id" in cursor:
            try:
                yield from self._history(cursor)
                return
            except HttpError as exc:
                if int(exc.status_code) != 404:
                    raise
                self.context.logger.warning(
                    "mailbox %s: history %s is too old; reading the last %d days again",
                    self.mailbox, cursor["history_id"], self.window_days)
            cursor = {}
        yield from self._full(cursor.get("full"))

    # -- full sync ------------------------------------------------------------------------

    def _full(self, progress: dict[str, Any] | None) -> Iterator[tuple[Batch, dict[str, Any]]]:
        if progress is None:
            profile = self.client.execute(self.client.gmail.users().getProfile(userId="me"),
                                          "gmail users.getProfile")
            since = self.context.clock() - timedelta(days=self.window_days)
            progress = {"history_id": str(profile["historyId"]), "page_token": None,
                        "since_ms": int(since.timestamp() * 1000)}
        messages = self.client.gmail.users().messages()
        while True:
            page = self.client.execute(messages.list(
                userId="me", maxResults=self.page_size,
                **({"pageToken": progress["page_token"]} if progress["page_token"] else {})),
                "gmail messages.list")
            ids = [str(m["id"]) for m in page.get("messages") or []]
            batch, oldest = self._read(ids, since_ms=int(progress["since_ms"]))
            next_token = page.get("nextPageToken")
            if not next_token or (oldest is not None and oldest < progress["since_ms"]):
                yield batch, {"history_id": progress["history_id"]}
                return
            progress = {**progress, "page_token": next_token}
            yield batch, {"full": progress}

    # -- incremental ----------------------------------------------------------------------

    def _history(self, cursor: dict[str, Any]) -> Iterator[tuple[Batch, dict[str, Any]]]:
        start = str(cursor["history_id"])
        token = cursor.get("page_token")
        history = self.client.gmail.users().history()
        while True:
            page = self.client.execute(history.list(
                userId="me", startHistoryId=start, historyTypes=["messageAdded"],
                maxResults=500, **({"pageToken": token} if token else {})),
                "gmail history.list")
            skipped: Counter[str] = Counter()
            ids: list[str] = []
            for record in page.get("history") or []:
                for added in record.get("messagesAdded") or []:
                    message = added.get("message") or {}
                    reason = _skip_reason(message)
                    if reason is not None:
                        skipped[reason] += 1
                    elif message.get("id"):
                        ids.append(str(message["id"]))
            batch, _ = self._read(list(dict.fromkeys(ids)), since_ms=None, skipped=skipped)
            token = page.get("nextPageToken")
            if not token:
                yield batch, {"history_id": str(page.get("historyId") or start)}
                return
            yield batch, {"history_id": start, "page_token": token}

    # -- reading messages -----------------------------------------------------------------

    def _read(self, ids: list[str], *, since_ms: int | None,
              skipped: Counter[str] | None = None) -> tuple[Batch, int | None]:
        """The batch of ``ids``' messages (those older than ``since_ms`` left out) and the
        oldest ``internalDate`` met."""
        skipped = skipped if skipped is not None else Counter()
        batch = Batch()
        oldest: int | None = None
        found = self.client.get_messages(ids, HEADERS) if ids else {}
        observed_at = self.context.clock()
        for message_id in ids:
            result = found.get(message_id)
            if isinstance(result, HttpError):
                if int(result.status_code) == 404:
                    skipped[VANISHED] += 1
                else:
                    batch.rejected.append(Rejected(
                        f"messages.get failed: HTTP {result.status_code} {result.reason[:200]}",
                        payload=json.dumps({"id": message_id}),
                        external_id=f"message:{self.mailbox}/{message_id}"))
                continue
            if result is None:
                continue
            internal = _internal_ms(result)
            if internal is not None:
                oldest = internal if oldest is None else min(oldest, internal)
                if since_ms is not None and internal < since_ms:
                    continue
            reason = _skip_reason(result)
            if reason is not None:
                skipped[reason] += 1
                continue
            try:
                mail = self.mail_message(result)
            except ValueError as exc:
                batch.rejected.append(Rejected(
                    str(exc), payload=json.dumps(result, sort_keys=True),
                    external_id=f"message:{self.mailbox}/{message_id}"))
                continue
            observation: Observation | None = self.policy.observation(
                mail, observed_at=observed_at, skipped=skipped)
            if observation is not None:
                batch.observations.append(observation)
        batch.skipped = dict(skipped)
        return batch, oldest

    def mail_message(self, message: dict[str, Any]) -> MailMessage:
        """A Gmail ``format=metadata`` message as a :class:`MailMessage`; ValueError when
        its headers are unusable."""
        headers: dict[str, str] = {}
        for header in (message.get("payload") or {}).get("headers") or []:
            name = str(header.get("name") or "").lower()
            if name and name not in headers:
                headers[name] = str(header.get("value") or "")
        senders = parse_addresses(headers.get("from"))
        internal = _internal_ms(message)
        when = parse_date(headers.get("date"))
        if when is None and internal is not None:
            when = datetime.fromtimestamp(internal / 1000, tz=UTC)
        if when is None:
            raise ValueError("message has neither a readable Date header nor an internalDate")
        if not senders and not any(headers.get(h) for h in ("to", "cc", "bcc")):
            raise ValueError("message has no From, To, Cc or Bcc address")
        message_id = headers.get("message-id", "").strip() or None
        return MailMessage(
            id=str(message["id"]), mailbox=self.mailbox, occurred_at=when,
            sender=senders[0] if senders else None,
            to=parse_addresses(headers.get("to")), cc=parse_addresses(headers.get("cc")),
            bcc=parse_addresses(headers.get("bcc")), subject=headers.get("subject") or None,
            thread_id=thread_root(headers.get("references"), headers.get("in-reply-to"),
                                  message_id) or message.get("threadId"),
            message_id=message_id, list_id=headers.get("list-id") or None,
            precedence=headers.get("precedence") or None,
            auto_submitted=headers.get("auto-submitted") or None)


def _skip_reason(message: dict[str, Any]) -> str | None:
    for label in message.get("labelIds") or []:
        if label in SKIP_LABELS:
            return SKIP_LABELS[label]
    return None


def _internal_ms(message: dict[str, Any]) -> int | None:
    try:
        return int(message["internalDate"])
    except (KeyError, TypeError, ValueError):
        return None
