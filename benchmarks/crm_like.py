#!/usr/bin/env python3
"""Deduplication on CRM-like data: crmhub beside Splink and recordlinkage, in one run.

    python benchmarks/crm_like.py                      # 2,000 people, seed 42
    python benchmarks/crm_like.py --persons 10000 --json
    python benchmarks/crm_like.py --engine postgresql --no-peers

FEBRL has no e-mails, phones, companies or job changes; CRM data is mostly those. The
generator (crm_like_data.py: Faker, mostly French people) writes what a French sales team
holds about its contacts: a Google Contacts export, the Outlook address book, LinkedIn's
Connections.csv and an old CRM's semicolon file, with the variation such sources have
(nicknames, accents, swapped names, e-mail and phone notations, private and work addresses,
job changes with the same mobile, switchboards and an assistant's line typed as work phones,
birthdays without a year) and the hard negatives of CRM data: namesakes at other companies
and at one company, relatives at one firm, executives sharing an assistant's phone.

crmhub imports the four files as a new admin would: four `csv` connectors, the presets
detected from the headers, a mapping for the old CRM's columns, default settings
(`default_region = "FR"`), through the real pipeline (what `crmhub sync` runs). It is
scored twice: as imported (untrained), then after `match train` + `match run` (what the
daemon does by itself once the store is large enough). The peers get the same records in
a common schema (names, one e-mail, one phone, birthday, town, postcode, company), cleaned
as their tutorials advise: Splink 5 on DuckDB, trained as its documentation advises
(deterministic rules for the prior, random sampling for u, EM over two blocking rules),
predicted at 0.9 and clustered at 0.95; recordlinkage's ECM classifier over blocks on
names, e-mail and phone.

Reported for each: pairwise precision, recall and F1 over all record pairs (clusters), the
review queue (crmhub), and per hard-negative kind how many of the pairs that must stay
apart were merged.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from crm_like_data import LEGACY_MAPPING, RELATION_KINDS, Dataset, build
from febrl import Postgres, Score, closure, cluster_pairs, machine, score, train_then_run
from outlook_pools import HEADER as OUTLOOK_HEADER

Pair = tuple[str, str]


@dataclass
class Outcome:
    """One system's clusters, scored."""

    system: str
    seconds: float
    score: Score
    wrong_merges: dict[str, int]  # hard-negative kind -> pairs of people merged
    clusters: int
    review_open: int | None = None
    extra: dict[str, Any] | None = None


def truth_pairs(data: Dataset) -> set[Pair]:
    by_person: dict[int, list[str]] = defaultdict(list)
    for record in data.records:
        by_person[record.pid].append(record.rec_id)
    return cluster_pairs([[("", r) for r in ids] for ids in by_person.values()], None)


def outcome(system: str, seconds: float, clusters: list[list[str]], data: Dataset,
            truth: set[Pair], **extra: Any) -> Outcome:
    predicted = cluster_pairs([[("", r) for r in members] for members in clusters], None)
    cluster_of = {rec: n for n, members in enumerate(clusters) for rec in members}
    records_of: dict[int, list[str]] = defaultdict(list)
    for record in data.records:
        records_of[record.pid].append(record.rec_id)
    wrong = dict.fromkeys(RELATION_KINDS, 0)
    for a, b, kind in data.relations:
        together = {cluster_of.get(r) for r in records_of[a]} & \
            {cluster_of.get(r) for r in records_of[b]}
        if together - {None}:
            wrong[kind] += 1
    review = extra.pop("review_open", None)
    return Outcome(system, round(seconds, 2), score(predicted, truth), wrong, len(clusters),
                   review, extra or None)


# --- crmhub ----------------------------------------------------------------------------


def write_config(directory: Path, database_url: str, data: Dataset) -> Path:
    lines = ["[hub]", f"database_url = {json.dumps(database_url)}", 'default_region = "FR"',
             'log_level = "WARNING"']
    for source, path in data.files.items():
        lines += ["", "[[connectors]]", f'name = "{source}"', 'kind = "csv"',
                  "route_new_contacts = false", "[connectors.settings]",
                  f"paths = [{json.dumps(str(path))}]",
                  f'id_column = "{"Code" if source == "legacy" else "ID"}"']
        if source == "legacy":
            lines += ['date_order = "dmy"', "[connectors.settings.mapping]",
                      *(f"{json.dumps(c)} = {json.dumps(t)}" for c, t in LEGACY_MAPPING.items())]
    config = directory / "crmhub.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def hub_clusters(hub: Any) -> tuple[list[list[str]], list[list[str]], int]:
    """The records of each live contact, the same had a person accepted every open review
    item, and the open review items."""
    from sqlalchemy import select, text
    from sqlalchemy.orm import Session

    from hub.match.resolve import live_contacts
    from hub.store.model import SourceRecord

    with Session(hub.engine) as session:
        rows = session.execute(
            select(SourceRecord.id, SourceRecord.external_id, SourceRecord.contact_id)
            .where(SourceRecord.deleted_at.is_(None))).all()
        live = live_contacts(session, [r.contact_id for r in rows if r.contact_id is not None])
        queued = session.execute(text(
            "SELECT left_record_id, right_record_id FROM match_candidates "
            "WHERE status = 'open' AND entity = 'contact'")).all()
    node = {row.id: live[row.contact_id] if row.contact_id is not None else -row.id
            for row in rows}
    clusters: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        clusters[node[row.id]].append(row.external_id)
    root = {n: n for n in clusters}

    def find(n: int) -> int:
        while root[n] != n:
            root[n] = root[root[n]]
            n = root[n]
        return n

    for a, b in queued:
        if a in node and b in node and (ra := find(node[a])) != (rb := find(node[b])):
            root[rb] = ra
    accepted: dict[int, list[str]] = defaultdict(list)
    for n, members in clusters.items():
        accepted[find(n)].extend(members)
    return list(clusters.values()), list(accepted.values()), len(queued)


def run_hub(data: Dataset, truth: set[Pair], workdir: Path,
            pg: Postgres | None) -> list[Outcome]:
    from hub.service.runtime import Hub
    from hub.service.sync import run_sync
    from hub.store.db import make_engine, upgrade

    url = pg.sqlalchemy_url if pg else f"sqlite:///{workdir / 'hub.db'}"
    config = write_config(workdir, url, data)
    if pg:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    hub = Hub.open(config, create=True)
    started = time.perf_counter()
    quarantined = 0
    for source in data.files:
        report = run_sync(hub, source)
        if not report.ok:
            raise SystemExit(f"sync {source} failed: {report.error}")
        quarantined += report.as_dict()["quarantined"]
    seconds = time.perf_counter() - started
    clusters, accepted, review = hub_clusters(hub)
    results = [outcome("crmhub, as imported", seconds, clusters, data, truth,
                       review_open=review, quarantined=quarantined),
               outcome("  the same, queue accepted", seconds, accepted, data, truth)]

    trained, run, seconds = train_then_run(hub)
    clusters, accepted, review = hub_clusters(hub)
    results.append(outcome("crmhub, trained + match run", seconds, clusters, data, truth,
                           review_open=review,
                           duplicates_per_record=round(trained.duplicates, 3),
                           merged_by_run=run.as_dict().get("merges")))
    results.append(outcome("  the same, queue accepted", seconds, accepted, data, truth))
    hub.close()
    return results


# --- peers -----------------------------------------------------------------------------


def peer_frame(data: Dataset) -> pd.DataFrame:
    rows = [{"unique_id": r.rec_id, **r.peer} for r in data.records]
    return pd.DataFrame(rows).astype(object).where(lambda f: f.notna(), None)


def run_recordlinkage(data: Dataset, truth: set[Pair]) -> Outcome:
    import recordlinkage
    from recordlinkage.index import Block

    started = time.perf_counter()
    frame = peer_frame(data).set_index("unique_id")
    indexer = recordlinkage.Index()
    for column in ("surname", "first_name", "email", "phone"):
        indexer.add(Block(column))
    candidates = indexer.index(frame)
    compare = recordlinkage.Compare()
    for column in ("first_name", "surname", "company", "city"):
        compare.string(column, column, method="jarowinkler", label=column)
    for column in ("email", "phone", "dob", "postcode"):
        compare.exact(column, column, label=column)
    features = compare.compute(candidates, frame)
    links = recordlinkage.ECMClassifier(binarize=0.85).fit_predict(features)
    seconds = time.perf_counter() - started
    clusters = closure((("", str(a)), ("", str(b))) for a, b in links)
    linked = {rec for members in clusters for _, rec in members}
    groups = [[rec for _, rec in members] for members in clusters]
    groups += [[r.rec_id] for r in data.records if r.rec_id not in linked]
    return outcome("recordlinkage ECM (closure)", seconds, groups, data, truth,
                   candidate_pairs=len(candidates))


def run_splink(data: Dataset, truth: set[Pair], seed: int) -> Outcome:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    started = time.perf_counter()
    frame = peer_frame(data)
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("city"),
            cl.JaroWinklerAtThresholds("company"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "surname"), block_on("email"), block_on("phone"),
            block_on("surname", "company"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(frame, dataset_display_name="people"), settings,
                    log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("phone"), block_on("first_name", "surname", "dob")],
        recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=seed)
    # Each EM pass trains every comparison but those it blocks on: names, then e-mail.
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))
    predictions = linker.inference.predict(threshold_match_probability=0.9)
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=0.95).as_pandas_dataframe()
    seconds = time.perf_counter() - started
    groups: dict[Any, list[str]] = defaultdict(list)
    for rec, cluster in zip(clustered["unique_id"], clustered["cluster_id"], strict=True):
        groups[cluster].append(str(rec))
    return outcome("Splink (DuckDB, EM)", seconds, list(groups.values()), data, truth)


# --- output ----------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"CRM-like: {result['persons']} people, {result['records']} records "
        f"({', '.join(f'{k} {v}' for k, v in result['per_source'].items())}), "
        f"{result['true_pairs']} true pairs; seed {result['seed']}",
        f"{m['date']}; {m['cores']} cores, {m['cpu']}; Python {m['python']}, crmhub "
        f"{m['crmhub']} ({m['commit']}); {result['peer_versions']}",
        "",
        f"{'':<30}{'precision':>10}{'recall':>8}{'F1':>8}{'review':>8}{'seconds':>9}   "
        "wrong merges: " + " / ".join(RELATION_KINDS),
    ]
    for o in result["outcomes"]:
        s = o["score"]
        review = "-" if o["review_open"] is None else str(o["review_open"])
        wrong = " / ".join(str(o["wrong_merges"][k]) for k in RELATION_KINDS)
        lines.append(f"{o['system']:<30}{s['precision']:>10.4f}{s['recall']:>8.4f}"
                     f"{s['f1']:>8.4f}{review:>8}{o['seconds']:>9.2f}   {wrong}")
    lines += ["", "pairs that must stay apart: " + ", ".join(
        f"{k} {v}" for k, v in result["relations"].items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the files and the database")
    args = parser.parse_args(argv)
    for name in [n for n in os.environ if n.startswith("CRMHUB_")]:
        del os.environ[name]  # the config written here is the whole truth

    workdir = Path(tempfile.mkdtemp(prefix="crmhub-crm-like-"))
    pg = Postgres(args.pg_url) if args.engine == "postgresql" else None
    try:
        data = build(args.persons, args.seed, workdir, OUTLOOK_HEADER)
        truth = truth_pairs(data)
        outcomes = run_hub(data, truth, workdir, pg)
        versions = []
        if args.peers:
            import recordlinkage
            import splink

            outcomes.append(run_splink(data, truth, args.seed))
            outcomes.append(run_recordlinkage(data, truth))
            versions = [f"Splink {splink.__version__}",
                        f"recordlinkage {recordlinkage.__version__}"]
    finally:
        if pg is not None and not args.keep:
            pg.drop()
        if args.keep:
            print(f"kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    per_source: dict[str, int] = defaultdict(int)
    for record in data.records:
        per_source[record.source] += 1
    relations: dict[str, int] = dict.fromkeys(RELATION_KINDS, 0)
    for _, _, kind in data.relations:
        relations[kind] += 1
    result = {"persons": args.persons, "seed": args.seed, "records": len(data.records),
              "per_source": dict(per_source), "true_pairs": len(truth),
              "relations": relations, "machine": machine(),
              "peer_versions": ", ".join(versions) or "no peers",
              "outcomes": [asdict(o) for o in outcomes]}
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
