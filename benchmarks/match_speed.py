"""Matching speed: streaming match of one new record against N stored contacts, and batch
re-deduplication of the whole store.

    python benchmarks/match_speed.py --contacts 100000 --queries 1000 [--engine sqlite]

Seeded: the same arguments give the same data. The store is filled through the real
pipeline (batches of 1,000) with realistic French names, e-mails, phones, birthdays and
postcodes, ~20% of people entered twice with noise. The streaming figure is the match step
alone (``ProbabilisticResolver.resolve`` for one record in its own transaction, rolled back:
key lookup, candidate loading, scoring, decision), p50/p99 over ``--queries`` new records
of which half are noisy copies of stored people. Batch: ``rededuplicate(apply=False)``
wall time and peak RSS of this process.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.config import ConnectorConfig, HubConfig, HubSection
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.match.batch import rededuplicate
from hub.match.canonical import canonical_person
from hub.match.engine import ProbabilisticResolver
from hub.match.resolve import Item
from hub.records import Observation, PersonData
from hub.store.db import ensure_schema, make_engine

GIVEN = (
    "Anna", "Louis", "Emma", "Hugo", "Chloé", "Jules", "Léa", "Adam", "Inès", "Gabriel",
    "Manon", "Lucas", "Jade", "Nathan", "Camille", "Théo", "Sarah", "Tom", "Lina", "Noah",
    "Alice", "Arthur", "Rose", "Paul", "Zoé", "Victor", "Louise", "Raphaël", "Julia", "Ethan",
    "Mila", "Léo", "Ambre", "Sacha", "Lou", "Maël", "Anna", "Eden", "Iris", "Nolan"
)
FAMILY = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert",
    "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau", "Blanc",
    "Guerin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
    "Clement", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson",
    "Sanchez", "Gerard", "Nguyen", "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Gautier",
    "Roger", "Roche", "Roy", "Noel", "Meyer", "Lucas", "Meunier", "Jean", "Perez", "Marchand",
    "Dufour", "Blanchard", "Marie", "Barbier", "Brun", "Dumas", "Brunet", "Schmitt", "Leroux",
    "Colin", "Fernandez", "Pierre", "Renard", "Arnaud", "Rolland", "Caron", "Aubert",
    "Giraud", "Leclerc", "Vidal", "Bourgeois", "Renaud", "Lemoine", "Picard", "Gaillard",
    "Philippe", "Leclercq", "Lacroix", "Fabre", "Dupuis"
)


def person(rng: random.Random, i: int) -> dict[str, object]:
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    return {"given_name": given, "family_name": family,
            "birthday": f"19{rng.randint(40, 99)}-{rng.randint(1, 12):02d}-"
                        f"{rng.randint(1, 28):02d}",
            "emails": [{"value": f"{given[0].lower()}.{family.lower()}{i}@"
                                 f"{rng.choice(['gmail.com', 'orange.fr', 'free.fr'])}"}],
            "phones": [{"value": f"06{rng.randint(10_000_000, 99_999_999)}"}],
            "address": {"postcode": f"{rng.randint(1, 95):02d}{rng.randint(0, 9)}00",
                        "city": rng.choice(["Paris", "Lyon", "Lille", "Nantes", "Rennes"])}}


def noisy(rng: random.Random, base: dict[str, object]) -> dict[str, object]:
    copy = dict(base)
    if rng.random() < 0.5:
        copy["emails"] = [{"value": str(base["emails"][0]["value"]).upper()}]  # type: ignore[index]
        copy["phones"] = []
    else:
        copy["emails"] = []
        given = str(base["given_name"])
        copy["given_name"] = given[:-1] if len(given) > 4 else given
    return copy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--engine", default="sqlite", help="sqlite or a PostgreSQL URL")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-batch", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="crmhub-match-"))
    url = f"sqlite:///{workdir / 'hub.db'}" if args.engine == "sqlite" else args.engine
    engine = make_engine(url)
    ensure_schema(engine, auto_upgrade=True)
    config = HubConfig(hub=HubSection(default_region="FR"))
    pipeline = Pipeline(engine, config)
    source = ConnectorConfig(name="bench", kind="csv")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; "
          f"{args.contacts} records, seed {args.seed}, {engine.dialect.name}")
    people: list[dict[str, object]] = []
    started = time.perf_counter()
    batch: list[Observation] = []
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(args.contacts):
        if people and rng.random() < 0.2:
            data = noisy(rng, rng.choice(people))
        else:
            data = person(rng, i)
            people.append(data)
        batch.append(Observation(kind="person", external_id=str(i), observed_at=now,
                                 person=data))
        if len(batch) == 1000:
            pipeline.ingest(source, Batch(batch))
            batch = []
    if batch:
        pipeline.ingest(source, Batch(batch))
    load = time.perf_counter() - started
    print(f"load: {load:.1f} s ({args.contacts / load:.0f} records/s through the pipeline)")

    resolver = pipeline.resolver
    assert isinstance(resolver, ProbabilisticResolver)
    policy = pipeline.policy
    timings = []
    for q in range(args.queries):
        data = noisy(rng, rng.choice(people)) if q % 2 else person(rng, 10**7 + q)
        canon = canonical_person(PersonData.model_validate(data), policy, "FR")
        with pipeline.sessions() as session:
            t0 = time.perf_counter()
            resolver.resolve(session, [Item(canon)])
            timings.append((time.perf_counter() - t0) * 1000)
            session.rollback()
    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"streaming match step: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {timings[-1]:.2f} ms "
          f"({args.queries} records)")
    if not args.no_batch:
        t0 = time.perf_counter()
        with pipeline.sessions() as session:
            report = rededuplicate(session, resolver, now, apply=False)
            session.rollback()
        seconds = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"batch re-dedup: {seconds:.1f} s for {report.records} records, "
              f"{report.candidate_pairs} candidate pairs, {report.clusters} clusters; "
              f"agreement with streaming F1 {report.agreement['f1']:.4f}; "
              f"peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
