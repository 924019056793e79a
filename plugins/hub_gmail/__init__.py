"""crmhub's gmail connector (being written)."""

from __future__ import annotations

from hub import hookimpl


@hookimpl
def crmhub_register_connectors() -> list[type]:
    return []
