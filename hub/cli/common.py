"""What every ``crmhub`` command shares: the --config and --json options, opening the hub,
printing (JSON or a table), failing with an exit code, the ``--as`` read filter.

Exit codes: 0 ok, 1 failure, 2 usage/config.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from hub.config import DEFAULT_CONFIG, ConfigError
from hub.logs import configure_logging, describe_error
from hub.routing.engine import Routing
from hub.routing.visibility import VisibilityError, contact_filter
from hub.service.runtime import Hub
from hub.store.db import SchemaError

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


def open_hub(config_path: Path, create: bool = False, sources: bool = False) -> Hub:
    """The hub, or a clear message and exit: 2 for config errors, 1 for the database.
    ``sources``: the command contacts sources, so the connectors' secrets must resolve."""
    try:
        hub = Hub.open(config_path, create=create, sources=sources)
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
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=json_value))
    else:
        render(data)


def json_value(value: Any) -> Any:
    """What ``--json`` writes for a value JSON has no type for: times in ISO 8601."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def table(rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    """Aligned columns, each cut at 48 characters but the last, which is printed whole
    (an error message or a reason is what a reader needs in full)."""
    rows = list(rows)
    if not rows:
        click.echo("(none)")
        return
    text = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [min(max(len(c), *(len(t[i]) for t in text)), 48) for i, c in enumerate(columns)]
    widths[-1] = max(len(t[-1]) for t in text) if text else 0
    click.echo("  ".join(c.upper().ljust(w)
                         for c, w in zip(columns, widths, strict=True)).rstrip())
    for t in text:
        click.echo("  ".join(v[:w].ljust(w) for v, w in zip(t, widths, strict=True)).rstrip())


def visible_to(hub: Hub, as_owner: str | None) -> Any:
    """The one read filter for ``--as`` (rep: own; manager: reports'; admin: all)."""
    if as_owner is None:
        return None
    try:
        return contact_filter(load_routing(hub).ruleset, as_owner)
    except VisibilityError as exc:
        fail(str(exc), 2)


def load_routing(hub: Hub) -> Routing:
    try:
        return Routing.load(hub.config, hub.plugins)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def field_values(items: tuple[str, ...], settable: str) -> dict[str, str]:
    """``FIELD=VALUE`` arguments as a mapping (exit 2, naming what is settable, on an
    argument without ``=``)."""
    pairs: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            fail(f"{item!r} is not FIELD=VALUE (settable: {settable})", 2)
        key, value = item.split("=", 1)
        pairs[key.strip()] = value.strip()
    return pairs
