"""A stateful fake of the Gmail, People and Directory APIs behind httplib2's ``request``.

It answers the URLs googleapiclient builds from the static discovery documents, in the
APIs' own reply shapes (string ids, ms-epoch ``internalDate``, ``nextPageToken``,
``nextSyncToken``, ``metadata.deleted``), the 404 of a stale history id, the 400
``EXPIRED_SYNC_TOKEN`` of People, and the ``multipart/mixed`` batch endpoint.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import Parser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httplib2

GMAIL = "https://gmail.googleapis.com"
BATCH = f"{GMAIL}/batch/gmail/v1"
Reply = tuple[int, dict[str, str], bytes]


def error(status: int, message: str, reason: str, state: str, *,
          details: bool = False) -> bytes:
    body: dict[str, Any] = {"code": status, "message": message, "status": state,
                            "errors": [{"message": message, "domain": "global",
                                        "reason": reason}]}
    if details:
        body["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": reason, "domain": "googleapis.com"}]
        del body["errors"]
    return json.dumps({"error": body}).encode()


NOT_FOUND = error(404, "Requested entity was not found.", "notFound", "NOT_FOUND")
EXPIRED = error(400, "Sync token is expired. Clear local cache and retry call without the "
                "sync token.", "EXPIRED_SYNC_TOKEN", "FAILED_PRECONDITION", details=True)


@dataclass
class Box:
    """One mailbox's messages, history and address book."""

    address: str
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[tuple[int, str]] = field(default_factory=list)
    history_id: int = 1000
    oldest_history: int = 0  # a startHistoryId below this answers 404
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)  # resourceName -> version
    version: int = 1
    expired_below: int = 0  # a sync token older than this version answers 400
    count: int = 0


class FakeGoogle:
    """Mailboxes by address; ``http(subject, scopes)`` is a connector's ``http_factory``."""

    def __init__(self, *, people_page: int = 1000) -> None:
        self.boxes: dict[str, Box] = {}
        self.people_page = people_page
        self.refused: dict[str, Exception] = {}  # subject -> raised on every request
        self.failures: list[tuple[str, int, bytes, dict[str, str]]] = []  # one-shot
        self.calls: list[tuple[str, str, str]] = []  # (subject, method, path+query)
        self.users: list[dict[str, Any]] = []  # the Directory's users

    def box(self, address: str) -> Box:
        return self.boxes.setdefault(address, Box(address))

    # -- test data ------------------------------------------------------------------------

    def message(self, address: str, when: datetime, *, labels: tuple[str, ...] = ("INBOX",),
                history: bool = True, **headers: str) -> str:
        """Add a message; ``headers`` by name with ``_`` for ``-`` (Message_ID)."""
        box = self.box(address)
        box.count += 1
        message_id = f"18c{box.count:05x}{zlib.crc32(address.encode()) % 4096:03x}"
        names = {k.replace("_", "-"): v for k, v in headers.items()}
        names.setdefault("Message-ID", f"<{message_id}@mail.example>")
        if "Date" not in names:
            names["Date"] = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
        box.history_id += 7
        box.messages[message_id] = {
            "id": message_id, "threadId": message_id, "labelIds": list(labels),
            "snippet": "", "historyId": str(box.history_id), "sizeEstimate": 1234,
            "internalDate": str(int(when.timestamp() * 1000)),
            "payload": {"mimeType": "multipart/alternative",
                        "headers": [{"name": k, "value": v} for k, v in names.items()]}}
        if history:
            box.history.append((box.history_id, message_id))
        return message_id

    def person(self, address: str, number: int, name: str, email: str, *,
               deleted: bool = False, **extra: Any) -> str:
        box = self.box(address)
        resource = f"people/c{number}"
        box.version += 1
        box.changed[resource] = box.version
        if deleted:
            box.people[resource] = {"resourceName": resource, "etag": f"%E{box.version}",
                                    "metadata": {"deleted": True}}
            return resource
        given, _, family = name.partition(" ")
        box.people[resource] = {
            "resourceName": resource, "etag": f"%E{box.version}",
            "metadata": {"sources": [{"type": "CONTACT", "id": f"{number:x}",
                                      "updateTime": "2025-12-01T10:00:00.000Z"}],
                         "objectType": "PERSON"},
            "names": [{"displayName": name, "givenName": given, "familyName": family,
                       "metadata": {"primary": True}}],
            "emailAddresses": [{"value": email, "type": "work", "formattedType": "Work",
                                "metadata": {"primary": True}}], **extra}
        return resource

    def fail(self, path_part: str, status: int, body: bytes = b"{}",
             headers: dict[str, str] | None = None) -> None:
        """The next request whose path contains ``path_part`` answers ``status``."""
        self.failures.append((path_part, status, body, headers or {}))

    # -- the transport --------------------------------------------------------------------

    def http(self, subject: str, scopes: Any = None) -> FakeHttp:
        return FakeHttp(self, subject)

    def answer(self, subject: str, method: str, uri: str, body: Any,
               headers: dict[str, str]) -> Reply:
        parts = urlsplit(uri)
        self.calls.append((subject, method, f"{parts.path}?{parts.query}"))
        for i, (part, status, reply, extra) in enumerate(self.failures):
            if part in parts.path:
                del self.failures[i]
                return status, {"content-type": "application/json", **extra}, reply
        if uri.startswith(BATCH):
            return self._batch(subject, body, headers)
        query = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path.startswith("/admin/directory/v1/users"):
            return self._ok({"kind": "admin#directory#users", "users": self.users})
        box = self.box(subject)
        path = parts.path.removeprefix("/gmail/v1/users/me")
        if path == "/profile":
            return self._ok({"emailAddress": subject, "messagesTotal": len(box.messages),
                             "threadsTotal": len(box.messages),
                             "historyId": str(box.history_id)})
        if path == "/messages":
            return self._list(box, query)
        if path.startswith("/messages/"):
            return self._get(box, path.rsplit("/", 1)[1], query)
        if path == "/history":
            return self._history(box, query)
        if parts.path == "/v1/people/me/connections":
            return self._people(box, query)
        return 404, {"content-type": "application/json"}, NOT_FOUND

    @staticmethod
    def _ok(reply: dict[str, Any]) -> Reply:
        return 200, {"content-type": "application/json; charset=UTF-8"}, \
            json.dumps(reply).encode()

    def _list(self, box: Box, query: dict[str, Any]) -> Reply:
        rows = sorted(box.messages.values(), key=lambda m: int(m["internalDate"]),
                      reverse=True)
        size, start = int(query.get("maxResults", 100)), int(query.get("pageToken", 0))
        page = rows[start:start + size]
        reply: dict[str, Any] = {"messages": [{"id": m["id"], "threadId": m["threadId"]}
                                              for m in page],
                                 "resultSizeEstimate": len(rows)}
        if start + size < len(rows):
            reply["nextPageToken"] = f"{start + size:020d}"
        return self._ok(reply)

    def _get(self, box: Box, message_id: str, query: dict[str, Any]) -> Reply:
        message = box.messages.get(message_id)
        if message is None:
            return 404, {"content-type": "application/json"}, NOT_FOUND
        assert query.get("format") == "metadata"
        wanted = {h.lower() for h in query.get("metadataHeaders", [])}
        copy = json.loads(json.dumps(message))
        copy["payload"]["headers"] = [h for h in copy["payload"]["headers"]
                                      if h["name"].lower() in wanted]
        return self._ok(copy)

    def _history(self, box: Box, query: dict[str, Any]) -> Reply:
        start = int(query["startHistoryId"])
        if start < box.oldest_history:
            return 404, {"content-type": "application/json"}, NOT_FOUND
        rows = [(h, m) for h, m in box.history if h > start]
        size, offset = int(query.get("maxResults", 100)), int(query.get("pageToken", 0))
        page = rows[offset:offset + size]
        records = []
        for history_id, message_id in page:
            message = box.messages[message_id]
            short = {"id": message_id, "threadId": message["threadId"]}
            records.append({"id": str(history_id), "messages": [short], "messagesAdded": [
                {"message": {**short, "labelIds": message["labelIds"]}}]})
        reply: dict[str, Any] = {"historyId": str(box.history_id)}
        if records:
            reply["history"] = records
        if offset + size < len(rows):
            reply["nextPageToken"] = str(offset + size)
        return self._ok(reply)

    def _people(self, box: Box, query: dict[str, Any]) -> Reply:
        assert query.get("requestSyncToken") == "true"
        if "syncToken" in query:
            since = int(str(query["syncToken"]).removeprefix("v"))
            if since < box.expired_below:
                return 400, {"content-type": "application/json"}, EXPIRED
            rows = [p for r, p in sorted(box.people.items()) if box.changed[r] > since]
        else:
            rows = [p for _, p in sorted(box.people.items())
                    if not p.get("metadata", {}).get("deleted")]
        size = min(int(query.get("pageSize", 100)), self.people_page)
        offset = int(query.get("pageToken", 0))
        reply: dict[str, Any] = {"connections": rows[offset:offset + size],
                                 "totalItems": len(rows)}
        if offset + size < len(rows):
            reply["nextPageToken"] = str(offset + size)
        else:
            reply["nextSyncToken"] = f"v{box.version}"
        return self._ok(reply)

    def _batch(self, subject: str, body: str, headers: dict[str, str]) -> Reply:
        content_type = headers["content-type"]
        assert content_type.startswith("multipart/mixed")
        mime = Parser().parsestr(f"Content-Type: {content_type}\r\n\r\n{body}")
        out: list[str] = []
        for part in mime.get_payload():
            assert part.get_content_type() == "application/http"
            request_line = str(part.get_payload()).split("\n", 1)[0].strip()
            method, target, _ = request_line.split(" ")
            status, _, reply = self.answer(subject, method, GMAIL + target, None, {})
            content_id = part["Content-ID"].replace("<", "<response-", 1)
            out.append(f"Content-Type: application/http\r\nContent-ID: {content_id}\r\n\r\n"
                       f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                       f"Content-Type: application/json; charset=UTF-8\r\n\r\n"
                       f"{reply.decode()}\r\n")
        boundary = "batch_fake_boundary"
        text = "".join(f"--{boundary}\r\n{chunk}" for chunk in out) + f"--{boundary}--\r\n"
        return 200, {"content-type": f"multipart/mixed; boundary={boundary}"}, text.encode()


class FakeHttp:
    """What googleapiclient calls: httplib2's ``request`` signature."""

    def __init__(self, fake: FakeGoogle, subject: str) -> None:
        self.fake = fake
        self.subject = subject

    def request(self, uri: str, method: str = "GET", body: Any = None,
                headers: dict[str, str] | None = None, redirections: int = 5,
                connection_type: Any = None) -> tuple[httplib2.Response, bytes]:
        if self.subject in self.fake.refused:
            raise self.fake.refused[self.subject]
        status, extra, content = self.fake.answer(self.subject, method, uri, body,
                                                  dict(headers or {}))
        response = httplib2.Response({"status": str(status), **extra})
        response.reason = "OK" if status == 200 else "Error"
        return response, content


def at(day: int, hour: int = 9) -> datetime:
    """A moment of December 2025 (the test clock is 2026-01-01)."""
    return datetime(2025, 12, day, hour, tzinfo=UTC)
