"""``crmhub match``, ``crmhub review``, ``crmhub companies`` and ``crmhub unmerge``
(registered by hub.cli.main)."""

from __future__ import annotations

import csv
import getpass
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select

from hub.cli.common import (
    config_option,
    emit,
    fail,
    field_values,
    json_option,
    open_hub,
    table,
    visible_to,
)
from hub.clock import utcnow
from hub.config import parse_duration
from hub.export import export_objects
from hub.ingest.manual import COMPANY_FIELDS, ManualError, set_company_fields
from hub.logs import mask_text
from hub.match.autotrain import train_if_due, training_state
from hub.match.batch import rededuplicate, train
from hub.match.companies import ENTITY as COMPANY
from hub.match.companies import FIELDS, CompanyMergeError, company_view, merge_companies
from hub.match.engine import ProbabilisticResolver
from hub.match.review import (
    ReviewError,
    company_candidate_row,
    group_by_contact,
    list_candidates,
    merge_candidate,
    reject_candidate,
    split_record,
    unmerge,
)
from hub.store.model import Contact, MatchCandidate, SharedPoint, SourceRecord


def _user() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser()


def _resolver(hub: Any) -> ProbabilisticResolver:
    resolver = hub.pipeline.resolver
    if not isinstance(resolver, ProbabilisticResolver):  # pragma: no cover - custom setups
        fail("the configured resolver does not support batch matching")
    return resolver  # type: ignore[no-any-return]


# -- crmhub match ------------------------------------------------------------------------


@click.group("match")
def match_group() -> None:
    """Train the matcher, re-deduplicate the store, inspect capped keys."""


def _progress(enabled: bool) -> Any:
    def show(stage: str, done: int, total: int) -> None:
        if enabled:
            of = f"/{total}" if total else ""
            click.echo(f"\r{stage}: {done}{of} pairs", nl=False, err=True)
    return show


@match_group.command("status")
@config_option
@json_option
def match_status(config_path: Path, as_json: bool) -> None:
    """The model in use (age, training sample, estimated duplicates per record) and
    whether the store has grown enough for the daemon to train it again."""
    hub = open_hub(config_path)
    with hub.pipeline.sessions() as session:
        state = training_state(session, hub.config.match)

    def render(d: dict[str, Any]) -> None:
        if d["model_id"] is None:
            click.echo(f"untrained: default parameters; {d['records']} person records")
        else:
            click.echo(f"model {d['model_id']} trained {d['trained_at']} on "
                       f"{d['trained_on'] if d['trained_on'] is not None else '?'} person "
                       f"records ({d['candidate_pairs']} candidate pairs), "
                       f"{d['duplicates_per_record']:.3f} duplicates per record; "
                       f"{d['records']} person records now")
        auto = hub.config.match.auto_train
        click.echo(f"training due: {d['due']}" if d["due"] else
                   "no training due" + ("" if auto else " (auto_train = false)"))

    emit(state.as_dict(), as_json, render)


@match_group.command("train")
@click.option("--max-pairs", default=500_000, show_default=True,
              help="Candidate pairs EM learns from.")
@click.option("--random-pairs", default=100_000, show_default=True,
              help="Random pairs u is estimated from.")
@click.option("--seed", default=1, show_default=True)
@click.option("--if-due", is_flag=True,
              help="Only when the daemon would (the store grew enough), then `match run` "
                   "as the daemon does; for a timer or a script after an import.")
@config_option
@json_option
def match_train(max_pairs: int, random_pairs: int, seed: int, if_due: bool,
                config_path: Path, as_json: bool) -> None:
    """Estimate m/u probabilities from the stored data (EM); the daemon uses the result."""
    hub = open_hub(config_path)
    if if_due:
        with hub.pipeline.sessions.begin() as session:
            trained = train_if_due(session, _resolver(hub), utcnow())
        emit({"trained": trained}, as_json, lambda d: click.echo(
            "matcher trained and the store re-examined (see the log)" if d["trained"]
            else "no training due (`crmhub match status`)"))
        return
    show = sys.stderr.isatty() and not as_json
    with hub.pipeline.sessions.begin() as session:
        report = train(session, _resolver(hub), utcnow(), max_pairs=max_pairs,
                       random_pairs=random_pairs, seed=seed, progress=_progress(show))
    if show:
        click.echo("", err=True)
    if report.model_id is None:
        fail("nothing to learn from: no two stored records share a match key")

    def render(r: Any) -> None:
        click.echo(f"model {r.model_id}: {r.records} records, {r.candidate_pairs} candidate "
                   f"pairs ({r.patterns} patterns), {r.random_pairs} random pairs; "
                   f"matches among candidates {r.prior:.4f}, {r.duplicates:.3f} "
                   "duplicates per record")
        for name, levels in r.m.items():
            parts = ", ".join(f"{lv} m={m:.3f} u={r.u[name][lv]:.4f}"
                              for lv, m in levels.items())
            click.echo(f"  {name:11} {parts}")

    emit(report.__dict__ if as_json else report, as_json, render)


@match_group.command("run")
@click.option("--since", help="Only pairs with a record seen within this period (e.g. 7d).")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@config_option
@json_option
def match_run(since: str | None, dry_run: bool, config_path: Path, as_json: bool) -> None:
    """Re-deduplicate the whole store in batch (blocking, scoring, clustering)."""
    from datetime import timedelta

    hub = open_hub(config_path)
    cutoff = None
    if since:
        try:
            cutoff = utcnow() - timedelta(seconds=parse_duration(since))
        except ValueError as exc:
            fail(f"--since: {exc}", 2)
    show = sys.stderr.isatty() and not as_json
    now = utcnow()
    with hub.pipeline.sessions.begin() as session:
        report = rededuplicate(session, _resolver(hub), now, apply=not dry_run,
                               since=cutoff, progress=_progress(show))
        if dry_run:
            session.rollback()
        else:  # survivors keep the further lifecycle stage
            hub.pipeline.routing.after_merges(session, {c for m in report.merges for c in m},
                                              now)
    if show:
        click.echo("", err=True)

    def render(r: dict[str, Any]) -> None:
        verb = "would merge" if dry_run else "merged"
        click.echo(f"{r['records']} records, {r['candidate_pairs']} candidate pairs, "
                   f"{r['clusters']} clusters (store: {r['contacts_before']} contacts); "
                   f"{verb} {r['merges']}, {r['reviews']} pairs for review")
        a = r["agreement_with_store"]
        click.echo(f"agreement with the store: pairwise F1 {a['f1']:.4f} "
                   f"(precision {a['precision']:.4f}, recall {a['recall']:.4f})")

    emit(report.as_dict(), as_json, render)


@match_group.command("keys")
@config_option
@json_option
def match_keys(config_path: Path, as_json: bool) -> None:
    """Capped match keys: too common or shared by different people; they match nothing."""
    hub = open_hub(config_path)
    with hub.pipeline.sessions() as session:
        rows = [{"kind": p.kind, "key": p.value, "reason": p.reason, "since": p.created_at}
                for p in session.scalars(select(SharedPoint).order_by(SharedPoint.id))]
    if not as_json:
        rows = [{**r, "key": mask_text(str(r["key"]))} for r in rows]
    emit(rows, as_json, lambda r: table(r, ["kind", "key", "reason", "since"]))


# -- crmhub review -----------------------------------------------------------------------


@click.group("review")
def review_group() -> None:
    """The review queue: pairs the matcher was unsure about."""


def _visible(session: Any, visible: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The candidates whose contacts are all visible under ``--as`` (a candidate shows
    both sides, so one the person may not see hides it)."""
    if visible is None:
        return rows
    ids = sorted({r[side] for r in rows for side in ("left_contact", "right_contact")})
    seen = {c for start in range(0, len(ids), 500) for c in session.scalars(
        select(Contact.id).where(Contact.id.in_(ids[start:start + 500]), visible))}
    return [r for r in rows if r["left_contact"] in seen and r["right_contact"] in seen]


@review_group.command("list")
@click.option("--status", type=click.Choice(["open", "merged", "rejected", "unmerged", "all"]),
              default="open", show_default=True)
@click.option("--entity", type=click.Choice(["contact", COMPANY]), default="contact",
              show_default=True, help="Pairs of contacts or pairs of companies.")
@click.option("--limit", default=100, show_default=True)
@click.option("--as", "as_owner", help="Only candidates between contacts this owner may see.")
@click.option("--by-contact", is_flag=True,
              help="Open candidates grouped: one entry per contact with all its candidates.")
@config_option
@json_option
def review_list(status: str, entity: str, limit: int, as_owner: str | None,
                by_contact: bool, config_path: Path, as_json: bool) -> None:
    """Candidates, best score first."""
    hub = open_hub(config_path)
    visible = visible_to(hub, as_owner)
    if by_contact:
        if entity == COMPANY or status != "open":
            fail("--by-contact groups open contact candidates", 2)
        with hub.pipeline.sessions() as session:
            rows = list_candidates(session, limit=10**9)
            if visible is not None:
                rows = _visible(session, visible, rows)
        grouped = group_by_contact(rows)
        groups, everyone = grouped[:limit], len(grouped)

        def render_groups(gs: list[dict[str, Any]]) -> None:
            for g in gs:
                click.echo(f"contact {g['contact']}: {len(g['candidates'])} candidate(s), "
                           f"best {g['best']:.3f}")
                for c in g["candidates"]:
                    click.echo(f"  #{c['id']:<6} contact {c['other_contact']:<8} "
                               f"{c['score']:.3f}  {_levels(c['comparison'])}")
            click.echo(f"{len(rows)} open in {everyone} contact(s)")

        emit(groups, as_json, render_groups)
        return
    if entity == COMPANY:
        if visible is not None:
            fail("company candidates are for admins: drop --as", 2)
        with hub.pipeline.sessions() as session:
            companies = list_candidates(session, status=status, limit=limit, entity=COMPANY)
        emit(companies, as_json, lambda r: table(
            [{**x, "levels": _levels(x["comparison"]), "why": x["comparison"].get("rule")}
             for x in r], ["id", "score", "left_company", "right_company", "status", "why"]))
        return
    with hub.pipeline.sessions() as session:
        if visible is None:
            rows = list_candidates(session, status=status, limit=limit)
            total = session.scalar(select(func.count()).select_from(MatchCandidate).where(
                MatchCandidate.status == "open", MatchCandidate.entity == "contact"))
        else:  # filtered before the limit, so a rep's candidates are never crowded out
            shown = _visible(session, visible, list_candidates(session, status="open",
                                                               limit=10**9))
            total = len(shown)
            if status != "open":
                shown = _visible(session, visible, list_candidates(session, status=status,
                                                                   limit=10**9))
            rows = shown[:limit]

    def render(r: list[dict[str, Any]]) -> None:
        table([{**x, "levels": _levels(x["comparison"])} for x in r],
              ["id", "score", "left_contact", "right_contact", "status", "levels"])
        click.echo(f"{total} open")

    emit(rows, as_json, render)


def _levels(comparison: dict[str, Any]) -> str:
    levels = comparison.get("levels", {})
    text = " ".join(f"{k}={v}" for k, v in sorted(levels.items()))
    return (f"[veto: {comparison['veto']}] " if comparison.get("veto") else "") + text


@review_group.command("show")
@click.argument("candidate_id", type=int)
@click.option("--as", "as_owner", help="Only if this owner may see both contacts.")
@config_option
@json_option
def review_show(candidate_id: int, as_owner: str | None, config_path: Path,
                as_json: bool) -> None:
    """Both records side by side with the per-field comparison."""
    hub = open_hub(config_path)
    visible = visible_to(hub, as_owner)
    with hub.pipeline.sessions() as session:
        candidate = session.get(MatchCandidate, candidate_id)
        if candidate is not None and candidate.entity == COMPANY and visible is None:
            row = company_candidate_row(session, candidate)
            row["companies"] = [company_view(session, row[side])
                                for side in ("left_company", "right_company")]
            emit(row, as_json, _render_company_candidate)
            return
        found = [r for r in list_candidates(session, status="all", limit=10**9)
                 if r["id"] == candidate_id] if candidate is not None else []
        if not _visible(session, visible, found):
            fail(f"no review candidate {candidate_id}"
                 + (f" visible to {as_owner}" if as_owner else ""), 1)
        assert candidate is not None
        records = {r.id: r for r in session.scalars(select(SourceRecord).where(
            SourceRecord.id.in_([candidate.left_record_id, candidate.right_record_id])))}
        row = found[0]
        sides = []
        for record_id in (candidate.left_record_id, candidate.right_record_id):
            record = records.get(record_id)
            data = record.data if record is not None else {}
            sides.append({"record": record_id,
                          "source": f"{record.connector}:{record.external_id}"
                          if record is not None else None,
                          **{k: data.get(k) for k in ("full_name", "birthday", "company",
                                                      "address")},
                          "emails": [e.get("value") for e in data.get("emails") or ()],
                          "phones": [p.get("value") for p in data.get("phones") or ()]})
        row["records"] = sides

    def render(r: dict[str, Any]) -> None:
        click.echo(f"candidate {r['id']} ({r['status']}): score {r['score']:.4f}, weight "
                   f"{r['weight']}, contacts {r['left_contact']} / {r['right_contact']}")
        if r["comparison"].get("veto"):
            click.echo(f"  veto: {r['comparison']['veto']}")
        for name, level in sorted(r["comparison"].get("levels", {}).items()):
            click.echo(f"  {name:10} {level}")
        for side in r["records"]:
            click.echo(f"  record {side['record']} ({side['source']}): {side['full_name']}, "
                       f"born {side['birthday']}, {side['emails']}, {side['phones']}")

    emit(row, as_json, render)


@review_group.command("merge")
@click.argument("candidate_ids", type=int, nargs=-1)
@click.option("--above", type=click.FloatRange(0, 1),
              help="Every open contact candidate scored at or above this probability.")
@click.option("--dry-run", is_flag=True, help="List what would be merged; change nothing.")
@config_option
@json_option
def review_merge(candidate_ids: tuple[int, ...], above: float | None, dry_run: bool,
                 config_path: Path, as_json: bool) -> None:
    """Accept: merge the two contacts (never split automatically afterwards). Name
    candidates, or take every one at or above a probability (best first)."""
    _decide(config_path, candidate_ids, above, merge=True, dry_run=dry_run, as_json=as_json)


@review_group.command("reject")
@click.argument("candidate_ids", type=int, nargs=-1)
@click.option("--below", type=click.FloatRange(0, 1),
              help="Every open contact candidate scored below this probability.")
@click.option("--dry-run", is_flag=True, help="List what would be rejected; change nothing.")
@config_option
@json_option
def review_reject(candidate_ids: tuple[int, ...], below: float | None, dry_run: bool,
                  config_path: Path, as_json: bool) -> None:
    """Different people: remembered per pair of source records, never proposed again. Name
    candidates, or take every one below a probability."""
    _decide(config_path, candidate_ids, below, merge=False, dry_run=dry_run, as_json=as_json)


def _decide(config_path: Path, ids: tuple[int, ...], threshold: float | None, *, merge: bool,
            dry_run: bool, as_json: bool) -> None:
    if not ids and threshold is None:
        fail(f"name candidate ids, or {'--above' if merge else '--below'} P", 2)
    hub = open_hub(config_path)
    chosen = list(ids)
    if threshold is not None:
        with hub.pipeline.sessions() as session:
            query = select(MatchCandidate.id).where(
                MatchCandidate.entity == "contact", MatchCandidate.status == "open",
                MatchCandidate.score >= threshold if merge else
                MatchCandidate.score < threshold)
            chosen += [i for i in session.scalars(query.order_by(
                MatchCandidate.score.desc() if merge else MatchCandidate.score,
                MatchCandidate.id)) if i not in chosen]
    single = len(chosen) == 1 and threshold is None
    if dry_run:
        emit({"would": "merge" if merge else "reject", "candidates": chosen}, as_json,
             lambda d: click.echo(f"would {d['would']} {len(d['candidates'])} candidate(s): "
                                  + (", ".join(map(str, d["candidates"])) or "none")))
        return
    results = _apply(hub, chosen, merge=merge)
    if single:
        if results[0]["status"] == "skipped":
            fail(results[0]["error"], 1)
        emit(results[0], as_json, _render_decision)
        return
    emit(results, as_json, _render_decisions)


def _apply(hub: Any, ids: list[int], *, merge: bool) -> list[dict[str, Any]]:
    """Merge or reject each candidate in its own transaction; one that cannot be decided
    (settled meanwhile by an earlier merge, rejected pairs) is skipped with the reason."""
    results: list[dict[str, Any]] = []
    for candidate_id in ids:
        now = utcnow()
        try:
            with hub.pipeline.sessions.begin() as session:
                if merge:
                    decision = merge_candidate(session, candidate_id, by=_user(), now=now)
                    if decision.survivor_id is not None:  # it keeps the further stage
                        hub.pipeline.routing.after_merges(session, [decision.survivor_id],
                                                          now)
                else:
                    decision = reject_candidate(session, candidate_id, by=_user(), now=now)
            results.append(decision.__dict__)
        except ReviewError as exc:
            results.append({"candidate_id": candidate_id, "status": "skipped",
                            "error": str(exc)})
    return results


def _render_decisions(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        _render_decision(row)
    counts = Counter(r["status"] for r in rows)
    click.echo(f"{counts['merged']} merged, {counts['rejected']} rejected, "
               f"{counts['skipped']} skipped")


def _render_decision(d: dict[str, Any]) -> None:
    if d["status"] == "skipped":
        click.echo(f"candidate {d['candidate_id']} skipped: {d['error']}")
    elif d["status"] == "rejected":
        click.echo(f"candidate {d['candidate_id']} rejected ({d['rejected_pairs']} record "
                   "pairs remembered)")
    else:
        click.echo(f"candidate {d['candidate_id']} merged into contact {d['survivor_id']}"
                   + (f" (merge {d['merge_id']}; undo with `crmhub unmerge {d['merge_id']}`)"
                      if d["merge_id"] else ""))


EXPORT_SIDES = ("name", "emails", "phones", "company", "city", "birthday", "sources")
MERGE_WORDS = {"merge", "merged", "yes", "y", "same", "accept", "oui"}
REJECT_WORDS = {"reject", "rejected", "no", "n", "different", "non"}


@review_group.command("export")
@click.option("--out", "out_path", type=click.Path(path_type=Path),
              help="The CSV file to write (default: standard output).")
@click.option("--limit", default=10_000, show_default=True)
@config_option
def review_export(out_path: Path | None, limit: int, config_path: Path) -> None:
    """The open contact candidates as a CSV to decide in a spreadsheet: both contacts side
    by side, best score first, and an empty `decision` column (merge or reject) that
    `crmhub review import` reads back."""
    hub = open_hub(config_path)
    with hub.pipeline.sessions() as session:
        rows = list_candidates(session, limit=limit)
        ids = sorted({r[s] for r in rows for s in ("left_contact", "right_contact")})
        people = {row["id"]: row for start in range(0, len(ids), 500)
                  for row in export_objects(session, list(session.scalars(
                      select(Contact).where(Contact.id.in_(ids[start:start + 500])))))}
    header = ["id", "decision", "score", "levels", "left_contact", "right_contact",
              *(f"{side}_{field}" for field in EXPORT_SIDES for side in ("left", "right"))]
    handle = out_path.open("w", newline="", encoding="utf-8") if out_path else sys.stdout
    try:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in rows:
            sides = [_side(people.get(r["left_contact"], {})),
                     _side(people.get(r["right_contact"], {}))]
            writer.writerow([r["id"], "", r["score"], _levels(r["comparison"]),
                             r["left_contact"], r["right_contact"],
                             *(side[field] for field in EXPORT_SIDES for side in sides)])
    finally:
        if out_path:
            handle.close()
    if out_path:
        click.echo(f"{len(rows)} candidate(s) written to {out_path}", err=True)


def _side(person: dict[str, Any]) -> dict[str, str]:
    return {"name": person.get("full_name") or "",
            "emails": "; ".join(e["value"] for e in person.get("emails") or []),
            "phones": "; ".join(p["value"] for p in person.get("phones") or []),
            "company": (person.get("company") or {}).get("name") or "",
            "city": (person.get("address") or {}).get("city") or "",
            "birthday": person.get("birthday") or "",
            "sources": "; ".join(s["connector"] for s in person.get("sources") or [])}


@review_group.command("import")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Read and check the decisions; apply none.")
@config_option
@json_option
def review_import(csv_path: Path, dry_run: bool, config_path: Path, as_json: bool) -> None:
    """Apply the decisions of a `crmhub review export` file: each row's `decision` (merge
    or reject; yes/no, same/different, oui/non work too; empty: left open)."""
    merges: list[int] = []
    rejects: list[int] = []
    problems: list[str] = []
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"id", "decision"} <= set(reader.fieldnames):
            fail(f"{csv_path}: needs the columns id and decision (a `crmhub review export` "
                 "file)", 2)
        for line, row in enumerate(reader, start=2):
            word = (row.get("decision") or "").strip().lower()
            if not word:
                continue
            try:
                candidate_id = int(row["id"])
            except (TypeError, ValueError):
                problems.append(f"line {line}: id {row.get('id')!r} is not a number")
                continue
            if word in MERGE_WORDS:
                merges.append(candidate_id)
            elif word in REJECT_WORDS:
                rejects.append(candidate_id)
            else:
                problems.append(f"line {line}: decision {word!r}: write merge or reject")
    if problems:
        for problem in problems:
            click.echo(f"{csv_path}: {problem}", err=True)
        fail(f"{len(problems)} row(s) not understood; nothing applied", 2)
    if dry_run:
        emit({"merge": merges, "reject": rejects}, as_json, lambda d: click.echo(
            f"would merge {len(d['merge'])} and reject {len(d['reject'])} candidate(s)"))
        return
    hub = open_hub(config_path)
    results = _apply(hub, merges, merge=True) + _apply(hub, rejects, merge=False)
    emit(results, as_json, _render_decisions)


def _render_company_candidate(r: dict[str, Any]) -> None:
    click.echo(f"company candidate {r['id']} ({r['status']}): {r['comparison'].get('rule')}")
    for company in r["companies"]:
        click.echo(f"  company {company['id']}: {company['name']} ({company['country']}), "
                   f"domains {', '.join(company['domains']) or '-'}, "
                   f"{company['contacts']} contacts")


# -- crmhub companies --------------------------------------------------------------------


@click.group("companies")
def companies_group() -> None:
    """Companies: the golden record with its provenance, and manual merges."""


@companies_group.command("show")
@click.argument("company_id", type=int)
@config_option
@json_option
def companies_show(company_id: int, config_path: Path, as_json: bool) -> None:
    """One company: its values, where each came from, its domains and contacts."""
    hub = open_hub(config_path)
    with hub.pipeline.sessions() as session:
        view = company_view(session, company_id)
    if view is None:
        fail(f"no company {company_id}", 1)

    def render(c: dict[str, Any]) -> None:
        if c["merged_into"] is not None:
            click.echo(f"company {c['id']} was merged into {c['merged_into']}")
        click.echo(f"company {c['id']}: {c['name']} ({c['country'] or '-'}), "
                   f"{c['contacts']} contacts, domains {', '.join(c['domains']) or '-'}")
        for name in FIELDS:
            origin = c["provenance"].get(name)
            where = (f"{origin['connector']}:{origin['external_id']} "
                     f"({origin['observed_at']}), {origin['rule']}") if origin else "-"
            click.echo(f"  {name:10} {c[name]!s:30} {where}")

    emit(view, as_json, render)


@companies_group.command("set")
@click.argument("company_id", type=int)
@click.argument("assignments", nargs=-1, required=True)
@config_option
def companies_set(company_id: int, assignments: tuple[str, ...], config_path: Path) -> None:
    """Set values by hand (employees=250 industry=Logistics revenue=2.5M); they win over
    every source and show as `manual` in provenance. FIELD= withdraws a correction."""
    pairs = field_values(assignments, ", ".join(COMPANY_FIELDS))
    hub = open_hub(config_path)
    now = utcnow()
    try:
        with hub.pipeline.sessions.begin() as session:
            set_company_fields(session, company_id, pairs, now)
            staff = list(session.scalars(select(Contact.id).where(
                Contact.company_id == company_id, Contact.merged_into_id.is_(None),
                Contact.deleted_at.is_(None))))
            hub.pipeline.routing.rescore(session, staff, now)  # scores that read the company
    except ManualError as exc:
        fail(str(exc), 2)
    click.echo(f"company {company_id} updated: {', '.join(sorted(pairs))}")


@companies_group.command("merge")
@click.argument("survivor_id", type=int)
@click.argument("merged_id", type=int)
@config_option
@json_option
def companies_merge(survivor_id: int, merged_id: int, config_path: Path,
                    as_json: bool) -> None:
    """Fold MERGED_ID into SURVIVOR_ID (domains, records, contacts); undo with unmerge."""
    hub = open_hub(config_path)
    try:
        with hub.pipeline.sessions.begin() as session:
            event = merge_companies(session, survivor_id, merged_id, decided_by="user",
                                    reason=f"merged by {_user()}", now=utcnow())
            result = {"merge_id": event.id, "survivor_id": survivor_id,
                      "merged_id": merged_id}
    except CompanyMergeError as exc:
        fail(str(exc), 1)
    emit(result, as_json, lambda r: click.echo(
        f"company {r['merged_id']} merged into {r['survivor_id']} (merge {r['merge_id']}; "
        f"undo with `crmhub unmerge {r['merge_id']}`)"))


# -- crmhub unmerge ----------------------------------------------------------------------


@click.command("unmerge")
@click.argument("merge_id", type=int)
@config_option
@json_option
def unmerge_cmd(merge_id: int, config_path: Path, as_json: bool) -> None:
    """Undo a merge: both contacts back with their sources, interactions and owner."""
    hub = open_hub(config_path)
    try:
        with hub.pipeline.sessions.begin() as session:
            event = unmerge(session, merge_id, by=_user(), now=utcnow())
            result = {"merge_id": event.id, "entity": event.entity,
                      "survivor_id": event.survivor_id, "restored_id": event.merged_id}
    except ReviewError as exc:
        fail(str(exc), 1)
    emit(result, as_json, lambda r: click.echo(
        f"merge {r['merge_id']} undone: {r['entity']} {r['restored_id']} restored beside "
        f"{r['survivor_id']}"))


@click.command("split")
@click.argument("record_id", type=int)
@config_option
@json_option
def split_cmd(record_id: int, config_path: Path, as_json: bool) -> None:
    """Detach a source record from its contact into a contact of its own, remembered as a
    different person (undoes a join the matcher made without a merge)."""
    hub = open_hub(config_path)
    try:
        with hub.pipeline.sessions.begin() as session:
            event = split_record(session, record_id, by=_user(), now=utcnow())
            result = {"split_id": event.id, "source_record_id": record_id,
                      "contact_id": event.survivor_id, "new_contact_id": event.merged_id}
    except ReviewError as exc:
        fail(str(exc), 1)
    emit(result, as_json, lambda r: click.echo(
        f"record {r['source_record_id']} split off contact {r['contact_id']} into contact "
        f"{r['new_contact_id']}"))


COMMANDS = (match_group, review_group, companies_group, unmerge_cmd, split_cmd)
