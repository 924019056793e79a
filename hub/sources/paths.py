"""Dotted paths into decoded JSON: ``"data.items"``, ``"meta.next_cursor"``, ``"items.0.id"``."""

from __future__ import annotations

from typing import Any

__all__ = ["get_path"]


def get_path(data: Any, path: str | None, default: Any = None) -> Any:
    """The value at ``path`` in ``data`` (``""`` or ``None``: ``data`` itself); ``default``
    when a step is missing. A step into a list is its index."""
    if not path:
        return data
    current = data
    for step in path.split("."):
        if isinstance(current, dict):
            if step not in current:
                return default
            current = current[step]
        elif isinstance(current, list) and step.lstrip("-").isdigit():
            index = int(step)
            if not -len(current) <= index < len(current):
                return default
            current = current[index]
        else:
            return default
    return current
