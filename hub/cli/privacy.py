"""``crmhub person export|forget`` (data-protection requests) and ``crmhub retention run``."""

from __future__ import annotations

import getpass
import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from hub.cli.common import config_option, emit, fail, json_option, json_value, open_hub
from hub.ingest.batch import serialise_writers
from hub.privacy.access import access_document
from hub.privacy.forget import forget
from hub.privacy.people import NotFound, Subject, find_subject
from hub.privacy.suppression import SuppressionError, salt_of
from hub.secrets import SecretError
from hub.service.retention import run_retention
from hub.service.runtime import Hub

log = logging.getLogger("crmhub.privacy")


def _who(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed((
            click.option("--email", help="An e-mail address of the person."),
            click.option("--phone", help="A phone number of the person."),
            click.option("--contact", "contact_id", type=int, help="A contact id."))):
        func = option(func)
    return func


def _subject(hub: Hub, session: Any, email: str | None, phone: str | None,
             contact_id: int | None) -> Subject:
    if not (email or phone or contact_id is not None):
        fail("name the person: --email, --phone or --contact", 2)
    try:
        return find_subject(session, email=email, phone=phone, contact=contact_id,
                            region=hub.config.hub.default_region)
    except ValueError as exc:
        fail(str(exc), 2)
    except NotFound as exc:
        fail(str(exc), 1)
    raise AssertionError("unreachable")


@click.group("person")
def person_group() -> None:
    """Data-protection requests about one person: access (export) and erasure (forget)."""


@person_group.command("export")
@_who
@click.option("--format", "fmt", type=click.Choice(["json"]), default="json",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the document here (default: standard output).")
@config_option
def person_export(email: str | None, phone: str | None, contact_id: int | None, fmt: str,
                  out: Path | None, config_path: Path) -> None:
    """Everything held about a person, in one JSON document (right of access)."""
    hub = open_hub(config_path)
    with hub.pipeline.sessions() as session:
        subject = _subject(hub, session, email, phone, contact_id)
        document = access_document(session, subject, datetime.now(UTC))
    text = json.dumps(document, indent=2, ensure_ascii=False, default=json_value)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        os.chmod(out, 0o600)  # personal data: readable by its writer only
        click.echo(f"{out}: {len(subject.contacts)} contact(s)", err=True)
    log.info("person export: %d contact(s) written", len(subject.contacts))


@person_group.command("forget")
@_who
@click.option("--reason", help="Why (kept in the erasure log: no personal data here).")
@click.option("--dry-run", is_flag=True, help="List what would go; change nothing.")
@config_option
@json_option
def person_forget(email: str | None, phone: str | None, contact_id: int | None,
                  reason: str | None, dry_run: bool, config_path: Path, as_json: bool) -> None:
    """Erase a person everywhere, and keep them erased: later syncs drop their
    identifiers at ingest (right to erasure)."""
    hub = open_hub(config_path)
    salt = None
    if not dry_run:
        try:
            salt = salt_of(hub.config.privacy.suppression_salt)
        except (SuppressionError, SecretError) as exc:
            fail(str(exc), 2)
    now = datetime.now(UTC)
    actor = os.environ.get("SUDO_USER") or getpass.getuser()
    with hub.pipeline.sessions() as session:
        session.begin()
        serialise_writers(session)  # no batch stores them again meanwhile
        subject = _subject(hub, session, email, phone, contact_id)
        found = {contact: subject.found_by.get(contact) for contact in subject.contacts}
        counts = forget(session, subject, salt=salt, actor=actor, reason=reason, now=now,
                        region=hub.config.hub.default_region)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    result = {"dry_run": dry_run, **counts, "held_as": found}
    if not dry_run:
        log.info("person forgotten: erasure %s, %d contact(s), %d source record(s), "
                 "%d identifier(s) suppressed", counts.get("erasure_id"), len(found),
                 counts["source_records"], counts["suppressed_identifiers"])

    def render(r: dict[str, Any]) -> None:
        verb = "would erase" if r["dry_run"] else "erased"
        click.echo(f"{verb} {len(r['held_as'])} contact(s): " + ", ".join(
            f"{c} ({how})" for c, how in r["held_as"].items()))
        for key in ("source_records", "interactions", "interaction_seats", "merge_events",
                    "review_items", "rejections", "assignments", "scores", "stage_changes",
                    "events", "quarantine_items", "suppressed_identifiers"):
            click.echo(f"  {key.replace('_', ' ')}: {r[key]}")
        if not r["dry_run"]:
            click.echo(f"erasure {r['erasure_id']} logged; contact.erased emitted")

    emit(result, as_json, render)


@click.group("retention")
def retention_group() -> None:
    """Purges by raw_retention_days and interaction_retention_days."""


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
@config_option
@json_option
def retention_run(dry_run: bool, config_path: Path, as_json: bool) -> None:
    """Purge what is past its retention now (the daemon does it hourly)."""
    hub = open_hub(config_path)
    settings = hub.config.hub
    with hub.pipeline.sessions() as session:
        session.begin()
        purged = run_retention(
            session, settings.raw_retention_days, settings.interaction_retention_days,
            datetime.now(UTC), record=not dry_run,
            event_plugins=bool(hub.plugins.pm.hook.crmhub_on_event.get_hookimpls()))
        if dry_run:
            session.rollback()
        else:
            session.commit()
    result = {"dry_run": dry_run, **purged.as_dict(),
              "raw_retention_days": settings.raw_retention_days,
              "interaction_retention_days": settings.interaction_retention_days}
    emit(result, as_json, lambda r: click.echo(
        f"{'would purge' if dry_run else 'purged'}: {r['raw_payloads']} raw payloads, "
        f"{r['quarantine_items']} quarantine items, {r['events']} events, "
        f"{r['interactions']} interactions"
        + ("" if r["interaction_retention_days"] else " (interactions are kept: "
           "interaction_retention_days is not set)")))
