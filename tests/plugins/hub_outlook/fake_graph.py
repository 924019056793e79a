"""A stateful fake of Microsoft Graph (and of MSAL's two sign-in calls) for ``responses``,
in the real shapes: delta rounds paged by ``@odata.nextLink`` (``$skiptoken``) and ended by
``@odata.deltaLink`` (``$deltatoken``), ``@removed`` items, ``Prefer: odata.maxpagesize``,
``{"error": {"code", "message"}}`` bodies, a bearer token checked on every call."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import responses
from requests import PreparedRequest

TENANT = "contoso-tenant"
CLIENT = "11111111-2222-3333-4444-555555555555"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
OPENID = f"{AUTHORITY}/v2.0/.well-known/openid-configuration"
TOKEN = f"{AUTHORITY}/oauth2/v2.0/token"
GRAPH = "https://graph.microsoft.com/v1.0"
ACCESS_TOKEN = "eyJ0eXAi.fake-access-token"

Reply = tuple[int, dict[str, str], str]


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _decode(token: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(token.encode())))


def error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": code, "message": message,
                              "innerError": {"request-id": "r-1", "date": "2026-01-01"}}}


class FakeGraph:
    """Mailboxes whose collections (``contacts:default``, ``contacts:<folder id>``,
    ``messages:inbox``, ``messages:sentitems``) change under a sequence number."""

    def __init__(self) -> None:
        self.seq = 0
        # (mailbox, collection) -> id -> (seq, item, or None once removed)
        self.items: dict[tuple[str, str], dict[str, tuple[int, dict[str, Any] | None]]] = {}
        self.folders: dict[str, dict[str, str]] = {}  # mailbox -> {folder id: name}
        self.users: list[dict[str, Any]] = []
        self.denied: dict[str, tuple[int, str, str]] = {}  # mailbox -> status, code, message
        self.script: list[tuple[str, int, dict[str, Any], dict[str, str]]] = []
        self.token_error: dict[str, Any] | None = None
        self.token_outages: list[int] = []  # statuses the next token requests answer
        self.token_calls = 0
        self.token_requests: list[PreparedRequest] = []
        self.requests: list[PreparedRequest] = []
        self.count = 0

    # -- the data -------------------------------------------------------------------------

    def put(self, mailbox: str, collection: str, item: dict[str, Any]) -> str:
        self.seq += 1
        self.items.setdefault((mailbox, collection), {})[item["id"]] = (self.seq, item)
        return str(item["id"])

    def remove(self, mailbox: str, collection: str, item_id: str) -> None:
        self.seq += 1
        self.items[(mailbox, collection)][item_id] = (self.seq, None)

    def contact(self, mailbox: str, given: str, family: str, email: str, *,
                folder: str = "default", **more: Any) -> str:
        self.count += 1
        item = {"id": f"AAMkC{self.count:04d}=", "givenName": given, "surname": family,
                "displayName": f"{given} {family}", "middleName": None,
                "emailAddresses": [{"name": f"{given} {family}", "address": email}],
                "businessPhones": [], "homePhones": [], "mobilePhone": None,
                "companyName": None, "jobTitle": None, "department": None,
                "businessAddress": {}, "birthday": None, "categories": [], **more}
        return self.put(mailbox, f"contacts:{folder}", item)

    def message(self, mailbox: str, sender: str, to: list[str], *, folder: str = "inbox",
                when: str = "2026-03-02T09:00:00Z", cc: list[str] | None = None,
                subject: str = "Hello", **more: Any) -> str:
        self.count += 1

        def who(address: str) -> dict[str, Any]:
            return {"emailAddress": {"name": address.split("@")[0].title(),
                                     "address": address}}

        item = {"id": f"AAMkM{self.count:04d}=", "subject": subject,
                "sentDateTime": when, "receivedDateTime": when,
                "from": who(sender), "toRecipients": [who(a) for a in to],
                "ccRecipients": [who(a) for a in cc or []],
                "internetMessageId": f"<m{self.count}@mail.example>",
                "conversationId": f"AAQkConv{self.count}=", **more}
        return self.put(mailbox, f"messages:{folder}", item)

    def fail_next(self, fragment: str, status: int, body: dict[str, Any],
                  headers: dict[str, str] | None = None) -> None:
        """The next request whose URL holds ``fragment`` gets this answer instead."""
        self.script.append((fragment, status, body, headers or {}))

    # -- the answers ----------------------------------------------------------------------

    def openid(self, request: PreparedRequest) -> Reply:
        return 200, {}, json.dumps({
            "token_endpoint": TOKEN, "authorization_endpoint": f"{AUTHORITY}/oauth2/v2.0/"
            "authorize", "issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0"})

    def token(self, request: PreparedRequest) -> Reply:
        self.token_calls += 1
        self.token_requests.append(request)
        form = parse_qs(str(request.body or ""))
        assert form["grant_type"] == ["client_credentials"]
        if self.token_outages:
            return self.token_outages.pop(0), {"Retry-After": "3"}, json.dumps(
                {"error": "temporarily_unavailable", "error_description": "AADSTS50196"})
        if self.token_error is not None:
            return 401, {}, json.dumps(self.token_error)
        return 200, {}, json.dumps({"token_type": "Bearer", "expires_in": 3599,
                                    "ext_expires_in": 3599, "access_token": ACCESS_TOKEN})

    def answer(self, request: PreparedRequest) -> Reply:
        self.requests.append(request)
        url = str(request.url)
        for n, (fragment, status, body, headers) in enumerate(self.script):
            if fragment in url:
                del self.script[n]
                return status, headers, json.dumps(body)
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return self._json(*error(401, "InvalidAuthenticationToken",
                                     "Access token is empty."))
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = unquote(parts.path).removeprefix("/v1.0")
        prefer = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
        size = int(prefer.group(1)) if prefer else 10
        if path == "/users":
            return self._json(200, {"value": self.users})
        found = re.fullmatch(r"/users/([^/]+)(/.*)", path)
        assert found, url
        mailbox, rest = found.group(1).lower(), found.group(2)
        if mailbox in self.denied:
            return self._json(*error(*self.denied[mailbox]))
        base = f"{GRAPH}{parts.path.removeprefix('/v1.0')}"
        if rest == "/contacts/delta":
            return self._delta(mailbox, "contacts:default", query, size, base)
        if (hit := re.fullmatch(r"/contactFolders/([^/]+)/contacts/delta", rest)):
            return self._delta(mailbox, f"contacts:{hit.group(1)}", query, size, base)
        if (hit := re.fullmatch(r"/mailFolders/(inbox|sentitems)/messages/delta", rest)):
            return self._delta(mailbox, f"messages:{hit.group(1)}", query, size, base)
        if rest == "/contactFolders":
            return self._json(200, {"value": [{"id": i, "displayName": n, "parentFolderId": "r"}
                                              for i, n in self.folders.get(mailbox, {}).items()]})
        if rest == "/mailFolders/inbox":
            return self._json(200, {"totalItemCount": len(self._live(mailbox, "messages:inbox"))})
        if rest == "/contacts":
            return self._json(200, {"value": self._live(mailbox, "contacts:default")[:1]})
        return self._json(*error(404, "ResourceNotFound", f"no {rest}"))

    def _live(self, mailbox: str, collection: str) -> list[dict[str, Any]]:
        return [i for _, i in self.items.get((mailbox, collection), {}).values() if i]

    def _delta(self, mailbox: str, collection: str, query: dict[str, str], size: int,
               base: str) -> Reply:
        if "$deltatoken" in query:
            since, upto, skip, filt = _decode(query["$deltatoken"])["upto"], self.seq, 0, None
        elif "$skiptoken" in query:
            state = _decode(query["$skiptoken"])
            since, upto, skip, filt = state["since"], state["upto"], state["skip"], state["f"]
        else:
            since, upto, skip, filt = 0, self.seq, 0, query.get("$filter")
        rows = sorted((seq, key, item) for key, (seq, item)
                      in self.items.get((mailbox, collection), {}).items()
                      if since < seq <= upto and (item is not None or since > 0))
        if filt:
            start = filt.removeprefix("receivedDateTime ge ")
            rows = [r for r in rows if r[2] is None or (r[2]["receivedDateTime"] or start) >= start]
        page = rows[skip:skip + size]
        body: dict[str, Any] = {
            "@odata.context": f"{GRAPH}/$metadata#Collection(contact)",
            "value": [item if item is not None else
                      {"@odata.type": "#microsoft.graph.contact", "id": key,
                       "@removed": {"reason": "deleted"}} for _, key, item in page]}
        if skip + size < len(rows):
            body["@odata.nextLink"] = f"{base}?$skiptoken=" + _encode(
                {"since": since, "upto": upto, "skip": skip + size, "f": filt})
        else:
            body["@odata.deltaLink"] = f"{base}?$deltatoken=" + _encode({"upto": upto})
        return self._json(200, body)

    @staticmethod
    def _json(status: int, body: dict[str, Any]) -> Reply:
        return status, {"Content-Type": "application/json"}, json.dumps(body)


def mocked() -> Iterator[tuple[FakeGraph, responses.RequestsMock]]:
    fake = FakeGraph()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, OPENID, callback=fake.openid)
        mock.add_callback(responses.POST, TOKEN, callback=fake.token)
        mock.add_callback(responses.GET, re.compile(re.escape(GRAPH) + r"/.*"),
                          callback=fake.answer)
        yield fake, mock
