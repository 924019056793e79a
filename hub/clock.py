"""The wall clock every part of crmhub reads: timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware (the default clock of connectors, HTTP and pipeline)."""
    return datetime.now(UTC)
