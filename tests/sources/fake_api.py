"""A small contacts API, as the tests of `hub.sources` and of the contract kit mock it with
`responses`: records sorted by (updated_at, id), an inclusive ``updated_since`` filter,
cursor-token pages, a deleted flag; records can be added, changed and deleted between
two syncs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses
from requests import PreparedRequest

BASE = "https://api.example.com"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def stamp(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


class FakeContacts:
    """The API's data and its ``GET /v1/contacts`` (``?updated_since=&cursor=&limit=``)."""

    def __init__(self, count: int = 5, *, same_time: bool = False) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.clock = 0
        self.requests: list[dict[str, list[str]]] = []
        for _ in range(count):
            self.add(same_time=same_time)

    def _tick(self) -> str:
        self.clock += 1
        return stamp(self.clock)

    def add(self, *, same_time: bool = False) -> str:
        number = len(self.records) + 1
        key = f"c{number}"
        self.records[key] = {"id": key, "name": f"Person {number}",
                             "email": f"person{number}@example.org",
                             "updated_at": stamp(0) if same_time else self._tick(),
                             "archived": False}
        return key

    def update(self, key: str) -> None:
        record = self.records[key]
        record["name"] += " Jr"
        record["updated_at"] = self._tick()

    def delete(self, key: str) -> None:
        self.records[key].update(archived=True, updated_at=self._tick())

    def answer(self, request: PreparedRequest) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(request.url or "").query)
        self.requests.append(query)
        since = query.get("updated_since", [None])[0]
        limit = int(query.get("limit", ["100"])[0])
        offset = int(query.get("cursor", ["0"])[0])
        rows = sorted(self.records.values(), key=lambda r: (r["updated_at"], r["id"]))
        if since is not None:
            rows = [r for r in rows if r["updated_at"] >= since]
        page = rows[offset:offset + limit]
        more = offset + limit < len(rows)
        body = {"data": page, "meta": {"next_cursor": str(offset + limit) if more else None}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def install(self, mock: responses.RequestsMock) -> None:
        # looked up at each request, so a test may replace answer() after install
        mock.add_callback(responses.GET, f"{BASE}/v1/contacts",
                          callback=lambda request: self.answer(request))
