"""What the streaming matcher scores as the store grows: every candidate, by how it was found.

Imports the generated Outlook file (benchmarks/generate_outlook.py) batch by batch through
the pipeline on SQLite, in this one process, with the matcher instrumented: for each
incoming record, each candidate record it is scored against is classed by
  links   "family-only" when every key it shares is a family-name key (fi, ph_co, ph_pc,
          f3_city, f3_dob), else "other"
  keys    how many keys it shares
  given   whether the two given names plainly differ (the given-name veto's test)
and the class's count per incoming row and highest match probability are printed. A
class whose highest probability stays below `review` could be dropped before loading
without changing any decision; one above it could not.

    python benchmarks/candidates.py --rows 100000
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter, defaultdict
from typing import Any

from stages import generated, sqlite_hub  # the sibling script: same file, same hub

from hub.match import engine
from hub.match.blocking import FAMILY_KINDS
from hub.match.compare import givens_differ

Class = tuple[str, int, str]


def instrument(counts: Counter[Class], best: dict[Class, float]) -> None:
    """Wrap the matcher's per-record step so that it first classes its candidates."""
    original = engine._State._one

    def one(state: Any, position: int, item: Any) -> None:
        links: dict[int, set[str]] = defaultdict(set)
        for key in state._lookup_keys(item):
            if key not in state.capped:
                for other in state.index.get(key, ()):
                    links[other].add(key[0])
        given = item.person.data.get("given_key") or ""
        profile = state.r.profile(item.person.data)
        for other in state._candidates(item, -position - 1):
            kinds = links.get(other, set())
            stored = state.profiles.get(other)
            if stored is None:
                continue
            differ = bool(given) and givens_differ(given, stored.given)
            key = ("family-only" if kinds and kinds <= FAMILY_KINDS else "other",
                   len(kinds), "differ" if differ else "agree")
            counts[key] += 1
            best[key] = max(best[key], state.r.model.score(profile, stored).probability)
        original(state, position, item)

    engine._State._one = one  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100000)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    data = generated(args.rows)
    counts: Counter[Class] = Counter()
    best: dict[Class, float] = defaultdict(float)
    instrument(counts, best)
    started = time.perf_counter()
    with sqlite_hub(data) as hub:
        cfg = hub.config.connector("bench")
        review = hub.config.match.review
        rows = 0
        for batch in hub.connector("bench").sync(None):
            batch.on_commit = None
            rows += len(batch.observations)
            hub.pipeline.ingest(cfg, hub.pipeline.preparer.prepare(cfg, batch))
    print(f"# candidates scored per incoming row, {rows:,} Outlook rows, SQLite — "
          f"{time.strftime('%Y-%m-%d')} ({time.perf_counter() - started:.0f} s)")
    print(f"command: python benchmarks/candidates.py --rows {args.rows}\n")
    print("| links | shared keys | given names | per row | highest probability |")
    print("|---|---:|---|---:|---:|")
    for (links, keys, given), count in sorted(counts.items(), key=lambda kv: -kv[1]):
        if count / rows >= 0.005:
            flag = " (≥ review)" if best[(links, keys, given)] >= review else ""
            print(f"| {links} | {keys} | {given} | {count / rows:.2f} | "
                  f"{best[(links, keys, given)]:.4f}{flag} |")
    print(f"\ncandidates per row: {sum(counts.values()) / rows:.2f}; review = {review}")


if __name__ == "__main__":
    main()
