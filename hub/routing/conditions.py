"""The declarative condition language of routing rules, scoring and lifecycle transitions.

A condition is data, never code (no ``eval``): a field path and an operator, combined with
``all``/``any``/``not``. Two spellings are accepted and mean the same::

    when = { field = "company.employees", op = "gte", value = 500 }
    when = { "company.employees" = { gte = 500 }, "contact.country" = { in = ["FR", "BE"] } }
    when = { any = [ { tags = { contains = "vip" } }, { score = { gte = 80 } } ] }

A bare value is ``eq``; several keys in one table must all hold. Text comparisons ignore
case (``"fr"`` equals ``"FR"``, ``matches`` is a case-insensitive regular expression). On a
list field (``tags``, ``company.domains``...) ``eq``/``in``/``startswith``/``matches`` hold
when any element does, ``ne``/``not_in`` when none does, ``contains`` when the list holds the
value. A missing value satisfies only ``missing``, ``ne`` and ``not_in``.

Conditions are compiled once, when the file loads, into plain closures: a rule set of 200
rules is evaluated in microseconds, and every error names the key path and a hint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.config import did_you_mean

Facts = Mapping[str, Any]
Predicate = Callable[[Facts], bool]

#: Field paths a condition may name. ``*`` stands for any key of a free-form map.
FIELDS: dict[str, str] = {
    "contact.given_name": "text", "contact.family_name": "text", "contact.full_name": "text",
    "contact.title": "text", "contact.language": "text", "contact.country": "text",
    "contact.birthday": "text", "contact.emails": "list", "contact.email_domain": "text",
    "contact.phones": "list",
    "contact.address.street": "text", "contact.address.city": "text",
    "contact.address.postcode": "text", "contact.address.region": "text",
    "contact.address.country": "text",
    "contact.custom.*": "any", "contact.identifiers.*": "text", "contact.handles.*": "text",
    "company.name": "text", "company.domain": "text", "company.domains": "list",
    "company.industry": "text", "company.employees": "number", "company.revenue": "number",
    "company.country": "text", "company.owner": "text", "company.tags": "list",
    "company.custom.*": "any",
    "score": "number", "stage": "text", "owner": "text", "team": "text",
    "source": "text", "sources": "list", "tags": "list", "custom.*": "any",
    "interactions.count": "number", "interactions.inbound": "number",
    "interactions.outbound": "number", "interactions.days_since_last": "number",
}
OPERATORS = ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "between", "contains",
             "startswith", "matches", "exists", "missing")
_COMBINATORS = ("all", "any", "not")


@dataclass(frozen=True)
class ConditionError(Exception):
    """A condition that cannot be compiled: where (key path below the condition), what, hint."""

    key: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


@dataclass
class Condition:
    """A compiled condition: call it with a facts mapping; ``fields`` lists what it reads."""

    predicate: Predicate
    fields: set[str] = field(default_factory=set)
    source: Any = None

    def __call__(self, facts: Facts) -> bool:
        return self.predicate(facts)


ALWAYS = Condition(lambda _facts: True, set(), None)


def known_field(path: str) -> bool:
    if path in FIELDS:
        return True
    for pattern in FIELDS:
        if pattern.endswith(".*") and path.startswith(pattern[:-1]) and \
                len(path) > len(pattern) - 1:
            return True
    return False


def _field_hint(path: str) -> str:
    return did_you_mean(path, [p.replace("*", "KEY") for p in FIELDS]) or \
        "fields: " + ", ".join(sorted(FIELDS)).replace("*", "KEY")


def compile_condition(raw: Any, key: str = "when") -> Condition:
    """Compile a condition table; raise :class:`ConditionError` naming the bad key path."""
    fields: set[str] = set()
    predicate = _compile(raw, key, fields)
    return Condition(predicate, fields, raw)


def _compile(raw: Any, key: str, fields: set[str]) -> Predicate:
    if not isinstance(raw, dict) or not raw:
        raise ConditionError(key, "a condition is a non-empty table",
                             'write e.g. { field = "contact.country", op = "eq", value = "FR" }')
    if "field" in raw or "op" in raw:
        return _explicit(raw, key, fields)
    parts: list[Predicate] = []
    for name, value in raw.items():
        here = f"{key}.{name}"
        if name in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ConditionError(here, f"{name!r} takes a non-empty list of conditions")
            subs = [_compile(v, f"{here}[{i}]", fields) for i, v in enumerate(value)]
            parts.append(_all(subs) if name == "all" else _any(subs))
        elif name == "not":
            parts.append(_negate(_compile(value, here, fields)))
        else:
            _check_field(name, here)
            fields.add(name)
            if isinstance(value, dict):
                if not value:
                    raise ConditionError(here, "empty operator table",
                                         f"use one of: {', '.join(OPERATORS)}")
                parts.extend(_operator(name, op, operand, f"{here}.{op}")
                             for op, operand in value.items())
            else:
                parts.append(_operator(name, "eq", value, here))
    return parts[0] if len(parts) == 1 else _all(parts)


def _explicit(raw: dict[str, Any], key: str, fields: set[str]) -> Predicate:
    extra = set(raw) - {"field", "op", "value"}
    if extra:
        name = sorted(extra)[0]
        raise ConditionError(f"{key}.{name}", "unknown key in a condition",
                             did_you_mean(name, ["field", "op", "value"]) or
                             "a condition has field, op and value")
    if "field" not in raw:
        raise ConditionError(f"{key}.field", "required key is missing",
                             'add field = "contact.country" (or another field path)')
    path = raw["field"]
    if not isinstance(path, str):
        raise ConditionError(f"{key}.field", "a field path is text")
    _check_field(path, f"{key}.field")
    fields.add(path)
    op = raw.get("op", "eq")
    if "value" not in raw and op not in ("exists", "missing"):
        raise ConditionError(f"{key}.value", f"operator {op!r} needs a value")
    return _operator(path, op, raw.get("value", True), f"{key}.op" if op not in OPERATORS
                     else f"{key}.value")


def _check_field(path: str, key: str) -> None:
    if not known_field(path):
        raise ConditionError(key, f"unknown field {path!r}", _field_hint(path))


def _negate(inner: Predicate) -> Predicate:
    return lambda facts: not inner(facts)


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 2:
        a, b = parts
        return lambda facts: a(facts) and b(facts)
    items = tuple(parts)

    def every(facts: Facts) -> bool:
        for part in items:  # noqa: SIM110  (the hot path: a loop, no generator frame)
            if not part(facts):
                return False
        return True
    return every


def _any(parts: list[Predicate]) -> Predicate:
    items = tuple(parts)

    def some(facts: Facts) -> bool:
        for part in items:  # noqa: SIM110
            if part(facts):
                return True
        return False
    return some


_COLLECTIONS = (list, tuple, set, frozenset)


def _on_values(path: str, test: Callable[[Any], bool]) -> Predicate:
    """True when the value (or, for a list, any element) passes ``test``; None never does."""
    def predicate(facts: Facts) -> bool:
        value = facts.get(path)
        if value is None:
            return False
        if isinstance(value, _COLLECTIONS):
            for item in value:  # noqa: SIM110
                if test(item):
                    return True
            return False
        return test(value)
    return predicate


def _on_number(path: str, test: Callable[[float], bool]) -> Predicate:
    def predicate(facts: Facts) -> bool:
        value = facts.get(path)
        if type(value) is float or type(value) is int:
            return test(value)
        number = _as_number(value)
        return number is not None and test(number)
    return predicate


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConditionError(key, f"{value!r} is not a number", "write a number, e.g. 500")
    return float(value)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _operator(path: str, op: Any, operand: Any, key: str) -> Predicate:
    if op not in OPERATORS:
        raise ConditionError(key, f"unknown operator {op!r}",
                             did_you_mean(str(op), OPERATORS) or
                             f"operators: {', '.join(OPERATORS)}")
    if op in ("exists", "missing"):
        if operand is not True:
            raise ConditionError(key, f"{op!r} takes true (or no value)")
        if op == "exists":
            return lambda facts: _present(facts.get(path))
        return lambda facts: not _present(facts.get(path))
    if op in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            raise ConditionError(key, f"{op!r} takes a non-empty list", 'e.g. ["FR", "BE"]')
        choices = frozenset(_fold(v) for v in operand)
        hit = _on_values(path, lambda v: (v.casefold() if type(v) is str else v) in choices)
        return hit if op == "in" else _negate(hit)
    if op in ("eq", "ne"):
        if isinstance(operand, list | dict):
            raise ConditionError(key, f"{op!r} compares with one value",
                                 "use in / not_in for a list")
        target = _fold(operand)
        same = _on_values(path, lambda v: bool((v.casefold() if type(v) is str else v)
                                               == target))
        return same if op == "eq" else _negate(same)
    if op in ("lt", "lte", "gt", "gte"):
        bound = _number(operand, key)
        compare: Callable[[float], bool] = {
            "lt": lambda v: v < bound, "lte": lambda v: v <= bound,
            "gt": lambda v: v > bound, "gte": lambda v: v >= bound}[op]
        return _on_number(path, compare)
    if op == "between":
        if not isinstance(operand, list) or len(operand) != 2:
            raise ConditionError(key, "'between' takes [low, high]", "e.g. [50, 500]")
        low, high = _number(operand[0], key), _number(operand[1], key)
        if low > high:
            raise ConditionError(key, f"between [{operand[0]}, {operand[1]}]: low is above high")
        return _on_number(path, lambda v: low <= v <= high)
    if not isinstance(operand, str):
        raise ConditionError(key, f"{op!r} takes text")
    if op == "contains":
        needle = operand.casefold()

        def contains(facts: Facts) -> bool:
            value = facts.get(path)
            if isinstance(value, list | tuple | set | frozenset):
                return any(_fold(v) == needle for v in value)
            return isinstance(value, str) and needle in value.casefold()
        return contains
    if op == "startswith":
        prefix = operand.casefold()
        return _on_values(path, lambda v: isinstance(v, str)
                          and v.casefold().startswith(prefix))
    try:
        pattern = re.compile(operand, re.IGNORECASE)
    except re.error as exc:
        raise ConditionError(key, f"invalid regular expression: {exc}") from None
    return _on_values(path, lambda v: isinstance(v, str) and pattern.search(v) is not None)


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


