"""Survivorship: the golden record computed from a contact's source records.

A golden record is never edited in place; it is rebuilt from the normalised payloads of
the live source records linked to the contact. Policy for now: the ``manual`` source
(``crmhub contacts set``) wins every field, then the most recently observed source; ties go
to the newer source record. Multi-valued fields (e-mails, phones, handles, tags) are
unions. Every field records where its value came from and the rule that chose it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MANUAL = "manual"
SCALARS = ("given_name", "family_name", "full_name", "title", "birthday", "language",
           "country")
GROUPS = ("address", "company")  # taken whole from one source, never mixed
KEYED = ("custom", "identifiers", "handles")


@dataclass(frozen=True)
class SourceView:
    id: int
    connector: str
    external_id: str
    observed_at: datetime
    data: dict[str, Any]


def _rank(source: SourceView) -> tuple[int, datetime, int]:
    return (source.connector == MANUAL, source.observed_at, source.id)


@functools.lru_cache(maxsize=4096)
def _when(moment: datetime) -> str:
    return moment.isoformat()


def _origin(source: SourceView, rule: str) -> dict[str, Any]:
    return {"connector": source.connector, "external_id": source.external_id,
            "observed_at": _when(source.observed_at), "rule": rule}


def _rule(source: SourceView) -> str:
    return "manual correction" if source.connector == MANUAL else "most recent"


def build_golden(sources: Sequence[SourceView]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The golden values and their provenance for one contact."""
    ordered = sorted(sources, key=_rank, reverse=True)
    golden: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    for name in (*SCALARS, *GROUPS):
        for source in ordered:
            value = source.data.get(name)
            if value:
                golden[name] = value
                provenance[name] = _origin(source, _rule(source))
                break
        else:
            golden[name] = None
    for name in KEYED:
        merged: dict[str, Any] = {}
        for source in reversed(ordered):  # oldest first, newer values overwrite
            for key, value in (source.data.get(name) or {}).items():
                if value not in (None, ""):
                    merged[key] = value
                    provenance[f"{name}.{key}"] = _origin(source, _rule(source))
        golden[name] = dict(sorted(merged.items()))
    golden["emails"] = _union(ordered, "emails", lambda p: p.get("key") or p["value"],
                              provenance)
    golden["phones"] = _union(ordered, "phones", lambda p: p["value"], provenance)
    golden["tags"] = sorted({t for s in ordered for t in s.data.get("tags") or []})
    golden["flags"] = sorted({f for s in ordered for f in s.data.get("flags") or []})
    return golden, provenance


def _union(ordered: list[SourceView], name: str, identity: Any,
           provenance: dict[str, Any]) -> list[dict[str, Any]]:
    """Points from every source, one per identity; label and primary from the best source."""
    points: dict[str, dict[str, Any]] = {}
    for source in ordered:
        for point in source.data.get(name) or []:
            ident = identity(point)
            if ident in points:
                points[ident]["sources"].append(source.id)
                continue
            points[ident] = {**point, "sources": [source.id]}
            provenance[f"{name}.{point['value']}"] = _origin(source, "union")
    values = list(points.values())
    if values and not any(p.get("primary") for p in values):
        values[0] = {**values[0], "primary": True}
    seen_primary = False
    for point in values:  # one primary at most: the best-ranked one
        if point.get("primary"):
            point["primary"] = not seen_primary
            seen_primary = True
    return values
