"""``crmhub contacts`` (list, show, explain, set, rebuild) and ``crmhub export``."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

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
from hub.export import export_contacts, export_objects, write_csv, write_jsonl
from hub.ingest.manual import ManualError, set_fields, settable_fields
from hub.match.golden import rebuild_store
from hub.normalize import fold, is_free_mail_domain, normalize_phone
from hub.privacy import consent
from hub.routing.model import Assignment, ContactScore, StageChange
from hub.service.runtime import Hub
from hub.store.model import Contact, MatchKey, MergeEvent, SourceRecord

_PHONE_LIKE = re.compile(r"[\d\s().+/-]+")

# -- contacts / export -------------------------------------------------------------------


@click.group("contacts")
def contacts_group() -> None:
    """Read and correct contacts."""


@contacts_group.command("list")
@click.option("--limit", default=50, show_default=True)
@click.option("--search", help="Part of a name, e-mail or company (case and accents aside), "
              "or a phone number in any notation.")
@click.option("--as", "as_owner", help="Only what this owner may see.")
@config_option
@json_option
def contacts_list(limit: int, search: str | None, as_owner: str | None, config_path: Path,
                  as_json: bool) -> None:
    """List contacts."""
    hub = open_hub(config_path)
    visible = visible_to(hub, as_owner)
    found = Search(search, hub.config.hub.default_region) if search else None
    rows = []
    with hub.pipeline.sessions() as session:
        for row in export_contacts(session, visible=visible):
            if found is not None and not found.matches(row):
                continue
            rows.append(row)
            if len(rows) >= limit:
                break

    def render(data: list[dict[str, Any]]) -> None:
        table([{"id": r["id"], "name": r["full_name"],
                "email": best_email(r["emails"]),
                "phone": next((p["value"] for p in r["phones"]), None),
                "company": (r["company"] or {}).get("name"), "sources": len(r["sources"]),
                "owner": r["owner"]} for r in data],
              ["id", "name", "email", "phone", "company", "sources", "owner"])

    emit(rows, as_json, render)


class Search:
    """``--search``: folded text (case and accents aside) in the names, e-mails and
    company; a phone number in any notation (``04 72 00 11 22``, ``+33472001122``)."""

    def __init__(self, text: str, region: str | None) -> None:
        self.text = fold(text)
        digits = "".join(c for c in text if c.isdigit())
        # Only digits and a phone's punctuation, six digits at least: a number, or part of one.
        self.digits = digits if len(digits) >= 6 and _PHONE_LIKE.fullmatch(text) else None
        parsed = normalize_phone(text, region) if self.digits else None
        self.phone = parsed.e164 if parsed is not None and parsed.valid else None

    def matches(self, row: dict[str, Any]) -> bool:
        phones = [str(p["value"]) for p in row["phones"]]
        if self.phone is not None and self.phone in phones:
            return True
        if self.digits is not None and any(self.digits in re.sub(r"\D", "", phone)
                                           for phone in phones):
            return True
        names = [row["full_name"], row["given_name"], row["family_name"],
                 (row["company"] or {}).get("name"), *(e["value"] for e in row["emails"])]
        return any(self.text in fold(str(n)) for n in names if n)


def best_email(points: list[dict[str, Any]]) -> str | None:
    """The e-mail to show first: the primary, else a work address (by label, then by
    domain: not a free-mail provider), else the first."""
    if not points:
        return None

    def rank(point: dict[str, Any]) -> tuple[bool, bool, bool]:
        value = str(point["value"])
        return (bool(point.get("primary")), "work" in str(point.get("label") or "").lower(),
                not is_free_mail_domain(value.rpartition("@")[2]))

    return str(max(points, key=rank)["value"])


def _contact_row(hub: Hub, contact_id: int, as_owner: str | None = None) -> dict[str, Any]:
    visible = visible_to(hub, as_owner)
    with hub.pipeline.sessions() as session:
        contact = session.get(Contact, contact_id)
        if contact is None or (visible is not None and session.scalar(
                select(Contact.id).where(Contact.id == contact_id, visible)) is None):
            fail(f"no contact {contact_id}" + (f" visible to {as_owner}" if as_owner else ""))
        assert contact is not None
        if contact.merged_into_id is not None:
            fail(f"contact {contact_id} was merged into {contact.merged_into_id}")
        row = next(export_objects(session, [contact]))
        row["provenance"] = contact.provenance
        row["flags"] = contact.flags
        row["merges"] = [{"id": m.id, "survivor_id": m.survivor_id, "merged_id": m.merged_id,
                          "score": m.score, "decided_by": m.decided_by, "reason": m.reason,
                          "at": m.created_at.isoformat(),
                          "undone_at": m.undone_at.isoformat() if m.undone_at else None}
                         for m in session.scalars(select(MergeEvent).where(
                             (MergeEvent.survivor_id == contact_id)
                             | (MergeEvent.merged_id == contact_id)).order_by(MergeEvent.id))]
        score = session.get(ContactScore, contact_id)
        row["score_breakdown"] = score.breakdown if score is not None else []
        row["joins"] = _joins(session, contact_id)
        current = session.scalars(select(Assignment).where(
            Assignment.contact_id == contact_id, Assignment.current)).first()
        row["assignment"] = None if current is None else {
            "owner": current.owner, "queue": current.queue, "rule": current.rule,
            "strategy": current.strategy, "reason": current.reason, "by": current.by,
            "actor": current.actor, "at": current.at.isoformat()}
        row["stage_history"] = [
            {"from": c.from_stage, "to": c.to_stage, "rule": c.rule, "by": c.by,
             "at": c.at.isoformat()}
            for c in session.scalars(select(StageChange).where(
                StageChange.contact_id == contact_id).order_by(StageChange.at, StageChange.id))]
        return row


# What the blocking key kinds (hub.match.blocking) mean, for a person reading `explain`.
_KEY_NAMES = {"fi": "family name + initial", "ph_co": "family name + company",
              "ph_pc": "family name + postcode", "f3_city": "family name + city",
              "f3_dob": "family name + birthday", "gn_dob": "given name + birthday",
              "gn_pc": "given name + postcode", "dob_pc": "birthday + postcode",
              "dob_city": "birthday + city", "st_pc": "street + postcode",
              "dob_st": "birthday + street"}


def _joins(session: Any, contact_id: int) -> list[dict[str, Any]]:
    """How matching placed each of the contact's records with the others: its score, and
    the kinds of keys it shares with them (what found the candidate)."""
    keys: dict[int, set[tuple[str, str]]] = {}
    for record_id, kind, key in session.execute(
            select(MatchKey.source_record_id, MatchKey.kind, MatchKey.key)
            .where(MatchKey.contact_id == contact_id)):
        keys.setdefault(record_id, set()).add((kind, key))
    joins = []
    for record_id, connector, external_id, joined in session.execute(
            select(SourceRecord.id, SourceRecord.connector, SourceRecord.external_id,
                   SourceRecord.joined)
            .where(SourceRecord.contact_id == contact_id, SourceRecord.deleted_at.is_(None),
                   SourceRecord.joined.is_not(None))
            .order_by(SourceRecord.connector, SourceRecord.external_id)):
        mine = keys.get(record_id, set())
        shared = {_KEY_NAMES.get(kind, kind) for other, theirs in keys.items()
                  if other != record_id for kind, _ in mine & theirs}
        joins.append({"connector": connector, "external_id": external_id, **joined,
                      "found_by": sorted(shared)})
    return joins


@contacts_group.command("show")
@click.argument("contact_id", type=int)
@click.option("--as", "as_owner", help="Only if this owner may see it.")
@config_option
@json_option
def contacts_show(contact_id: int, as_owner: str | None, config_path: Path,
                  as_json: bool) -> None:
    """One golden record."""
    row = _contact_row(open_hub(config_path), contact_id, as_owner)
    emit(row, as_json, lambda r: click.echo(json.dumps(
        {k: v for k, v in r.items() if k != "provenance"}, indent=2, ensure_ascii=False)))


@contacts_group.command("explain")
@click.argument("contact_id", type=int)
@click.option("--as", "as_owner", help="Only if this owner may see it.")
@config_option
@json_option
def contacts_explain(contact_id: int, as_owner: str | None, config_path: Path,
                     as_json: bool) -> None:
    """Where each value of a contact came from, every merge it took part in, and who owns
    it and why."""
    row = _contact_row(open_hub(config_path), contact_id, as_owner)

    def render(r: dict[str, Any]) -> None:
        click.echo(f"contact {r['id']}: {r['full_name']}")
        for name, origin in sorted(r["provenance"].items()):
            click.echo(f"  {name:28} {origin['connector']}:{origin['external_id']}  "
                       f"observed {origin['observed_at']}  ({origin['rule']})")
        for m in r["merges"]:
            undone = f" (undone {m['undone_at']})" if m["undone_at"] else ""
            click.echo(f"  merge {m['id']}: {m['merged_id']} -> {m['survivor_id']} "
                       f"by {m['decided_by']}, score {m['score']}: {m['reason']}{undone}")
        for j in r["joins"]:
            levels = ", ".join(f"{k} {v}" for k, v in sorted(j["levels"].items()))
            found = ", ".join(j["found_by"]) or "-"
            click.echo(f"  joined: {j['connector']}:{j['external_id']} matched with "
                       f"probability {j['probability']} (weight {j['weight']}), found by "
                       f"{found}: {levels}")
        for flag in r["flags"]:
            click.echo(f"  flag: {flag}")
        a = r["assignment"]
        if a is None:
            click.echo(f"  owner {r['owner'] or '-'}: never routed")
        else:
            how = f"by {a['actor'] or 'a user'}" if a["by"] == "user" else \
                f"rule {a['rule'] or 'fallback'} ({a['strategy']})"
            click.echo(f"  owner {a['owner'] or 'queue ' + str(a['queue'])}: {how}, "
                       f"{a['reason']}, {a['at']} (`crmhub assign explain` for the rest)")
        click.echo(f"  stage {r['stage']}, score {r['score']}")
        for item in r["score_breakdown"]:
            click.echo(f"    score {item['points']:+g}  {item['name']}")
        for change in r["stage_history"]:
            cause = f"rule {change['rule']}" if change["rule"] else f"by {change['by']}"
            click.echo(f"    {change['at']}  {change['from'] or '-'} -> {change['to']}  "
                       f"({cause})")

    emit({key: row[key] for key in ("id", "full_name", "provenance", "merges", "joins",
                                    "flags", "owner", "assignment", "stage", "score",
                                    "score_breakdown", "stage_history")},
         as_json, render)


@contacts_group.command("set")
@click.argument("contact_id", type=int)
@click.argument("assignments", nargs=-1)
@click.option("--opt-out", "opt_out", multiple=True, metavar="POINT",
              help="Opt out: email (every e-mail of the contact), phone, or one address or "
                   "number. Repeatable.")
@click.option("--consent", "consented", multiple=True, metavar="POINT",
              help="Record consent: email, phone, or one address or number. Repeatable.")
@config_option
def contacts_set(contact_id: int, assignments: tuple[str, ...], opt_out: tuple[str, ...],
                 consented: tuple[str, ...], config_path: Path) -> None:
    """Correct fields by hand (FIELD=VALUE ...); wins over every connector. --opt-out and
    --consent record a person's wish about an e-mail or phone (source `manual`)."""
    if not (assignments or opt_out or consented):
        fail("name FIELD=VALUE pairs, --opt-out or --consent", 2)
    pairs = field_values(assignments, settable_fields()) if assignments else {}
    hub = open_hub(config_path)
    said: list[str] = []
    try:
        with hub.pipeline.sessions.begin() as session:
            if pairs:
                set_fields(session, contact_id, pairs, hub.pipeline.policy)
            for wish, status in ((opt_out, consent.OPT_OUT), (consented, consent.CONSENT)):
                for point in consent.set_by_hand(session, contact_id, wish, status,
                                                 hub.config.hub.default_region,
                                                 datetime.now(UTC)):
                    said.append(f"{status.replace('_', '-')} {point}")
    except (ManualError, ValueError) as exc:
        fail(str(exc), 2)
    click.echo(f"contact {contact_id} updated: {', '.join([*sorted(pairs), *said])}")


@contacts_group.command("rebuild")
@click.argument("contact_ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every live contact.")
@config_option
@json_option
def contacts_rebuild(contact_ids: tuple[int, ...], everything: bool, config_path: Path,
                     as_json: bool) -> None:
    """Recompute golden records from their sources under the current survivorship policy
    (after changing [match.survivorship]); changed ones are rescored and announced."""
    if bool(contact_ids) == everything:
        fail("name contact ids or --all (not both)", 2)
    hub = open_hub(config_path)
    now = datetime.now(UTC)

    def show(done: int, total: int) -> None:
        if sys.stderr.isatty() and not as_json:
            click.echo(f"\r{done}/{total} contacts", nl=False, err=True)

    rebuilt, changed = rebuild_store(
        hub.pipeline.sessions, None if everything else list(contact_ids), now,
        after=lambda session, ids: hub.pipeline.routing.rescore(session, ids, now),
        progress=show)
    emit({"rebuilt": rebuilt, "changed": changed}, as_json, lambda r: click.echo(
        f"{r['rebuilt']} contacts rebuilt, {r['changed']} changed"))


@click.group("export")
def export_group() -> None:
    """Export golden records."""


@export_group.command("contacts")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@click.option("--as", "as_owner", help="Only what this owner may see.")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="File (default stdout).")
@config_option
def export_contacts_cmd(fmt: str, as_owner: str | None, output: Path | None,
                        config_path: Path) -> None:
    """Every live contact with its golden record, provenance and source keys."""
    hub = open_hub(config_path)
    out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    with hub.pipeline.sessions() as session:
        rows = export_contacts(session, visible=visible_to(hub, as_owner))
        count = write_csv(rows, out) if fmt == "csv" else write_jsonl(rows, out)
    if output:
        out.close()
        click.echo(f"{count} contacts written to {output}", err=True)


