"""The daemon's routing chores, once a minute: SLA re-routing, leads of owners who became
inactive, decayed scores, and notification deliveries. Each failure is logged and the
daemon goes on."""

from __future__ import annotations

import logging
import weakref
from datetime import UTC, datetime
from typing import Any

from hub.assign.delivery import deliver
from hub.assign.engine import Routing
from hub.service.runtime import Hub

log = logging.getLogger(__name__)
EVERY = 60.0  # seconds between two passes
_loaded: weakref.WeakKeyDictionary[Any, Routing] = weakref.WeakKeyDictionary()


def routing_for(hub: Hub) -> Routing:
    """The hub's routing: the pipeline's own when it has one, else loaded once per hub."""
    mine = getattr(hub.pipeline, "routing", None)
    if isinstance(mine, Routing):
        return mine
    if hub.pipeline not in _loaded:
        _loaded[hub.pipeline] = Routing.load(hub.config, hub.plugins)
    return _loaded[hub.pipeline]


def housekeeping(hub: Hub, now: datetime | None = None) -> dict[str, int]:
    """One pass; returns what it did (for logs and tests)."""
    now = now or datetime.now(UTC)
    routing = routing_for(hub)
    done: dict[str, int] = {}
    if routing.enabled:
        try:
            with hub.pipeline.sessions.begin() as session:
                done.update(routing.periodic(session, now))
        except Exception:
            log.exception("routing pass failed; retried at the next one")
    if routing.ruleset is not None and routing.ruleset.notify:
        try:
            stats = deliver(hub.pipeline.sessions, routing.ruleset, hub.plugins.sink_classes(),
                            hub.http, now)
            done.update(delivered=stats.delivered, failed=stats.failed, dead=stats.dead)
        except Exception:
            log.exception("notification delivery failed; retried at the next pass")
    if any(done.values()):
        log.info("routing pass: %s", done)
    return done
