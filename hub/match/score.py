"""Fellegi-Sunter scoring: comparison levels -> match weight -> match probability.

Each comparator level has ``m`` (how often a true match shows it) and ``u`` (how often a
*random* pair of records does); its weight is ``log2(m / u)``; a pair's weight is the prior
log-odds plus the sum of its levels' weights, and its probability ``1 / (1 + 2 ** -weight)``.
Missing values weigh nothing.

Because ``u`` describes random pairs, the prior is that of a random pair too: about
``duplicates / N`` for a store of ``N`` person records where each record has ``duplicates``
other records of the same person on average. The bigger the store, the more evidence a
merge needs — two "Jean Dupont" in a thousand records are likelier the same man than in a
million. ``N`` is never taken below 1,000.

Before training the comparators' own defaults are used. ``crmhub match train`` estimates
``u`` from random pairs of stored records and ``m`` and the prior with expectation-
maximisation over the pairs the blocking keys produce (Splink's recipe), and stores the
result in ``match_models``. EM runs over *patterns* (distinct level vectors with their
counts), so a million pairs cost as much as the few thousand patterns they show.

Term frequencies: an exact match on a common family or given name (``smith``) is weaker
evidence than on a rare one; the trained model keeps the frequencies of common values and
uses them as ``u`` for an exact match on that value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.match.compare import Comparator, Profile, swapped
from hub.normalize import is_mobile

DEFAULT_PRIOR = 0.01  # share of matches among blocked candidate pairs (EM's start)
DEFAULT_DUPLICATES = 0.5  # other records of the same person, per record, before training
MIN_POPULATION = 1000
MIN_PROBABILITY = 1e-6
NAME_FIELDS = ("given", "family")
# A record that matches two people who conflict (two namesakes at one company) joins the
# better one only when it is this many bits (a factor of 2**10) better; else neither.
AMBIGUITY_MARGIN = 10.0
ALL_VETOES = frozenset({"birth_date", "given_name", "email_domain", "handle", "mobile"})
# Levels that are no evidence that two records are one person; anything else, outside the
# names, is (an e-mail, a phone, a birth date, a place in common...).
NO_EVIDENCE = frozenset({"missing", "different", "shared", "other_company"})


@dataclass
class Scored:
    weight: float
    probability: float
    levels: dict[str, str]
    veto: str | None = None
    swapped: bool = False
    # Why this pair alone cannot merge, though nothing conflicts: only the names agree.
    # Not a veto: it never keeps apart records that other evidence joins.
    weak: str | None = None
    # Evidence of two people (a veto that says so, see two_people, or namesakes on whom
    # something else disagrees): not worth a reviewer's time.
    distinct: bool = False

    @property
    def blocked(self) -> str | None:
        """Why an automatic merge on this pair's score is not allowed, if it is not."""
        return self.veto or self.weak

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"weight": round(self.weight, 3),
                               "probability": round(self.probability, 6),
                               "levels": self.levels}
        if self.veto:
            out["veto"] = self.veto
        if self.weak:
            out["weak"] = self.weak
        if self.distinct:
            out["two_people"] = True
        if self.swapped:
            out["swapped_names"] = True
        return out


def _clamp(p: float) -> float:
    return min(max(p, MIN_PROBABILITY), 1 - MIN_PROBABILITY)


@dataclass
class Model:
    """m/u per comparator level, the prior, and term frequencies of common names."""

    comparators: list[Comparator]
    m: dict[str, list[float]]
    u: dict[str, list[float]]
    prior: float = DEFAULT_PRIOR
    tf: dict[str, dict[str, float]] = field(default_factory=dict)
    trained: bool = False
    vetoes: frozenset[str] = ALL_VETOES
    duplicates: float = DEFAULT_DUPLICATES
    population: int = MIN_POPULATION

    def set_population(self, records: int) -> None:
        """The number of stored person records the prior is taken against."""
        self.population = max(records, MIN_POPULATION)
        self._prior_weight = math.log2(self.duplicates / self.population)

    def __post_init__(self) -> None:
        self._weights = {c.name: [0.0] + [math.log2(_clamp(m) / _clamp(u)) for m, u in
                                          zip(self.m[c.name][1:], self.u[c.name][1:],
                                              strict=True)]
                         for c in self.comparators}
        self.set_population(self.population)
        self._names = {c.name: i for i, c in enumerate(self.comparators)}
        self._compare = [c.compare for c in self.comparators]

    @classmethod
    def default(cls, comparators: list[Comparator]) -> Model:
        return cls(comparators, {c.name: list(c.m) for c in comparators},
                   {c.name: list(c.u) for c in comparators})

    @classmethod
    def from_params(cls, comparators: list[Comparator], params: dict[str, Any]) -> Model:
        """A stored model; comparators it does not know keep their defaults."""
        m = {c.name: list(c.m) for c in comparators}
        u = {c.name: list(c.u) for c in comparators}
        for c in comparators:
            stored = params.get("comparators", {}).get(c.name)
            if stored and stored.get("levels") == list(c.levels):
                m[c.name], u[c.name] = list(stored["m"]), list(stored["u"])
        return cls(comparators, m, u, prior=float(params.get("prior", DEFAULT_PRIOR)),
                   tf={k: dict(v) for k, v in params.get("tf", {}).items()}, trained=True,
                   duplicates=float(params.get("duplicates", DEFAULT_DUPLICATES)))

    def to_params(self) -> dict[str, Any]:
        return {"prior": self.prior, "duplicates": self.duplicates, "tf": self.tf,
                "comparators": {c.name: {"levels": list(c.levels), "m": self.m[c.name],
                                         "u": self.u[c.name]} for c in self.comparators}}

    # -- scoring -----------------------------------------------------------------------

    def levels(self, a: Profile, b: Profile) -> list[int]:
        return [compare(a, b) for compare in self._compare]

    def weight_of(self, name: str, level: int, value: str = "") -> float:
        weight = self._weights[name][level]
        if level == 1 and value and name in self.tf:
            frequency = self.tf[name].get(value)
            if frequency is not None and frequency > self.u[name][1]:
                weight = math.log2(_clamp(self.m[name][1]) / _clamp(frequency))
        return weight

    def _total(self, levels: list[int], a: Profile) -> float:
        total = self._prior_weight
        for c, level in zip(self.comparators, levels, strict=True):
            if level:
                value = a.given if c.name == "given" else a.family if c.name == "family" \
                    else ""
                total += self.weight_of(c.name, level, value)
        return total

    def score(self, a: Profile, b: Profile) -> Scored:
        levels = self.levels(a, b)
        weight = self._total(levels, a)
        was_swapped = False
        if a.given and a.family and b.given and b.family and \
                (a.given, a.family) != (b.given, b.family) and \
                (a.given[0] == b.family[0] or a.family[0] == b.given[0]):
            turned = swapped(a)
            alt = self.levels(turned, b)
            alt_weight = self._total(alt, turned)
            if alt_weight > weight:
                levels, weight, was_swapped = alt, alt_weight, True
        named = {c.name: c.levels[level] for c, level in zip(self.comparators, levels,
                                                            strict=True) if level}
        probability = 1.0 / (1.0 + 2.0 ** -weight) if weight > -1000 else 0.0
        reason = veto(a, b, named, self.vetoes)
        weak = names_alone(named)
        distinct = two_people(a, b, named, self.vetoes) if reason is not None else \
            weak is not None and contradicted(named)
        return Scored(weight, probability, named, reason, was_swapped, weak, distinct)


IDENTITY = ("email", "phone", "handle", "identifier")


def own_mobiles_differ(a: frozenset[str], b: frozenset[str]) -> bool:
    """Both records carry a mobile line and none in common: two people, whatever other
    number they share (a switchboard, an assistant's line typed as the work phone)."""
    mobiles_a = {phone for phone in a if is_mobile(phone)}
    if not mobiles_a:
        return False
    mobiles_b = {phone for phone in b if is_mobile(phone)}
    return bool(mobiles_b) and not mobiles_a & mobiles_b


def names_alone(levels: dict[str, str]) -> str | None:
    """Namesakes: when nothing but the names agrees (no e-mail, phone, handle, identifier,
    birth date or place in common), this pair's score merges nothing automatically,
    whatever a trained model weighs the names at (it may go to review). Always on: no
    veto list turns it off."""
    if any(level not in NO_EVIDENCE for name, level in levels.items()
           if name not in NAME_FIELDS):
        return None
    return "only the names agree"


Rule = Callable[[Profile, Profile, dict[str, str]], str | None]


def _birth_date(a: Profile, b: Profile, levels: dict[str, str]) -> str | None:
    if levels.get("birthday") == "different" and \
            not any(levels.get(name) == "exact" for name in ("identifier", "handle")):
        return "different birth dates"
    return None


def _given_name(a: Profile, b: Profile, levels: dict[str, str]) -> str | None:
    if levels.get("given") == "different" and levels.get("birthday") != "exact" and \
            not any(levels.get(name) == "exact" for name in IDENTITY):
        return "different given names and no shared birth date, e-mail, phone, handle " \
            "or identifier"
    return None


def _handle(a: Profile, b: Profile, levels: dict[str, str]) -> str | None:
    if levels.get("handle") == "different" and \
            not any(levels.get(name) == "exact" for name in ("email", "phone", "identifier")):
        return "different profiles on the same network and no shared e-mail, phone or " \
            "identifier"
    return None


def _mobile(a: Profile, b: Profile, levels: dict[str, str]) -> str | None:
    if levels.get("phone") in ("different", "exact") and levels.get("birthday") != "exact" \
            and not any(levels.get(name) == "exact" for name in ("email", "handle",
                                                                 "identifier")) \
            and a.phones - b.phones and b.phones - a.phones \
            and own_mobiles_differ(a.phones, b.phones):
        return "different mobile numbers and no shared e-mail, handle, identifier or " \
            "birth date"
    return None


def _email_domain(a: Profile, b: Profile, levels: dict[str, str]) -> str | None:
    if levels.get("email") == "different" and a.email_domains & b.email_domains:
        if levels.get("given") == "different":
            return "different e-mails at the same company domain with different given names"
        if not any(levels.get(name) == "exact" for name in ("phone", "handle", "identifier")):
            return "different e-mails at the same company domain and no other shared " \
                "identity"
    return None


# In the order a reason is given; the last three are evidence of two people.
RULES: tuple[tuple[str, Rule], ...] = (
    ("birth_date", _birth_date), ("given_name", _given_name), ("handle", _handle),
    ("mobile", _mobile), ("email_domain", _email_domain))
TWO_PEOPLE = frozenset({"handle", "mobile", "email_domain"})


def contradicted(levels: dict[str, str]) -> bool:
    """Whether something beside the names disagrees (another company, another place,
    another e-mail or phone): for namesakes, evidence of two people."""
    return any(level in ("different", "other_company") for name, level in levels.items()
               if name not in NAME_FIELDS)


def veto(a: Profile, b: Profile, levels: dict[str, str],
         enabled: frozenset[str] = ALL_VETOES) -> str | None:
    """Conflicting strong evidence: never an automatic merge, whatever the score.

    Colleagues share a company, its address and its switchboard, and relatives share a
    family name and a home: when the given names plainly differ, only an identity key
    (the same e-mail, phone, handle or identifier) or the same birth date may merge (twins
    at one address are the known price). Birth dates more than two digits apart (a parent
    and a child) only merge on the same identifier or handle. Two different work addresses
    at one company domain are two colleagues (two Jean Martin: jean.martin@, jean.martin2@)
    unless another identity key is shared; with different given names, even then. Two
    different mobile numbers and none in common (one person carries one; two namesakes
    at one company each their own) keep two records apart unless an e-mail, handle,
    identifier or the birth date is shared, even when another number is (a switchboard or
    an assistant's line typed as the work phone).

    The last three (``handle``, ``mobile``, ``email_domain``) are evidence of two people,
    not of a typing error: :func:`two_people` tells them, and such pairs are not worth a
    reviewer's time.
    """
    for name, rule in RULES:
        if name in enabled and (reason := rule(a, b, levels)):
            return reason
    return None


def two_people(a: Profile, b: Profile, levels: dict[str, str],
               enabled: frozenset[str] = ALL_VETOES) -> bool:
    """Whether an enabled veto says these are two people (two mobiles, two work addresses
    at one domain, two profiles on one network), rather than a value that may be a typo."""
    return any(name in enabled and rule(a, b, levels) for name, rule in RULES
               if name in TWO_PEOPLE)


# -- training (expectation-maximisation over level patterns) -----------------------------


def estimate_u(comparators: Sequence[Comparator],
               random_pairs: Iterable[tuple[Profile, Profile]]) -> dict[str, list[float]]:
    """u per level from pairs of random records (nearly all non-matches), Laplace-smoothed."""
    counts = {c.name: [0] * len(c.levels) for c in comparators}
    for a, b in random_pairs:
        for c in comparators:
            counts[c.name][c.compare(a, b)] += 1
    u = {}
    for c in comparators:
        seen = counts[c.name][1:]
        total = sum(seen) + len(seen)
        u[c.name] = [0.0] + [(n + 1) / total for n in seen] if sum(seen) \
            else list(c.u)
    return u


def train(model: Model, patterns: Counter[tuple[int, ...]], u: dict[str, list[float]], *,
          records: int, tf: dict[str, dict[str, float]] | None = None,
          iterations: int = 60, tolerance: float = 1e-5) -> Model:
    """EM for m and the duplicates per record, with u fixed (estimated from random pairs).

    A pair's posterior is taken under the prior the model scores with: the duplicates per
    record against the whole store, not a free share of the candidate pairs. The candidate
    pairs agree on their blocking keys far more often than random pairs do, so with a free
    share EM explained every candidate pair as a match (febrl4: all 16,075 of them, 3.2
    duplicates per record where there is 1). Tied to the store, the expected matches
    among the candidates give the duplicates per record back (febrl4: 0.98)."""
    comparators = model.comparators
    m = {name: list(values) for name, values in model.m.items()}
    duplicates = model.duplicates
    population = max(records, MIN_POPULATION)
    items = list(patterns.items())
    matches = 0.0
    for _ in range(iterations):
        prior_weight = math.log2(duplicates / population)
        expected = {c.name: [0.0] * len(c.levels) for c in comparators}
        matches = 0.0
        for pattern, count in items:
            weight = prior_weight
            for c, level in zip(comparators, pattern, strict=True):
                if level:
                    weight += math.log2(_clamp(m[c.name][level]) / _clamp(u[c.name][level]))
            g = 1.0 / (1.0 + 2.0 ** -weight) if weight > -1000 else 0.0
            matches += g * count
            for c, level in zip(comparators, pattern, strict=True):
                if level:
                    expected[c.name][level] += g * count
        new_duplicates = min(max(2 * matches / max(records, 1), 0.05), 5.0)
        delta = abs(new_duplicates - duplicates)
        duplicates = new_duplicates
        for c in comparators:
            seen = sum(expected[c.name][1:])
            if seen > 0:
                new = [0.0] + [_clamp(x / seen) for x in expected[c.name][1:]]
                delta = max(delta, *(abs(p - q) for p, q in zip(new, m[c.name], strict=True)))
                m[c.name] = new
        if delta < tolerance:
            break
    pairs = sum(patterns.values())
    prior = _clamp(matches / pairs) if pairs else model.prior  # the share among candidates
    return Model(comparators, m, u, prior=prior, tf=tf or {}, trained=True,
                 duplicates=duplicates)


def term_frequencies(profiles: Iterable[Profile], *, top: int = 2000,
                     minimum: int = 5) -> dict[str, dict[str, float]]:
    """Frequencies of the commonest given and family names (the ones worth adjusting)."""
    given: Counter[str] = Counter()
    family: Counter[str] = Counter()
    total = 0
    for p in profiles:
        total += 1
        if p.given:
            given[p.given] += 1
        if p.family:
            family[p.family] += 1
    if not total:
        return {}
    return {name: {value: n / total for value, n in counter.most_common(top) if n >= minimum}
            for name, counter in (("given", given), ("family", family))}
