"""``crmhub assign ...``, ``crmhub rules ...`` (registered by hub.cli.main)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from hub.cli.common import config_option, emit, fail, json_option, load_routing, open_hub, table
from hub.clock import utcnow
from hub.config import ConfigError, did_you_mean, load_config
from hub.plugins import HubPlugins
from hub.routing.conditions import OPERATORS, ConditionError, compile_condition, known_field
from hub.routing.coverage import brought_channels, uncounted_channels
from hub.routing.decide import skip_reason
from hub.routing.delivery import retry_deliveries
from hub.routing.engine import Routing, strategy_classes
from hub.routing.live import LiveContext
from hub.routing.model import Assignment, ContactScore, SinkDelivery
from hub.routing.replay import parse_since, replay
from hub.routing.rules import load_rules
from hub.routing.sla import TOUCH_CHANNELS, record_touch
from hub.routing.visibility import VisibilityError, contact_filter, visible_leads
from hub.service.runtime import Hub
from hub.store.model import Contact, OutboxEvent

as_option = click.option("--as", "as_owner", help="Only what this owner may see.")


@click.group("assign")
def assign_group() -> None:
    """Lead routing: explain, set by hand, run on demand."""


def _assignment_dict(a: Assignment) -> dict[str, Any]:
    return {"id": a.id, "contact_id": a.contact_id, "owner": a.owner, "queue": a.queue,
            "previous_owner": a.previous_owner, "rule": a.rule, "rule_index": a.rule_index,
            "strategy": a.strategy, "reason": a.reason, "by": a.by, "actor": a.actor,
            "at": a.at.isoformat(), "current": a.current, "sla_state": a.sla_state,
            "sla_due_at": a.sla_due_at.isoformat() if a.sla_due_at else None,
            "touched_at": a.touched_at.isoformat() if a.touched_at else None,
            "explanation": a.explanation, "inputs": a.inputs}


@assign_group.command("explain")
@click.argument("contact_id", type=int)
@as_option
@config_option
@json_option
def assign_explain(contact_id: int, as_owner: str | None, config_path: Path,
                   as_json: bool) -> None:
    """Why a contact has its owner: rule, strategy, every candidate and why skipped."""
    hub = open_hub(config_path)
    routing = load_routing(hub)
    with hub.pipeline.sessions() as session:
        contact = _visible_contact(session, routing, contact_id, as_owner)
        history = [_assignment_dict(a) for a in session.scalars(
            select(Assignment).where(Assignment.contact_id == contact_id)
            .order_by(Assignment.id))]
        score = session.get(ContactScore, contact_id)
        data = {"contact_id": contact_id, "owner": contact.owner, "stage": contact.stage,
                "score": contact.score, "score_breakdown": score.breakdown if score else [],
                "assignments": history}
    emit(data, as_json, _render_explain)


def _visible_contact(session: Any, routing: Routing, contact_id: int,
                     as_owner: str | None) -> Contact:
    try:
        visible = contact_filter(routing.ruleset, as_owner)
    except VisibilityError as exc:
        fail(str(exc), 2)
    contact: Contact | None = session.scalars(
        select(Contact).where(Contact.id == contact_id, visible)).first()
    if contact is None:
        fail(f"no contact {contact_id}" + (f" visible to {as_owner}" if as_owner else ""))
    assert contact is not None
    return contact


def _render_explain(data: dict[str, Any]) -> None:
    click.echo(f"contact {data['contact_id']}: owner {data['owner'] or '-'}, stage "
               f"{data['stage']}, score {data['score']}")
    for item in data["score_breakdown"]:
        click.echo(f"  score {item['points']:+g}  {item['name']}")
    if not data["assignments"]:
        click.echo("  never routed")
    for a in data["assignments"]:
        target = a["owner"] or f"queue {a['queue']}"
        mark = "*" if a["current"] else " "
        by = f"by {a['actor'] or 'a user'}" if a["by"] == "user" else \
            f"rule {a['rule'] or 'fallback'} ({a['strategy']})"
        click.echo(f"{mark} {a['at']}  -> {target}  {by}, {a['reason']}"
                   + (f", SLA {a['sla_state']} (due {a['sla_due_at']})" if a["sla_state"]
                      else ""))
        story = a["explanation"] or {}
        for tried in story.get("tried", []):
            click.echo(f"      rule [{tried['index']}] {tried['rule']} ({tried['strategy']}): "
                       f"{tried.get('outcome')}")
            for c in tried["candidates"]:
                state = "CHOSEN" if c.get("chosen") else (
                    f"skipped: {c['skipped']} ({c.get('detail')})" if c["skipped"]
                    else "available")
                click.echo(f"        {c['owner']:20} {state}")
        if "fallback" in story:
            click.echo(f"      fallback owner: {story['fallback']}")
        if "queue" in story:
            click.echo(f"      queue {story['queue']['queue']}: {story['queue']['why']}")
        if story.get("exclude"):
            click.echo(f"      excluded (missed the SLA): {', '.join(story['exclude'])}")


@assign_group.command("set")
@click.argument("contact_id", type=int)
@click.argument("owner")
@click.option("--by", "actor", default=lambda: _user(), help="Who decides (default: $USER).")
@click.option("--note", help="Why, for the decision log.")
@config_option
def assign_set(contact_id: int, owner: str, actor: str, note: str | None,
               config_path: Path) -> None:
    """Assign a contact by hand; rules never override it."""
    hub = open_hub(config_path)
    routing = load_routing(hub)
    try:
        with hub.pipeline.sessions.begin() as session:
            routed = routing.assign_manual(session, contact_id, owner, actor=actor, now=utcnow(),
                                           note=note)
    except LookupError as exc:
        fail(str(exc.args[0]), 2)
    click.echo(f"contact {contact_id}: {routed.previous or 'nobody'} -> {owner} (manual)")


@assign_group.command("touch")
@click.argument("contact_id", type=int)
@click.option("--by", "owner", required=True, help="The owner who worked the lead.")
@click.option("--channel", type=click.Choice(TOUCH_CHANNELS), default="other",
              show_default=True, help="How they reached the lead.")
@click.option("--at", "at_text",
              help="When: a date and time (2026-01-31T14:30) or how long ago (2h); "
                   "default: now.")
@click.option("--note", help="What was done, for the lead's history.")
@config_option
def assign_touch(contact_id: int, owner: str, channel: str, at_text: str | None,
                 note: str | None, config_path: Path) -> None:
    """Record by hand that OWNER worked a lead (a call, a meeting): their SLA on it is met.
    For touches no connector brings (no mail or telephony connector configured)."""
    hub = open_hub(config_path)
    routing = load_routing(hub)
    ruleset = routing.ruleset
    if ruleset is None:
        fail("no rules file: set [hub] rules in the config", 2)
    assert ruleset is not None
    info = ruleset.owners.get(owner)
    if info is None:
        close = did_you_mean(owner, ruleset.owners)
        fail(f"no owner {owner!r} in the rules file" + (f"; {close}" if close else ""), 2)
    assert info is not None
    now = utcnow()
    try:
        at = parse_since(at_text, now) if at_text else now
    except ValueError:
        fail(f"--at {at_text!r}: write a date and time like 2026-01-31T14:30", 2)
    if at > now:
        fail(f"--at {at_text}: a touch cannot be in the future", 2)
    with hub.pipeline.sessions.begin() as session:
        contact = session.get(Contact, contact_id)
        if contact is None or contact.merged_into_id is not None or contact.deleted_at:
            fail(f"no live contact {contact_id}", 1)
        met = record_touch(session, contact_id, info, at=at, actor=_user(), channel=channel,
                           note=note)
    click.echo(f"contact {contact_id}: touch by {owner} recorded"
               + (" (their SLA on it is met)" if met else ""))


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "user"


def parse_where(text: str) -> Any:
    """``contact.country = "FR", score = { gte = 50 }`` -> a compiled condition."""
    try:
        raw = tomllib.loads(f"where = {{ {text} }}")["where"]
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"not a TOML inline table body: {exc}") from None

    def flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and not known_field(path) and path not in (
                    "all", "any", "not") and not set(value) <= set(OPERATORS):
                out.update(flatten(value, path + "."))
            else:
                out[path] = value
        return out

    try:
        return compile_condition(flatten(raw), "where")
    except ConditionError as exc:
        raise click.BadParameter(str(exc)) from None


@assign_group.command("run")
@click.option("--where", "where", help='A condition, e.g. \'contact.country = "FR"\'.')
@click.option("--reassign", is_flag=True,
              help="Also re-route contacts that have an automatic owner (never manual ones).")
@click.option("--limit", type=int, default=10_000, show_default=True)
@click.option("--dry-run", is_flag=True, help="Show what would happen; write nothing.")
@config_option
@json_option
def assign_run(where: str | None, reassign: bool, limit: int, dry_run: bool, config_path: Path,
               as_json: bool) -> None:
    """Route open contacts now: unowned ones (and with --reassign, automatic ones)."""
    hub = open_hub(config_path)
    routing = load_routing(hub)
    if routing.ruleset is None:
        fail("no rules file: set [hub] rules in the config", 2)
    assert routing.ruleset is not None
    condition = parse_where(where) if where else None
    session = hub.pipeline.sessions()
    session.begin()
    try:
        routed = routing.on_demand(session, utcnow(), where=condition, reassign=reassign,
                                   limit=limit)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    finally:
        session.close()
    rows = [r.as_dict() for r in routed]

    def render(data: list[dict[str, Any]]) -> None:
        table(data, ["contact_id", "previous_owner", "owner", "queue", "rule", "strategy"])
        head = "would be routed (dry run)" if dry_run else "routed"
        click.echo(f"\n{len(data)} contact(s) {head}")

    emit(rows, as_json, render)


@assign_group.command("list")
@click.option("--owner")
@click.option("--queue")
@click.option("--limit", type=int, default=100, show_default=True)
@as_option
@config_option
@json_option
def assign_list(owner: str | None, queue: str | None, limit: int, as_owner: str | None,
                config_path: Path, as_json: bool) -> None:
    """Current assignments (newest first)."""
    hub = open_hub(config_path)
    routing = load_routing(hub)
    try:
        visible = contact_filter(routing.ruleset, as_owner)
    except VisibilityError as exc:
        fail(str(exc), 2)
    with hub.pipeline.sessions() as session:
        query = select(Assignment).join(Contact, Contact.id == Assignment.contact_id).where(
            Assignment.current, visible).order_by(Assignment.at.desc(), Assignment.id.desc())
        if owner:
            query = query.where(Assignment.owner == owner)
        if queue:
            query = query.where(Assignment.queue == queue)
        rows = [{k: v for k, v in _assignment_dict(a).items() if k not in ("explanation",
                                                                           "inputs")}
                for a in session.scalars(query.limit(limit))]
    emit(rows, as_json, lambda d: table(d, ["contact_id", "owner", "queue", "rule", "strategy",
                                            "reason", "by", "at", "sla_state"]))


@click.group("rules")
def rules_group() -> None:
    """Routing rules: check a file, replay past leads with a draft."""


def _rules_path(hub: Hub, path: Path | None) -> Path:
    chosen = path or hub.config.hub.rules
    if chosen is None:
        fail("no rules file: pass --rules FILE or set [hub] rules in the config", 2)
    assert chosen is not None
    return chosen


@rules_group.command("check")
@click.option("--rules", "rules_path", type=click.Path(path_type=Path),
              help="A rules file (default: [hub] rules).")
@config_option
def rules_check(rules_path: Path | None, config_path: Path) -> None:
    """Validate a rules file (exit 2 on errors); needs no database."""
    path = rules_path
    if path is None:
        try:
            path = load_config(config_path).config.hub.rules
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            sys.exit(2)
    if path is None:
        fail("no rules file: pass --rules FILE or set [hub] rules in the config", 2)
    assert path is not None
    plugins = HubPlugins.load()
    try:
        ruleset = load_rules(path, strategy_classes(plugins), plugins.sink_classes())
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        click.echo(f"{len(exc.issues)} error(s)", err=True)
        sys.exit(2)
    warnings = list(ruleset.warnings)
    try:  # what the configured connectors bring (SLA touches), when the config loads
        loaded = load_config(config_path)
    except ConfigError:
        loaded = None
    if loaded is not None:
        warnings += uncounted_channels(Routing(ruleset, None), brought_channels(loaded, plugins))
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"ok: {len(ruleset.rules)} rule(s), {len(ruleset.owners)} owner(s), "
               f"{len(ruleset.teams)} team(s) in {path}"
               + (f", {len(warnings)} warning(s)" if warnings else ""))


@rules_group.command("test")
@click.option("--rules", "rules_path", type=click.Path(path_type=Path),
              help="The draft rules file (default: the live one).")
@click.option("--since", default="30d", show_default=True,
              help="How far back: 30d, 12h, or a date.")
@click.option("--moves", type=int, default=50, show_default=True,
              help="How many moving leads to list.")
@as_option
@config_option
@json_option
def rules_test(rules_path: Path | None, since: str, moves: int, as_owner: str | None,
               config_path: Path, as_json: bool) -> None:
    """Replay past routing with a draft rule set; print what would change. Writes nothing.

    With ``--as``, only the leads that owner may see now are reported (all are replayed)."""
    hub = open_hub(config_path)
    path = _rules_path(hub, rules_path)
    try:
        draft = load_rules(path, strategy_classes(hub.plugins), hub.plugins.sink_classes())
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    try:
        start = parse_since(since, utcnow())
    except ValueError:
        fail(f"--since {since!r}: write 30d, 12h or a date like 2026-01-31", 2)
    sees = None
    if as_owner is not None:
        try:  # who may see what is the live directory's business, not the draft's
            sees = visible_leads(load_routing(hub).ruleset, as_owner)
        except VisibilityError as exc:
            fail(str(exc), 2)
    session = hub.pipeline.sessions()
    try:
        report = replay(session, draft, since=start, limit_moves=moves, sees=sees,
                        now=utcnow())
    finally:
        session.rollback()
        session.close()
    data = report.as_dict() | {"rules": str(path), "as": as_owner}

    def render(d: dict[str, Any]) -> None:
        click.echo(f"replayed {d['decisions']} decision(s) since {d['since']} with {d['rules']}"
                   f"{' (the rule set they were made with)' if d['same_ruleset'] else ''}")
        who = f" {d['as']} keeps, loses or gains" if d["as"] else ""
        click.echo(f"{d['leads']} lead(s){who}, by owner now (before) and with the rules "
                   "replayed (after):")
        table(d["owners"], ["owner", "before", "after", "change"])
        click.echo(f"\n{d['changed']} lead(s) would move")
        if d["sla_not_rerouted"] or d["sla_rerouted"]:
            click.echo(f"SLA: {d['sla_not_rerouted']} re-route(s) after a missed SLA would "
                       f"not happen, {d['sla_rerouted']} would happen that did not")
        if d["moves"]:
            table(d["moves"], ["contact_id", "at", "before", "after", "rule_before",
                               "rule_after"])

    emit(data, as_json, render)


@rules_group.command("owners")
@config_option
@json_option
def rules_owners(config_path: Path, as_json: bool) -> None:
    """Owners with their team, role, open leads and availability now."""
    hub = open_hub(config_path)
    routing = load_routing(hub)
    if routing.ruleset is None:
        fail("no rules file: set [hub] rules in the config", 2)
    ruleset = routing.ruleset
    assert ruleset is not None
    now = utcnow()
    with hub.pipeline.sessions() as session:
        ctx = LiveContext(session, ruleset, now)
        rows = []
        for owner_id, info in ruleset.owners.items():
            ctx.inputs = {"open": {}, "day": {}, "month": {}, "pointers": {}}
            why = skip_reason(ruleset, owner_id, None, ctx, frozenset(), now)
            rows.append({"id": owner_id, "name": info.spec.name, "role": info.spec.role,
                         "team": info.spec.team, "manager": info.spec.manager,
                         "open": ctx.open_leads(owner_id), "capacity": info.spec.capacity,
                         "available": why is None, "why_not": why[1] if why else None,
                         "working_now": info.calendar.working(now)})
    emit(rows, as_json, lambda d: table(d, ["id", "role", "team", "open", "capacity",
                                            "available", "working_now", "why_not"]))


@click.group("deliveries")
def deliveries_group() -> None:
    """Notifications to sinks (`crmhub status` shows them per sink)."""


@deliveries_group.command("list")
@click.option("--status", type=click.Choice(["dead", "pending", "no_recipient", "delivered",
                                             "all"]), default="dead", show_default=True)
@click.option("--limit", default=100, show_default=True)
@config_option
@json_option
def deliveries_list(status: str, limit: int, config_path: Path, as_json: bool) -> None:
    """Deliveries, newest first: their id (for retry), sink, event and last error."""
    hub = open_hub(config_path)
    query = select(SinkDelivery, OutboxEvent.type).outerjoin(
        OutboxEvent, OutboxEvent.id == SinkDelivery.event_id)
    if status != "all":
        query = query.where(SinkDelivery.status == status)
    with hub.pipeline.sessions() as session:
        rows = [{"id": d.id, "sink": d.sink, "event_id": d.event_id, "event": kind,
                 "status": d.status, "attempts": d.attempts,
                 "next_attempt": d.next_attempt_at if d.status == "pending" else None,
                 "last_error": d.last_error}
                for d, kind in session.execute(query.order_by(SinkDelivery.id.desc())
                                               .limit(limit))]
    emit(rows, as_json, lambda r: table(r, ["id", "sink", "event_id", "event", "status",
                                            "attempts", "last_error"]))


@deliveries_group.command("retry")
@click.argument("delivery_ids", type=int, nargs=-1)
@click.option("--dead", "all_dead", is_flag=True, help="Every dead delivery.")
@config_option
@json_option
def deliveries_retry(delivery_ids: tuple[int, ...], all_dead: bool, config_path: Path,
                     as_json: bool) -> None:
    """Send dead deliveries again at the next delivery pass, with a fresh count of attempts
    (after a receiver is fixed)."""
    if not delivery_ids and not all_dead:
        fail("name delivery ids, or --dead for every dead one", 2)
    hub = open_hub(config_path)
    with hub.pipeline.sessions.begin() as session:
        retried = retry_deliveries(session, utcnow(), ids=list(delivery_ids), dead=all_dead)
    missing = sorted(set(delivery_ids) - set(retried))

    def render(r: dict[str, Any]) -> None:
        click.echo(f"{len(r['retried'])} delivery(ies) due again")
        if r["not_dead"]:
            click.echo("not dead (left as they are): " + ", ".join(map(str, r["not_dead"])))

    emit({"retried": retried, "not_dead": missing}, as_json, render)

