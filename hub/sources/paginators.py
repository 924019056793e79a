"""Paginators: how a stream asks for the page after this one.

A paginator turns one answered page into the request for the next (:class:`Page`), or
``None`` when there is no next page. Pages are JSON-serialisable, so a run can be resumed
at the page it had reached.

* :class:`PageNumber` — ``?page=1``, ``?page=2``...; stops at a short or empty page (or
  at ``total_pages`` when the body says how many there are);
* :class:`Offset` — ``?offset=0&limit=100``, ``?offset=100``...; stops at a short page;
* :class:`CursorToken` — the body names the next page's token (``meta.next_cursor``);
  stops when it is missing, null or empty;
* :class:`NextLink` — the body (``links.next``) or the ``Link: <...>; rel="next"`` header
  holds the next page's URL (absolute, or a path joined to ``base_url``); stops when there
  is none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import requests

from hub.sources.paths import get_path

__all__ = ["CursorToken", "NextLink", "Offset", "Page", "PageNumber", "Paginator"]


@dataclass(frozen=True)
class Page:
    """One page's request: its URL (``None``: the stream's own) and query parameters."""

    url: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Page:
        return cls(data.get("url"), dict(data.get("params") or {}))


class Paginator(ABC):
    """Asks for the first page, then for each next one."""

    def first(self, page_size: int) -> Page:
        """The first page's request."""
        return Page()

    @abstractmethod
    def next(self, page: Page, response: requests.Response, body: Any,
             records: list[Any], page_size: int) -> Page | None:
        """The page after ``page`` (whose answer was ``response``/``body`` with
        ``records``), or ``None`` at the end."""


@dataclass(frozen=True)
class PageNumber(Paginator):
    """``?page=N`` from ``start``; ``size_param`` (if set) asks for ``page_size`` records."""

    param: str = "page"
    start: int = 1
    size_param: str | None = "per_page"
    total_pages: str | None = None  # the body's path to the number of pages, if it says

    def first(self, page_size: int) -> Page:
        return Page(params=self._params(self.start, page_size))

    def next(self, page: Page, response: requests.Response, body: Any,
             records: list[Any], page_size: int) -> Page | None:
        number = int(page.params.get(self.param, self.start))
        total = get_path(body, self.total_pages) if self.total_pages else None
        if isinstance(total, int) and not isinstance(total, bool):
            return None if number >= total else Page(params=self._params(number + 1, page_size))
        if not records or (self.size_param and len(records) < page_size):
            return None
        return Page(params=self._params(number + 1, page_size))

    def _params(self, number: int, page_size: int) -> dict[str, Any]:
        params: dict[str, Any] = {self.param: number}
        if self.size_param:
            params[self.size_param] = page_size
        return params


@dataclass(frozen=True)
class Offset(Paginator):
    """``?offset=N&limit=page_size``."""

    param: str = "offset"
    limit_param: str = "limit"

    def first(self, page_size: int) -> Page:
        return Page(params={self.param: 0, self.limit_param: page_size})

    def next(self, page: Page, response: requests.Response, body: Any,
             records: list[Any], page_size: int) -> Page | None:
        if len(records) < page_size:
            return None
        offset = int(page.params.get(self.param, 0)) + len(records)
        return Page(params={self.param: offset, self.limit_param: page_size})


@dataclass(frozen=True)
class CursorToken(Paginator):
    """The body's ``token_path`` gives the next page's ``param``."""

    param: str = "cursor"
    token_path: str = "next_cursor"
    size_param: str | None = "limit"

    def first(self, page_size: int) -> Page:
        return Page(params={self.size_param: page_size} if self.size_param else {})

    def next(self, page: Page, response: requests.Response, body: Any,
             records: list[Any], page_size: int) -> Page | None:
        token = get_path(body, self.token_path)
        if token in (None, "") or not records:
            return None
        return Page(params={**self.first(page_size).params, self.param: token})


@dataclass(frozen=True)
class NextLink(Paginator):
    """The next page's URL, from the body's ``path`` or the ``Link`` header (a link that
    starts with ``/`` is joined to the stream's ``base_url``); ``size_param`` asks the
    first page for ``page_size`` records."""

    path: str | None = "next"
    size_param: str | None = None

    def first(self, page_size: int) -> Page:
        return Page(params={self.size_param: page_size} if self.size_param else {})

    def next(self, page: Page, response: requests.Response, body: Any,
             records: list[Any], page_size: int) -> Page | None:
        link = get_path(body, self.path) if self.path else None
        if not link:
            link = response.links.get("next", {}).get("url")
        if not link or not isinstance(link, str):
            return None
        return Page(url=link)  # the link carries every parameter it needs
