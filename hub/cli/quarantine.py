"""``crmhub quarantine``: list, show, retry, purge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from hub.cli.common import F, config_option, emit, fail, json_option, open_hub, table
from hub.service.quarantine import item_dict, list_items, purge, retry
from hub.store.model import QuarantineItem

# -- quarantine ----------------------------------------------------------------------------


@click.group("quarantine")
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
    hub = open_hub(config_path, create=True, sources=True)
    result = retry(hub, list(item_ids) or None, connector)
    def render(r: dict[str, Any]) -> None:
        sources = ", ".join(x["connector"] for x in r["reread"])
        how = f"re-read {sources}" + (f" and re-ingested {r['reingested']} stored "
                                      "observation(s)" if r["reingested"] else "") \
            if sources else f"re-ingested {r['reingested']} stored observation(s)"
        click.echo(f"{r['retried']} item(s) retried ({how}): {r['stored']} record(s) "
                   f"stored, {r['still_open']} still rejected")
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
    hub = open_hub(config_path)
    with hub.pipeline.sessions.begin() as session:
        count = purge(session, older_than_days=older_than, ids=list(item_ids) or None)
    click.echo(f"{count} item(s) purged")


