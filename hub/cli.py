"""``crmhub``: the command line (DESIGN.md §6). Exit codes: 0 ok, 1 failure, 2 usage/config."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from hub import __version__
from hub.config import DEFAULT_CONFIG, ConfigError, load_config
from hub.logs import configure_logging, describe_error
from hub.plugins import HubPlugins
from hub.secrets import SecretError
from hub.service.runtime import Hub, connector_settings
from hub.store.db import SchemaError, current_revision, head_revision, make_engine, upgrade
from hub.store.model import Contact, MergeEvent, QuarantineItem, SyncState

F = TypeVar("F", bound=Callable[..., Any])


def _default_config() -> Path:
    return Path(os.environ.get("CRMHUB_CONFIG") or DEFAULT_CONFIG)


def config_option(func: F) -> F:
    return click.option("--config", "config_path", type=click.Path(path_type=Path),
                        default=_default_config, show_default="$CRMHUB_CONFIG or "
                        f"{DEFAULT_CONFIG}", help="Main config file (conf.d/ beside it).")(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(func)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def open_hub(config_path: Path, create: bool = False) -> Hub:
    """The hub, or a clear message and exit: 2 for config errors, 1 for the database."""
    try:
        hub = Hub.open(config_path, create=create)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        click.echo("configuration invalid: run `crmhub config check` for details", err=True)
        sys.exit(2)
    except SchemaError as exc:
        fail(str(exc), 1)
    except SQLAlchemyError as exc:
        fail(f"cannot use the database: {describe_error(exc)}", 1)
    _logging(hub)
    return hub


def _logging(hub: Hub) -> None:
    cfg = hub.config.hub
    fmt = cfg.log_format if cfg.log_format != "auto" else \
        ("text" if sys.stderr.isatty() else "json")
    configure_logging(cfg.log_level, json=fmt == "json", mask_pii=cfg.mask_pii,
                      stream=sys.stderr)


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        render(data)


def table(rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    rows = list(rows)
    if not rows:
        click.echo("(none)")
        return
    text = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [min(max(len(c), *(len(t[i]) for t in text)), 48) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for t in text:
        click.echo("  ".join(v[:w].ljust(w) for v, w in zip(t, widths, strict=True)).rstrip())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crmhub")
def main() -> None:
    """crmhub: contacts from every source in one deduplicated, routed model."""


# -- run / sync / status ---------------------------------------------------------------


@main.command()
@config_option
def run(config_path: Path) -> None:
    """Run the daemon: every connector at its interval, until SIGTERM."""
    from hub.service.daemon import Daemon
    from hub.service.sync import tune_gc

    hub = open_hub(config_path, create=True)
    tune_gc()
    daemon = Daemon(config_path, hub)
    daemon.install_signals()
    sys.exit(daemon.serve())


@main.command()
@click.argument("name")
@click.option("--full", is_flag=True, help="Re-read everything, ignoring the cursor.")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--allow-deletes", is_flag=True, help="Apply a held mass delete.")
@config_option
@json_option
def sync(name: str, full: bool, dry_run: bool, allow_deletes: bool, config_path: Path,
         as_json: bool) -> None:
    """Sync one connector now, then exit."""
    from hub.service.sync import run_sync, tune_gc

    hub = open_hub(config_path, create=True)
    tune_gc()
    try:
        hub.config.connector(name)
    except KeyError as exc:
        fail(str(exc.args[0]), 2)
    show = sys.stderr.isatty() and not as_json

    def progress(report: Any) -> None:
        if show:
            s = report.stats
            click.echo(f"\r{name}: {report.batches} batches, {s.received} records "
                       f"({s.created} new, {s.updated} changed, {s.quarantined} quarantined)",
                       nl=False, err=True)

    report = run_sync(hub, name, full=full, dry_run=dry_run, allow_deletes=allow_deletes,
                      progress=progress)
    if show:
        click.echo("", err=True)
    data = report.as_dict() | {"dry_run": dry_run}

    def render(d: dict[str, Any]) -> None:
        if report.error_kind == "busy":
            click.echo(f"{name}: not started, {d['error']}", err=True)
            return
        head = "would change (dry run)" if dry_run else "done"
        click.echo(f"{name}: {head} in {d['seconds']}s — {d['received']} records: "
                   f"{d['created']} new, {d['updated']} changed, {d['unchanged']} unchanged, "
                   f"{d['deleted']} deleted, {d['quarantined']} quarantined, "
                   f"{d['skipped_own']} own people skipped; {d['contacts_created']} contacts "
                   f"created, {d['merged']} merged")
        if d["held"]:
            click.echo(f"HELD: {d['held']}")
        if d["error"]:
            click.echo(f"FAILED: {d['error']}", err=True)

    emit(data, as_json, render)
    hub.close()
    sys.exit(0 if report.ok and not report.stats.held else 1)


@main.command()
@config_option
@json_option
def status(config_path: Path, as_json: bool) -> None:
    """Per connector: last success, last error, records, lag."""
    hub = open_hub(config_path)
    now = datetime.now(UTC)
    rows = []
    with hub.pipeline.sessions() as session:
        for cfg in hub.config.connectors:
            state = session.get(SyncState, cfg.name)
            last = state.last_success if state else None
            if not cfg.enabled:
                label = "disabled"
            elif state is None or state.last_attempt is None:
                label = "never run"
            elif state.held:
                label = "held"
            elif state.consecutive_failures:
                label = f"failing ({state.consecutive_failures}x)"
            else:
                label = "ok"
            rows.append({
                "name": cfg.name, "kind": cfg.kind,
                "last_success": last.isoformat() if last else None,
                "last_error": state.last_error if state else None,
                "records": state.records if state else 0,
                "lag_s": round((now - last).total_seconds()) if last else None,
                "state": label, "held": state.held if state else None,
                "next_run": state.next_run.isoformat() if state and state.next_run else None,
            })
        contacts = session.scalar(select(func.count()).select_from(Contact).where(
            Contact.merged_into_id.is_(None), Contact.deleted_at.is_(None))) or 0
        open_items = session.scalar(select(func.count()).select_from(QuarantineItem).where(
            QuarantineItem.status == "open")) or 0
        from hub.assign.delivery import delivery_status

        notifications = delivery_status(session)
    data = {"connectors": rows, "contacts": contacts, "quarantine_open": open_items,
            "notifications": notifications}

    def render(d: dict[str, Any]) -> None:
        table(d["connectors"], ["name", "kind", "state", "records", "last_success", "lag_s",
                                "last_error"])
        click.echo(f"\n{d['contacts']} contacts; {d['quarantine_open']} quarantined item(s)")
        if d["notifications"]:
            click.echo("\nnotifications:")
            table(d["notifications"], ["sink", "delivered", "pending", "failing", "dead",
                                       "next_attempt", "last_error"])

    emit(data, as_json, render)


# -- config / plugins / db -----------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Configuration."""


@config_group.command("check")
@config_option
def config_check(config_path: Path) -> None:
    """Validate the config files and every connector's settings (exit 2 on errors)."""
    try:
        loaded = load_config(config_path)
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        click.echo(f"{len(exc.issues)} error(s)", err=True)
        sys.exit(2)
    plugins = HubPlugins.load()
    _, issues = connector_settings(loaded, plugins)
    try:
        from hub.assign.engine import Routing

        Routing.load(loaded.config, plugins)  # the rules and scoring files
    except ConfigError as exc:
        issues.extend(exc.issues)
    for info in plugins.infos.values():
        if info.error:
            click.echo(f"warning: plugin {info.name} disabled: {info.error}", err=True)
    if issues:
        for issue in issues:
            click.echo(str(issue), err=True)
        click.echo(f"{len(issues)} error(s)", err=True)
        sys.exit(2)
    files = ", ".join(str(f) for f in loaded.files)
    click.echo(f"ok: {len(loaded.config.connectors)} connector(s) from {files}")


@main.command()
@json_option
def plugins(as_json: bool) -> None:
    """List plugins: name, version, hooks, load errors."""
    loaded = HubPlugins.load()
    rows = [{"name": i.name, "version": i.version, "module": i.module, "hooks": i.hooks,
             "error": i.error} for i in loaded.infos.values()]
    kinds = {k: loaded.provider_of("crmhub_register_connectors", k)
             for k in loaded.connector_classes()}

    def render(data: dict[str, Any]) -> None:
        table([{**r, "hooks": ", ".join(h.removeprefix("crmhub_") for h in r["hooks"]),
                "error": r["error"] or "ok"} for r in data["plugins"]],
              ["name", "version", "hooks", "error"])
        click.echo("\nconnector kinds: " + ", ".join(
            f"{k} ({p})" for k, p in sorted(data["connector_kinds"].items())))

    emit({"plugins": rows, "connector_kinds": kinds}, as_json, render)


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@config_option
def db_upgrade(config_path: Path) -> None:
    """Apply schema migrations."""
    try:
        url = load_config(config_path).config.hub.url()
    except (ConfigError, SecretError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        upgrade(engine)
    except SchemaError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"cannot use the database: {describe_error(exc)}")
    click.echo(f"database at {head_revision()} (was {before or 'empty'})")


@db_group.command("current")
@config_option
def db_current(config_path: Path) -> None:
    """Print the schema revision of the database and the one this crmhub needs."""
    url = load_config(config_path).config.hub.url()
    click.echo(f"database: {current_revision(make_engine(url)) or 'empty'}; "
               f"this crmhub: {head_revision()}")


# -- contacts / export -------------------------------------------------------------------


@main.group("contacts")
def contacts_group() -> None:
    """Read and correct contacts."""


@contacts_group.command("list")
@click.option("--limit", default=50, show_default=True)
@click.option("--search", help="Substring of the name or e-mail.")
@click.option("--as", "as_owner", help="Only what this owner may see.")
@config_option
@json_option
def contacts_list(limit: int, search: str | None, as_owner: str | None, config_path: Path,
                  as_json: bool) -> None:
    """List contacts."""
    from hub.export import export_contacts

    hub = open_hub(config_path)
    visible = visible_to(hub, as_owner)
    rows = []
    with hub.pipeline.sessions() as session:
        for row in export_contacts(session, visible=visible):
            text = json.dumps([row["full_name"], row["emails"]], ensure_ascii=False).lower()
            if search and search.lower() not in text:
                continue
            rows.append(row)
            if len(rows) >= limit:
                break

    def render(data: list[dict[str, Any]]) -> None:
        table([{"id": r["id"], "name": r["full_name"],
                "email": next((e["value"] for e in r["emails"]), None),
                "phone": next((p["value"] for p in r["phones"]), None),
                "company": (r["company"] or {}).get("name"), "sources": len(r["sources"]),
                "owner": r["owner"]} for r in data],
              ["id", "name", "email", "phone", "company", "sources", "owner"])

    emit(rows, as_json, render)


def _contact_row(hub: Hub, contact_id: int, as_owner: str | None = None) -> dict[str, Any]:
    from hub.export import export_objects

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
                          "at": m.created_at.isoformat(), "undone_at": m.undone_at}
                         for m in session.scalars(select(MergeEvent).where(
                             (MergeEvent.survivor_id == contact_id)
                             | (MergeEvent.merged_id == contact_id)).order_by(MergeEvent.id))]
        return row


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
    """Where each value of a contact came from, and every merge it took part in."""
    row = _contact_row(open_hub(config_path), contact_id, as_owner)

    def render(r: dict[str, Any]) -> None:
        click.echo(f"contact {r['id']}: {r['full_name']}")
        for name, origin in sorted(r["provenance"].items()):
            click.echo(f"  {name:28} {origin['connector']}:{origin['external_id']}  "
                       f"observed {origin['observed_at']}  ({origin['rule']})")
        for m in r["merges"]:
            click.echo(f"  merge {m['id']}: {m['merged_id']} -> {m['survivor_id']} "
                       f"by {m['decided_by']}, score {m['score']}: {m['reason']}")
        for flag in r["flags"]:
            click.echo(f"  flag: {flag}")

    emit({"id": row["id"], "provenance": row["provenance"], "merges": row["merges"],
          "flags": row["flags"], "full_name": row["full_name"]}, as_json, render)


@contacts_group.command("set")
@click.argument("contact_id", type=int)
@click.argument("assignments", nargs=-1, required=True)
@config_option
def contacts_set(contact_id: int, assignments: tuple[str, ...], config_path: Path) -> None:
    """Correct fields by hand (FIELD=VALUE ...); wins over every connector."""
    from hub.ingest.manual import ManualError, set_fields

    pairs = {}
    for item in assignments:
        if "=" not in item:
            fail(f"{item!r} is not FIELD=VALUE", 2)
        key, value = item.split("=", 1)
        pairs[key.strip()] = value.strip()
    hub = open_hub(config_path)
    try:
        with hub.pipeline.sessions.begin() as session:
            set_fields(session, contact_id, pairs, hub.pipeline.policy)
    except ManualError as exc:
        fail(str(exc), 2)
    click.echo(f"contact {contact_id} updated: {', '.join(sorted(pairs))}")


@contacts_group.command("rebuild")
@click.argument("contact_ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every live contact.")
@config_option
@json_option
def contacts_rebuild(contact_ids: tuple[int, ...], everything: bool, config_path: Path,
                     as_json: bool) -> None:
    """Recompute golden records from their sources under the current survivorship policy
    (after changing [match.survivorship]); changed ones are rescored and announced."""
    from hub.match.golden import rebuild_store

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


@main.group("export")
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
    """Every live contact with the export keys of DESIGN.md §6."""
    from hub.export import export_contacts, write_csv, write_jsonl

    hub = open_hub(config_path)
    out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    with hub.pipeline.sessions() as session:
        rows = export_contacts(session, visible=visible_to(hub, as_owner))
        count = write_csv(rows, out) if fmt == "csv" else write_jsonl(rows, out)
    if output:
        out.close()
        click.echo(f"{count} contacts written to {output}", err=True)


# -- quarantine ----------------------------------------------------------------------------


@main.group("quarantine")
def quarantine_group() -> None:
    """Rejected input and why."""


def reveal_option(func: F) -> F:
    return click.option("--reveal", is_flag=True, help="Show e-mails, phone numbers and "
                        "names as stored (masked by default).")(func)


@quarantine_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include retried items.")
@click.option("--connector")
@click.option("--limit", default=100, show_default=True)
@reveal_option
@config_option
@json_option
def quarantine_list(show_all: bool, connector: str | None, limit: int, reveal: bool,
                    config_path: Path, as_json: bool) -> None:
    """List quarantined input (personal data masked unless --reveal)."""
    from hub.service.quarantine import item_dict, list_items

    hub = open_hub(config_path)
    with hub.pipeline.sessions() as session:
        rows = [item_dict(i, reveal=reveal)
                for i in list_items(session, status=None if show_all else "open",
                                    connector=connector, limit=limit)]
    emit(rows, as_json, lambda d: table(d, ["id", "connector", "location", "external_id",
                                            "status", "reason"]))


@quarantine_group.command("show")
@click.argument("item_id", type=int)
@reveal_option
@config_option
@json_option
def quarantine_show(item_id: int, reveal: bool, config_path: Path, as_json: bool) -> None:
    """One quarantined item with its payload (personal data masked unless --reveal)."""
    from hub.service.quarantine import item_dict

    hub = open_hub(config_path)
    with hub.pipeline.sessions() as session:
        item = session.get(QuarantineItem, item_id)
        if item is None:
            fail(f"no quarantine item {item_id}")
        assert item is not None
        data = item_dict(item, full=True, reveal=reveal)
    emit(data, as_json, lambda d: click.echo(json.dumps(d, indent=2, ensure_ascii=False)))


@quarantine_group.command("retry")
@click.argument("item_ids", type=int, nargs=-1)
@click.option("--connector")
@config_option
@json_option
def quarantine_retry(item_ids: tuple[int, ...], connector: str | None, config_path: Path,
                     as_json: bool) -> None:
    """Retry open items (all, or the given ids) after a config or mapping fix."""
    from hub.service.quarantine import retry

    hub = open_hub(config_path, create=True)
    result = retry(hub, list(item_ids) or None, connector)
    def render(r: dict[str, Any]) -> None:
        click.echo(f"{r['retried']} item(s) retried: re-read "
                   f"{', '.join(x['connector'] for x in r['reread']) or 'no source'}, "
                   f"{r['reingested']} observation(s) re-ingested; "
                   f"{r['still_open']} still rejected")
        if r["cannot_retry"]:
            click.echo(f"{len(r['cannot_retry'])} item(s) cannot be retried: their source "
                       "is consumed (a drop-folder file is in done/); drop the fixed file "
                       "again, then `crmhub quarantine purge` them")

    emit(result, as_json, render)


@quarantine_group.command("purge")
@click.argument("item_ids", type=int, nargs=-1)
@click.option("--older-than", type=int, help="Days; default: every retried item.")
@config_option
def quarantine_purge(item_ids: tuple[int, ...], older_than: int | None,
                     config_path: Path) -> None:
    """Delete quarantined items."""
    from hub.service.quarantine import purge

    hub = open_hub(config_path)
    with hub.pipeline.sessions.begin() as session:
        count = purge(session, older_than_days=older_than, ids=list(item_ids) or None)
    click.echo(f"{count} item(s) purged")


def _register_matching() -> None:
    """``crmhub match``, ``review`` and ``unmerge`` live beside the matcher."""
    from hub.match.cli import COMMANDS

    for command in COMMANDS:
        main.add_command(command)



def visible_to(hub: Hub, as_owner: str | None) -> Any:
    """The one read filter for ``--as`` (rep: own; manager: reports'; admin: all)."""
    if as_owner is None:
        return None
    from hub.assign.cli import load_routing
    from hub.assign.visibility import VisibilityError, contact_filter

    try:
        return contact_filter(load_routing(hub).ruleset, as_owner)
    except VisibilityError as exc:
        fail(str(exc), 2)


if __name__ == "__main__":
    # ``python -m hub.cli``: this copy is ``__main__``, but command modules import and
    # extend the importable ``hub.cli``; run that one.
    from hub.cli import main as _main

    _main()
else:
    _register_matching()
    import hub.assign.cli  # noqa: F401  (it registers ``assign`` and ``rules`` on main)
