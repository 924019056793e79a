#!/usr/bin/env python3
"""Routing benchmark: decision time per lead (200 rules, 100 owners) and a 30-day replay.

    python benchmarks/routing.py                       # 100,000 leads, SQLite
    python benchmarks/routing.py --leads 20000 --decisions 5000

Seeded: the same ``--seed`` gives the same owners, rules and leads. Steps:

1. **Decision time.** 100 owners in 10 teams with capacities, caps, time zones and holidays;
   200 rules (country, size, score, tags and title conditions, every built-in strategy),
   most of which a given lead does not match, ending with a catch-all. Each of
   ``--decisions`` leads is decided on its own with the live context (pointers, loads and
   counts read from the database once, then kept in memory as after_batch does); p50, p99
   and max of the decision itself are reported.
2. **Live routing.** ``--leads`` leads spread over 30 days are created in batches of 1,000
   and routed through ``Routing.after_batch`` in each batch's transaction (what the
   pipeline does): leads per second, end to end.
3. **Replay.** ``Routing`` with the same rule set replays the 30 days (``crmhub rules
   test``): seconds, and the number of decisions that moved (must be 0).

Prints a markdown block for BENCHMARKS.md and writes the figures to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.config import ConnectorConfig
from hub.routing.decide import decide
from hub.routing.engine import Routing
from hub.routing.live import LiveContext
from hub.routing.replay import replay
from hub.routing.rules import build_rules
from hub.routing.strategies import BUILTIN, Lead
from hub.store.db import make_engine, session_factory, upgrade
from hub.store.model import Contact, table_of

COUNTRIES = ["FR", "BE", "DE", "ES", "IT", "GB", "US", "NL", "CH", "CA"]
TAGS = ["vip", "webinar", "trial", "partner", "event", "newsletter"]
TITLES = ["CEO", "CTO", "Head of Sales", "Engineer", "Buyer", "Director", "Intern"]
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def make_rules(rng: random.Random, owners: int = 100, rules: int = 200) -> dict[str, Any]:
    teams = [{"id": f"team{t}", "manager": f"o{t * 10}"} for t in range(owners // 10)]
    people = []
    for n in range(owners):
        person: dict[str, Any] = {"id": f"o{n}", "team": f"team{n // 10}",
                                  "emails": [f"o{n}@acme.fr"], "weight": rng.choice([1, 1, 2]),
                                  "timezone": rng.choice(["Europe/Paris", "America/New_York",
                                                          "Asia/Tokyo"])}
        if rng.random() < 0.5:
            person["capacity"] = rng.randint(200, 2000)
        if rng.random() < 0.3:
            person["daily_cap"] = rng.randint(50, 200)
        if rng.random() < 0.05:
            person["out_of_office"] = [{"from": "2026-03-09", "to": "2026-03-13"}]
        people.append(person)
    out = []
    for r in range(rules - 1):
        kind = rng.randrange(5)
        if kind == 0:
            when: dict[str, Any] = {"contact.country": {"in": rng.sample(COUNTRIES, 2)},
                                    "company.employees": {"gte": rng.choice([50, 200, 1000])}}
        elif kind == 1:
            when = {"all": [{"score": {"between": sorted(rng.sample(range(0, 100), 2))}},
                            {"tags": {"contains": rng.choice(TAGS)}}]}
        elif kind == 2:
            when = {"any": [{"contact.title": {"matches": rng.choice(["\\bceo\\b", "head",
                                                                      "director"])}},
                            {"custom.segment": f"s{rng.randrange(50)}"}]}
        elif kind == 3:
            when = {"contact.address.postcode": {"startswith": f"{rng.randrange(10, 99)}"},
                    "contact.country": rng.choice(COUNTRIES)}
        else:
            when = {"not": {"stage": "lead"}}
        team = f"team{rng.randrange(owners // 10)}"
        strategy = rng.choice(["round_robin", "load_balanced", "weighted_round_robin",
                               "territory", "fixed"])
        rule: dict[str, Any] = {"name": f"r{r}", "when": when, "strategy": strategy}
        if strategy == "fixed":
            rule["owner"] = f"o{rng.randrange(owners)}"
            rule["backups"] = [f"o{rng.randrange(owners)}"]
        elif strategy == "territory":
            rule["territories"] = [{"countries": [c], "team": f"team{i % (owners // 10)}"}
                                   for i, c in enumerate(COUNTRIES)]
        else:
            rule["team"] = team
        if rng.random() < 0.2:
            rule["sla"] = "4h"
        out.append(rule)
    out.append({"name": "catch-all", "strategy": "round_robin", "team": "team0"})
    return {"settings": {"timezone": "Europe/Paris"}, "teams": teams, "owners": people,
            "rules": out, "fallback": {"queue": "unassigned"}}


def make_lead(rng: random.Random, at: datetime) -> dict[str, Any]:
    return {"country": rng.choice(COUNTRIES), "title": rng.choice(TITLES),
            "score": float(rng.randrange(100)), "tags": rng.sample(TAGS, rng.randrange(3)),
            "custom": {"segment": f"s{rng.randrange(60)}"},
            "address": {"postcode": f"{rng.randrange(10, 99)}{rng.randrange(1000):03d}"},
            "stage": "lead", "created_at": at, "updated_at": at}


def facts_of(lead: dict[str, Any], employees: int) -> dict[str, Any]:
    return {"contact.country": lead["country"], "contact.title": lead["title"],
            "score": lead["score"], "tags": lead["tags"], "stage": "lead",
            "custom.segment": lead["custom"]["segment"], "company.employees": employees,
            "contact.address.postcode": lead["address"]["postcode"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    raw = make_rules(rng)
    ruleset = build_rules(raw, {k.name: k for k in BUILTIN})
    routing = Routing(ruleset, None)
    workdir = Path(tempfile.mkdtemp(prefix="crmhub-routing-"))
    engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
    upgrade(engine)
    sessions = session_factory(engine)

    # 1. decision time
    timings: list[float] = []
    with sessions() as session:
        ctx = LiveContext(session, ruleset, START)
        setup = time.perf_counter()
        ctx.warm(routing.pointer_keys)  # what route() does once per batch
        setup = time.perf_counter() - setup
        for n in range(args.decisions):
            lead = Lead(n + 1, facts_of(make_lead(rng, START), rng.choice([10, 100, 5000])))
            ctx.begin(lead)
            started = time.perf_counter()
            decision = decide(ruleset, lead, ctx)
            timings.append(time.perf_counter() - started)
            ctx.assigned(decision.owner)
        session.rollback()
    timings.sort()
    decision_stats = {"decisions": len(timings),
                      "p50_ms": round(statistics.median(timings) * 1000, 4),
                      "p99_ms": round(timings[int(len(timings) * 0.99)] * 1000, 4),
                      "max_ms": round(timings[-1] * 1000, 3),
                      "batch_setup_ms": round(setup * 1000, 2)}
    print(f"decision: {decision_stats}", file=sys.stderr)

    # 2. live routing of --leads leads over 30 days, 1,000 per batch
    connector = ConnectorConfig(name="bench", kind="csv")
    batch = 1000
    started = time.perf_counter()
    span = timedelta(days=30).total_seconds()
    for first in range(0, args.leads, batch):
        at = START + timedelta(seconds=span * first / args.leads)
        rows = [make_lead(rng, at) for _ in range(min(batch, args.leads - first))]
        with sessions.begin() as session:
            ids = list(session.scalars(insert(table_of(Contact)).returning(
                table_of(Contact).c.id, sort_by_parameter_order=True), rows))
            routing.after_batch(session, connector=connector, new_contact_ids=ids,
                                changed_contact_ids=[], now=at)
    live_s = time.perf_counter() - started
    print(f"live: {args.leads} leads in {live_s:.1f}s", file=sys.stderr)

    # 3. replay of the 30 days with the same rule set
    started = time.perf_counter()
    with sessions() as session:
        report = replay(session, ruleset, since=START - timedelta(days=1))
        session.rollback()
    replay_s = time.perf_counter() - started
    result = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "owners": len(ruleset.owners), "rules": len(ruleset.rules), "seed": args.seed,
        "decision": decision_stats,
        "live": {"leads": args.leads, "seconds": round(live_s, 1),
                 "leads_per_s": round(args.leads / live_s)},
        "replay": {"decisions": report.decisions, "seconds": round(replay_s, 1),
                   "decisions_per_s": round(report.decisions / replay_s),
                   "moved": report.changed},
    }
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / f"routing-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
    d, live = decision_stats, result["live"]
    rows = [
        (f"decision, {len(ruleset.rules)} rules / {len(ruleset.owners)} owners",
         f"p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms, max {d['max_ms']} ms "
         f"(+ {d['batch_setup_ms']} ms once per batch)"),
        ("live routing in after_batch (1,000-lead batches, SQLite)",
         f"{live['leads_per_s']} leads/s ({live_s:.1f} s for {args.leads:,})"),
        ("30-day replay, same rule set",
         f"{report.decisions:,} decisions in {replay_s:.1f} s, {report.changed} moved"),
    ]
    print(f"\n### Routing ({result['machine']}, seed {args.seed})\n\n"
          f"`python benchmarks/routing.py --leads {args.leads} --decisions {args.decisions}`"
          "\n\n| measure | figure |\n| --- | --- |")
    for measure, figure in rows:
        print(f"| {measure} | {figure} |")
    return 0 if report.changed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
