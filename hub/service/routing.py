"""The daemon's routing chores, once a minute: SLA re-routing, leads of owners who became
inactive, decayed scores, and notification deliveries. Each failure is logged and the
daemon goes on."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from hub.routing.delivery import deliver
from hub.service.runtime import Hub

log = logging.getLogger(__name__)
EVERY = 60.0  # seconds between two passes


def housekeeping(hub: Hub, now: datetime | None = None) -> dict[str, int]:
    """One pass; returns what it did (for logs and tests)."""
    now = now or datetime.now(UTC)
    routing = hub.pipeline.routing  # the rules the pipeline routes new leads with
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
