"""Survivorship: the golden record computed from a contact's source records.

A golden record is never edited in place; it is rebuilt from the normalised payloads of
the live source records linked to the contact. Each single-valued field and each group
(address, company: taken whole from one source, never mixed) is chosen by its policy
(``[match.survivorship]``, :class:`SurvivorshipPolicy`); the ``manual`` source
(``crmhub contacts set``) wins over every policy. Multi-valued fields (e-mails, phones,
tags, flags) are unions; per-key fields (custom, identifiers, handles) and the primary
e-mail and phone follow the default policy. Every field records where its value came from
and the rule that chose it.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

MANUAL = "manual"
SCALARS = ("given_name", "family_name", "full_name", "title", "birthday", "language",
           "country")
GROUPS = ("address", "company")  # taken whole from one source, never mixed
KEYED = ("custom", "identifiers", "handles")
FIELDS = (*SCALARS, *GROUPS)  # the fields a policy can be set for

PolicyName = Literal["most_recent", "source_priority", "most_frequent", "most_complete",
                     "longest"]
POLICIES: tuple[str, ...] = get_args(PolicyName)


@dataclass(frozen=True)
class SourceView:
    id: int
    connector: str
    external_id: str
    observed_at: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class SurvivorshipPolicy:
    """Which rule picks each field. The defaults are the original rule: most recent wins.

    ``source_priority`` lists connector names, first wins; connectors it does not list
    rank after the listed ones, by recency. ``fields`` overrides ``default`` per field.
    """

    default: PolicyName = "most_recent"
    source_priority: tuple[str, ...] = ()
    fields: Mapping[str, PolicyName] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, rule in (("default", self.default), *self.fields.items()):
            if name != "default" and name not in FIELDS:
                raise ValueError(f"no survivorship field {name!r}; known: {', '.join(FIELDS)}")
            if rule not in POLICIES:
                raise ValueError(f"no survivorship policy {rule!r}; known: "
                                 f"{', '.join(POLICIES)}")
        object.__setattr__(self, "source_priority", tuple(self.source_priority))
        object.__setattr__(self, "fields", dict(self.fields))

    def rule_of(self, name: str) -> PolicyName:
        return self.fields.get(name, self.default)

    @functools.cached_property
    def rank(self) -> dict[str, int]:
        """A score per listed connector, higher wins: the first listed scores highest."""
        return {name: index for index, name in enumerate(reversed(self.source_priority))}


DEFAULT_POLICY = SurvivorshipPolicy()
Candidate = tuple[SourceView, Any]  # a source and its non-empty value
Choice = tuple[SourceView, Any, str]  # the winning source, its value, the rule text


@functools.lru_cache(maxsize=4096)
def _when(moment: datetime) -> str:
    return moment.isoformat()


@functools.lru_cache(maxsize=1024)
def _origin_of(connector: str, external_id: str, observed_at: datetime,
               rule: str) -> dict[str, Any]:
    return {"connector": connector, "external_id": external_id,
            "observed_at": _when(observed_at), "rule": rule}


def source_origin(source: SourceView, rule: str) -> dict[str, Any]:
    """Where a golden value came from. One dict per (source, rule), shared by every field
    it won: provenance is read and serialised, never changed in place."""
    return _origin_of(source.connector, source.external_id, source.observed_at, rule)


Ranking = tuple[datetime, int, int, str, str]


def ranking(policy: SurvivorshipPolicy) -> Callable[[SourceView], Ranking]:
    """Newest first; sources observed at the same instant (the rows of one file, files
    written in the same second) by completeness, then source priority, then connector and
    external id: a function of the records, never of the order they arrived in."""
    rank = policy.rank

    def key(source: SourceView) -> Ranking:
        return (source.observed_at, _completeness(source.data),
                rank.get(source.connector, -1), source.connector, source.external_id)

    return key


def _completeness(data: Mapping[str, Any]) -> int:
    """How much a record says: its filled fields, address and company parts, points."""
    filled = 0
    for value in data.values():
        if isinstance(value, dict):
            filled += sum(1 for v in value.values() if v)
        elif isinstance(value, list):
            filled += len(value)
        elif value not in (None, ""):
            filled += 1
    return filled


def build_golden(sources: Sequence[SourceView], policy: SurvivorshipPolicy | None = None,
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The golden values and their provenance for one contact.

    ``policy`` defaults to :data:`DEFAULT_POLICY` (the most recent source wins).
    """
    policy = policy or DEFAULT_POLICY
    newest = sorted(sources, key=ranking(policy), reverse=True)
    manual = [s for s in newest if s.connector == MANUAL]
    others = [s for s in newest if s.connector != MANUAL] if manual else newest
    order = [*manual, *others]  # what pick expects: a manual correction first
    golden: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    for name in (*GROUPS, *SCALARS):  # the address before the country that may follow it
        won = pick(name, policy.rule_of(name), policy,
                    [(s, v) for s in order if (v := s.data.get(name))])
        if name == "country" and won is not None and won[2] != "manual correction":
            won = _with_address(policy, provenance, others) or won
        golden[name] = won[1] if won else None
        if won:
            provenance[name] = source_origin(won[0], won[2])
    for name in KEYED:
        keys = sorted({k for s in newest for k in s.data.get(name) or {}})
        merged: dict[str, Any] = {}
        for key in keys:
            won = pick(f"{name}.{key}", policy.default, policy, [
                (s, v) for s in order
                if (v := (s.data.get(name) or {}).get(key)) is not None and v != ""])
            if won:
                merged[key] = won[1]
                provenance[f"{name}.{key}"] = source_origin(won[0], won[2])
        golden[name] = merged
    ranked = _by_source(policy, order)
    for name, identity in (("emails", _email_identity), ("phones", _phone_identity)):
        golden[name] = _union(ranked, name, identity, policy, provenance)
    golden["tags"] = sorted({t for s in newest for t in s.data.get("tags") or []})
    golden["flags"] = sorted({f for s in newest for f in s.data.get("flags") or []})
    return golden, provenance


def pick(name: str, rule: PolicyName, policy: SurvivorshipPolicy,
          candidates: list[Candidate]) -> Choice | None:
    """The winner among non-empty candidates: manual corrections first, then the others
    best-ranked first (newest; at the same instant the most complete, then by source
    priority, then by connector and external id), so every tie goes to the first.
    An address another candidate contains never wins over it.

    A manual correction wins outright; the policy chooses among the connectors' values.
    """
    if not candidates:
        return None
    if candidates[0][0].connector == MANUAL:
        return candidates[0][0], candidates[0][1], "manual correction"
    if name == "address":
        candidates = _without_contained(candidates)
    if rule == "source_priority":
        rank = policy.rank
        source, value = max(candidates, key=lambda c: rank.get(c[0].connector, -1))
        return source, value, priority_reason(policy, source.connector)
    if rule == "most_frequent":
        same = [_sameness(name, value) for _, value in candidates]
        counts = Counter(same)
        best = max(counts.values())
        source, value = candidates[next(i for i, s in enumerate(same) if counts[s] == best)]
        tie = ", tie to most recent" if list(counts.values()).count(best) > 1 else ""
        return source, value, f"most frequent ({best} of {len(candidates)} sources{tie})"
    if rule in ("most_complete", "longest"):
        parts = rule == "most_complete" and name in GROUPS
        measure = _parts if parts else _length
        source, value = max(candidates, key=lambda c: measure(c[1]))
        label = "most complete" if rule == "most_complete" else "longest"
        return source, value, f"{label} ({measure(value)} {'parts' if parts else 'characters'})"
    source, value = candidates[0]
    return source, value, "most recent" + _tie(policy, candidates)


def _tie(policy: SurvivorshipPolicy, candidates: list[Candidate]) -> str:
    """Why the first candidate beat the next one observed at the same instant, if any."""
    if len(candidates) < 2 or candidates[0][0].observed_at != candidates[1][0].observed_at:
        return ""
    first, second = candidates[0][0], candidates[1][0]
    if _completeness(first.data) != _completeness(second.data):
        return " (a tie, to the most complete record)"
    rank = policy.rank
    if rank.get(first.connector, -1) != rank.get(second.connector, -1):
        return " (a tie, to source priority)"
    return " (a tie, to connector and id)"


def _without_contained(candidates: list[Candidate]) -> list[Candidate]:
    """The addresses no other candidate contains: one that says only part of what another
    says (the city of a full address) never erases the rest, whatever its rule or date."""
    parts = [{k: _fold(v) for k, v in value.items() if v} if isinstance(value, dict) else {}
             for _, value in candidates]
    kept = [candidate for i, candidate in enumerate(candidates)
            if not any(len(other) > len(parts[i]) and parts[i].items() <= other.items()
                       for other in parts)]
    return kept or candidates


def _with_address(policy: SurvivorshipPolicy, provenance: dict[str, Any],
                  others: list[SourceView]) -> Choice | None:
    """The country of the chosen address, unless ``country`` has its own policy.

    Only when the two policies differ: otherwise they pick the same source anyway.
    """
    won = provenance.get("address")
    if "country" in policy.fields or policy.rule_of("address") == policy.rule_of("country") \
            or won is None or won["rule"] == "manual correction":
        return None
    for source in others:
        if (source.connector, source.external_id) == (won["connector"], won["external_id"]):
            country = source.data.get("country")
            return (source, country, f"from the address: {won['rule']}") if country else None
    return None


def _by_source(policy: SurvivorshipPolicy, order: list[SourceView]) -> list[SourceView]:
    """Sources best first (manual ones first of all) by the default policy, where it ranks
    sources at all; else newest first."""
    if policy.default != "source_priority":
        return order
    rank = policy.rank
    return sorted(order, key=lambda s: (s.connector == MANUAL, rank.get(s.connector, -1)),
                  reverse=True)


def priority_reason(policy: SurvivorshipPolicy, connector: str) -> str:
    listed = policy.source_priority
    if connector not in listed:
        why = f"{connector} not listed, most recent"
    elif connector == listed[0]:
        why = f"{connector} first"
    else:
        why = f"{connector} {_ordinal(listed.index(connector) + 1)}"
    return f"source priority ({why})"


def _ordinal(n: int) -> str:
    return {2: "second", 3: "third"}.get(n, f"{n}th")


def _sameness(name: str, value: Any) -> Any:
    """What two sources must share to agree on a value (for ``most_frequent``)."""
    if name == "company" and isinstance(value, dict):
        return value.get("name_key") or value.get("domain") or _fold(value)
    return _fold(value)


def _fold(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.casefold().split())
    if isinstance(value, dict):
        return tuple(sorted((k, _fold(v)) for k, v in value.items() if v))
    if isinstance(value, list):
        return tuple(_fold(v) for v in value)
    return value


def _length(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_length(v) for v in value.values() if v)
    return len(value.strip()) if isinstance(value, str) else len(str(value))


def _parts(value: Any) -> int:
    return sum(1 for v in value.values() if v) if isinstance(value, dict) else 1


def _email_identity(point: dict[str, Any]) -> str:
    return str(point.get("key") or point["value"])


def _phone_identity(point: dict[str, Any]) -> str:
    return str(point["value"])


def _union(ranked: list[SourceView], name: str, identity: Callable[[dict[str, Any]], str],
           policy: SurvivorshipPolicy, provenance: dict[str, Any]) -> list[dict[str, Any]]:
    """Points from every source, one per identity; label and flags from the best source.

    The primary is the first point, in the order of the default policy, that the source
    listing it first flags as primary (a manual correction first of all); under
    ``most_frequent``, the point most sources flag. When no source flags one: the first.
    """
    points: dict[str, dict[str, Any]] = {}
    firsts: dict[str, SourceView] = {}
    for source in ranked:
        for point in source.data.get(name) or []:
            ident = identity(point)
            if ident in points:
                points[ident]["sources"].append(source.id)
                continue
            points[ident] = {**point, "sources": [source.id]}
            firsts[ident] = source
            provenance[f"{name}.{point['value']}"] = source_origin(source, "union")
    if not points:
        return []
    flagged = [i for i, p in points.items() if p.get("primary")]
    chosen = flagged[0] if flagged else next(iter(points))
    origin, rule = firsts[chosen], None
    if flagged and origin.connector == MANUAL:
        rule = "manual correction"
    elif policy.default == "most_frequent":
        chosen, origin, rule = _most_flagged(ranked, name, identity, policy) or \
            (chosen, origin, None)
    elif flagged and policy.default == "source_priority":
        rule = priority_reason(policy, origin.connector)
    elif flagged:  # the value-based policies do not rank sources: the most recent decides
        rule = "most recent"
    for ident, point in points.items():
        point["primary"] = ident == chosen
    if rule:
        provenance[f"{name}.{points[chosen]['value']}"] = source_origin(origin,
                                                                  f"union, primary by {rule}")
    return list(points.values())


def _most_flagged(ranked: list[SourceView], name: str,
                  identity: Callable[[dict[str, Any]], str], policy: SurvivorshipPolicy,
                  ) -> tuple[str, SourceView, str] | None:
    """The point most sources flag as primary; ties to the most recent flagging source."""
    votes: dict[str, list[SourceView]] = {}  # newest source first
    recency = ranking(policy)
    for source in sorted(ranked, key=recency, reverse=True):
        vote = next((identity(p) for p in source.data.get(name) or [] if p.get("primary")),
                    None)
        if vote is not None:
            votes.setdefault(vote, []).append(source)
    if not votes:
        return None
    best = max(len(v) for v in votes.values())
    tied = [(i, v[0]) for i, v in votes.items() if len(v) == best]
    chosen, origin = max(tied, key=lambda t: recency(t[1]))
    tie = ", tie to most recent" if len(tied) > 1 else ""
    total = sum(len(v) for v in votes.values())
    return chosen, origin, f"most frequent ({best} of {total} sources{tie})"
