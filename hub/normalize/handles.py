"""Social-network handles: one canonical, lower-case identifier per kind.

A profile URL and a bare handle ("@TheoGrant") normalise to the same value, so a contact
seen through a LinkedIn export and a Twitter mention meets itself. Identifiers that are not
user names carry a prefix: Facebook numeric ids are "id:N", YouTube channel ids
"channel:UC..." (case kept, they are case-sensitive), legacy YouTube names "user:x"/"c:x".
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qs, unquote, urlsplit

from hub.normalize.text import clean_text

__all__ = ["handle_from_url", "normalize_handle"]

_KIND_ALIASES = {"x": "twitter", "fb": "facebook", "ig": "instagram", "yt": "youtube"}

# Registrable host -> kind.
_HOSTS = {
    "linkedin.com": "linkedin",
    "twitter.com": "twitter",
    "x.com": "twitter",
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "instagram.com": "instagram",
    "github.com": "github",
    "tiktok.com": "tiktok",
    "youtube.com": "youtube",
    "xing.com": "xing",
}

# What a bare handle may look like, after "@" and case are removed.
_PATTERNS = {
    "twitter": re.compile(r"[a-z0-9_]{1,50}"),
    "instagram": re.compile(r"[a-z0-9._]{1,30}"),
    "github": re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38})"),
    "tiktok": re.compile(r"[a-z0-9._]{1,24}"),
    "facebook": re.compile(r"[a-z0-9.]{1,50}|id:\d{1,20}"),
    "youtube": re.compile(r"[\w.-]{1,100}|(?:user|c):[\w.-]{1,100}"),
    # LinkedIn slugs are free text once URL-decoded (accents included); no separators.
    "linkedin": re.compile(r"[^\s/?#@%&]{2,100}"),
    "xing": re.compile(r"[a-z0-9_.-]{2,100}"),
}

# First path segments that are site pages, not profiles.
_RESERVED = {
    "twitter": frozenset(
        {"home", "i", "intent", "share", "search", "hashtag", "explore", "settings",
         "messages", "notifications", "login", "signup", "tos", "privacy"}
    ),
    "facebook": frozenset(
        {"pages", "groups", "sharer", "sharer.php", "events", "watch", "login", "home.php",
         "marketplace", "hashtag", "photo.php", "story.php", "permalink.php", "dialog"}
    ),
    "instagram": frozenset({"p", "reel", "reels", "explore", "stories", "accounts", "tv"}),
    "github": frozenset(
        {"orgs", "features", "topics", "marketplace", "settings", "login", "about", "pricing",
         "sponsors", "search", "explore"}
    ),
}  # fmt: skip
_YOUTUBE_CHANNEL = re.compile(r"UC[\w-]{10,40}")


def _kind(kind: str) -> str:
    kind = kind.strip().lower()
    return _KIND_ALIASES.get(kind, kind)


def _unquote_fully(text: str) -> str:
    for _ in range(5):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def _looks_like_url(text: str) -> bool:
    return "://" in text or "/" in text or text.lower().startswith("www.")


def _bare(kind: str, text: str) -> str | None:
    """Validate and canonicalise a handle given without a URL."""
    pattern = _PATTERNS.get(kind)
    if kind == "youtube" and text.lower().startswith("channel:"):
        channel = text.split(":", 1)[1]
        return f"channel:{channel}" if _YOUTUBE_CHANNEL.fullmatch(channel) else None
    if kind == "linkedin":
        text = clean_text(_unquote_fully(text)) or ""
    handle = text.removeprefix("@").lower()
    if pattern is None:
        return handle or None
    return handle if pattern.fullmatch(handle) else None


def _site(host: str) -> str | None:
    parts = host.lower().rstrip(".").split(".")
    for i in range(len(parts) - 1):
        kind = _HOSTS.get(".".join(parts[i:]))
        if kind is not None:
            return kind
    return None


def _handle_in_path(kind: str, segments: list[str], query: str) -> str | None:
    """The raw handle inside a profile URL's path, or None when the URL is not a profile."""
    first = segments[0] if segments else ""
    if kind == "linkedin":
        return segments[1] if len(segments) >= 2 and first.lower() in ("in", "pub") else None
    if kind == "facebook":
        if first.lower() == "profile.php":
            ids = parse_qs(query).get("id", [])
            return f"id:{ids[0]}" if ids else None
        if first.lower() == "people" and len(segments) >= 3:
            return f"id:{segments[2]}"
    if kind == "youtube":
        if first.lower() in ("channel", "user", "c") and len(segments) >= 2:
            prefix = "channel" if first.lower() == "channel" else first.lower()
            return f"{prefix}:{segments[1]}"
        return first if first.startswith("@") else None
    if kind == "tiktok":
        return first if first.startswith("@") else None
    if kind == "xing":
        return segments[1] if len(segments) >= 2 and first.lower() == "profile" else None
    if not first or first.lower() in _RESERVED.get(kind, frozenset()):
        return None
    return first


@lru_cache(maxsize=16384)
def handle_from_url(url: str | None) -> tuple[str, str] | None:
    """(kind, handle) for a profile URL of a known network, else None."""
    text = clean_text(url)
    if text is None:
        return None
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return None
    kind = _site(host) if host else None
    if kind is None:
        return None
    segments = [s for s in parts.path.split("/") if s]
    raw = _handle_in_path(kind, segments, parts.query)
    if raw is None:
        return None
    handle = _bare(kind, raw)
    return (kind, handle) if handle else None


@lru_cache(maxsize=16384)
def normalize_handle(kind: str, value: str | None) -> str | None:
    """Canonical handle of `kind` from a bare value ("@TheoGrant") or a profile URL; None when
    the value is not a handle of that kind (including a URL of another site). Unknown kinds
    get the generic treatment: cleaned, "@" removed, lower-cased."""
    text = clean_text(value)
    if text is None:
        return None
    kind = _kind(kind)
    if kind in _PATTERNS and _looks_like_url(text):
        found = handle_from_url(text)
        return found[1] if found is not None and found[0] == kind else None
    return _bare(kind, text)
