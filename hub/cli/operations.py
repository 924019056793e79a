"""``crmhub run``, ``sync``, ``status``, ``connectors check``, ``config check``, ``plugins``,
``plugin new`` and ``db``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from hub.cli.common import config_option, emit, fail, json_option, open_hub, table
from hub.config import ConfigError, ConfigIssue, load_config
from hub.logs import describe_error
from hub.plugins import HubPlugins
from hub.routing.coverage import brought_channels, uncounted_channels
from hub.routing.delivery import delivery_status
from hub.routing.engine import Routing
from hub.scaffold import ScaffoldError, new_plugin
from hub.secrets import SecretError
from hub.service.daemon import Daemon
from hub.service.retention import last_run
from hub.service.runtime import connector_settings
from hub.service.sync import run_sync, tune_gc
from hub.store.db import SchemaError, current_revision, head_revision, make_engine, upgrade
from hub.store.model import Contact, QuarantineItem, SyncState
from hub.webhooks import WebhookConnector

# -- run / sync / status ---------------------------------------------------------------


@click.command()
@config_option
def run(config_path: Path) -> None:
    """Run the daemon: every connector at its interval, until SIGTERM."""
    hub = open_hub(config_path, create=True, sources=True)
    tune_gc()
    daemon = Daemon(config_path, hub)
    daemon.install_signals()
    sys.exit(daemon.serve())


#: ``crmhub sync``'s exit code for a run that did not fail but warns (nothing stored and
#: rows quarantined, a file with a header and no rows).
WARNED = 3


@click.command()
@click.argument("name")
@click.option("--full", is_flag=True, help="Re-read everything, ignoring the cursor.")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--allow-deletes", is_flag=True,
              help="Apply a held mass delete (re-reads everything, as --full).")
@config_option
@json_option
def sync(name: str, full: bool, dry_run: bool, allow_deletes: bool, config_path: Path,
         as_json: bool) -> None:
    """Sync one connector now, then exit: 0 when done, 1 when it failed (or a mailbox did,
    or a mass delete was held), 3 when done with a warning (rows quarantined and none
    stored, a file with a header and no rows)."""
    hub = open_hub(config_path, create=True, sources=True)
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

    # The held snapshot's cursor is stored: only a full read ends that snapshot again.
    report = run_sync(hub, name, full=full or allow_deletes, dry_run=dry_run,
                      allow_deletes=allow_deletes, progress=progress)
    if show:
        click.echo("", err=True)
    data = report.as_dict() | {"dry_run": dry_run}

    def render(d: dict[str, Any]) -> None:
        if report.error_kind == "busy":
            click.echo(f"{name}: not started, {d['error']}", err=True)
            return
        counts = (f"{d['received']} records: {d['created']} new, {d['updated']} changed, "
                  f"{d['unchanged']} unchanged, {d['deleted']} deleted, {d['quarantined']} "
                  f"quarantined, {d['skipped_own']} own people skipped; "
                  f"{d['contacts_created']} contacts created, {d['merged']} merged")
        if d["error"]:
            # The failure first: what was committed before it is the footnote.
            click.echo(f"{name}: FAILED after {d['seconds']}s: {d['error']}", err=True)
            click.echo(f"  committed before the failure ({d['batches']} batches): {counts}",
                       err=True)
            return
        head = "would change (dry run)" if dry_run else "done"
        click.echo(f"{name}: {head} in {d['seconds']}s — {counts}")
        for part, error in sorted(d["parts"].items()):
            if error is not None:
                click.echo(f"  FAILED {part}: {error}", err=True)
        if d["skipped"]:
            click.echo("  skipped: " + "; ".join(
                f"{count} {reason}" for reason, count in sorted(d["skipped"].items())))
        for warning in d["warnings"]:
            click.echo(f"WARNING: {warning}", err=True)
        if d["held"]:
            click.echo(f"HELD: {d['held']}")

    emit(data, as_json, render)
    hub.close()
    if not report.ok or report.stats.held or report.stats.failed_parts:
        sys.exit(1)
    sys.exit(WARNED if report.warnings and not dry_run else 0)


@click.command()
@config_option
@json_option
def status(config_path: Path, as_json: bool) -> None:
    """Per connector: last success, last error, records, lag."""
    hub = open_hub(config_path)
    now = datetime.now(UTC)
    rows = []
    classes = hub.plugins.connector_classes()
    push = {cfg.name for cfg in hub.config.connectors
            if issubclass(classes.get(cfg.kind, object), WebhookConnector)}
    waiting = hub.inbox.backlog() if push else {}
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
            elif failing := part_errors(state):
                label = f"degraded ({len(failing)} of {len(state.parts or {})} failing)"
            elif state.warning:
                label = "ok, with a warning"
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
                # push connectors: accepted requests not processed yet
                "inbox": waiting.get(cfg.name, 0) if cfg.name in push else None,
                # mailboxes and other parts that sync on their own, and what runs skipped
                "parts": dict(state.parts or {}) if state else {},
                "skipped": dict(state.skipped_total or {}) if state else {},
                "warning": state.warning if state else None,
            })
        contacts = session.scalar(select(func.count()).select_from(Contact).where(
            Contact.merged_into_id.is_(None), Contact.deleted_at.is_(None))) or 0
        open_items = session.scalar(select(func.count()).select_from(QuarantineItem).where(
            QuarantineItem.status == "open")) or 0
        notifications = delivery_status(session)
        retention = last_run(session)
    data = {"connectors": rows, "contacts": contacts, "quarantine_open": open_items,
            "notifications": notifications, "retention": retention}

    def render(d: dict[str, Any]) -> None:
        table(d["connectors"], ["name", "kind", "state", "records", "last_success", "lag_s",
                                "last_error"])
        for row in d["connectors"]:
            if row["warning"]:
                click.echo(f"{row['name']}: warning: {row['warning']}")
            for part, entry in sorted(row["parts"].items()):
                if entry.get("error"):
                    click.echo(f"{row['name']}: {part} failing since {entry['since']}: "
                               f"{entry['error']}")
            if row["skipped"]:
                click.echo(f"{row['name']} skipped: " + "; ".join(
                    f"{count} {reason}" for reason, count in sorted(row["skipped"].items())))
        click.echo(f"\n{d['contacts']} contacts; {d['quarantine_open']} quarantined item(s)")
        if d["retention"]:
            r = d["retention"]
            click.echo(f"last purge {r['at']}: {r['raw_payloads']} raw payloads, "
                       f"{r['quarantine_items']} quarantine items, {r['events']} events, "
                       f"{r['interactions']} interactions")
        else:
            click.echo("no purge has run yet (the daemon purges hourly; `crmhub retention "
                       "run`)")
        if d["notifications"]:
            click.echo("\nnotifications:")
            table(d["notifications"], ["sink", "delivered", "pending", "failing", "dead",
                                       "no_recipient", "next_attempt", "last_error"])

    emit(data, as_json, render)


def part_errors(state: SyncState) -> dict[str, str]:
    """The parts of a connector (its mailboxes) whose last sync failed, with the error."""
    return {part: str(entry["error"]) for part, entry in (state.parts or {}).items()
            if entry.get("error")}


@click.group("connectors")
def connectors_group() -> None:
    """The configured connectors."""


@connectors_group.command("check")
@click.argument("names", nargs=-1)
@config_option
@json_option
def connectors_check(names: tuple[str, ...], config_path: Path, as_json: bool) -> None:
    """Ask each connector (or the NAMES given) whether its source and credentials work,
    without syncing anything; exit 1 when one does not."""
    hub = open_hub(config_path, sources=True)
    try:
        chosen = [hub.config.connector(name) for name in names] if names else \
            [cfg for cfg in hub.config.connectors if cfg.enabled]
    except KeyError as exc:
        fail(str(exc.args[0]), 2)
        return
    rows = []
    for cfg in chosen:
        try:
            result = hub.connector(cfg.name).check()
            ok, message = result.ok, result.message
        except Exception as exc:  # a check that raises is a failed check, not a crash
            ok, message = False, f"{type(exc).__name__}: {describe_error(exc)}"
        rows.append({"name": cfg.name, "kind": cfg.kind, "ok": ok, "message": message})
    hub.close()

    def render(data: list[dict[str, Any]]) -> None:
        table([{**r, "ok": "ok" if r["ok"] else "FAILED"} for r in data],
              ["name", "kind", "ok", "message"])

    emit(rows, as_json, render)
    sys.exit(0 if all(r["ok"] for r in rows) else 1)


# -- config / plugins / db -----------------------------------------------------------------


@click.group("config")
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
    settings, issues = connector_settings(loaded, plugins)
    classes = plugins.connector_classes()
    for cfg in loaded.config.connectors:
        if not cfg.enabled or cfg.name not in settings:
            continue
        for problem in classes[cfg.kind].settings_problems(settings[cfg.name]):
            key = f"connectors[name={cfg.name}].settings.{problem.key}"
            file = loaded.connector_files.get(cfg.name, str(loaded.path))
            if problem.warning:
                click.echo(f"warning: {file}: {key}: {problem.message}", err=True)
            else:
                issues.append(ConfigIssue(file, key, problem.message, problem.hint))
    try:
        routing = Routing.load(loaded.config, plugins)  # the rules and scoring files
    except ConfigError as exc:
        issues.extend(exc.issues)
    else:
        warnings = [*(routing.ruleset.warnings if routing.ruleset else ()),
                    *uncounted_channels(routing, brought_channels(loaded, plugins))]
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
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


@click.group("plugin")
def plugin_group() -> None:
    """Writing plugins."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--directory", "-d", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="Where the project is written.")
def plugin_new(name: str, directory: Path) -> None:
    """Write a connector plugin project crmhub-NAME (connector, contract tests, README)."""
    try:
        root = new_plugin(name, directory)
    except ScaffoldError as exc:
        fail(str(exc), 2)
        return
    click.echo(f"wrote {root}: the connector kind {name!r} in {root / ('hub_' + name)}\n"
               f"next: cd {root} && python3 -m pip install -e '.[test]' && python3 -m pytest")


@click.command()
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


@click.group("db")
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


