"""The daemon's HTTP listener: health, readiness, Prometheus metrics and webhooks.

Starlette on uvicorn, in a process of its own that the daemon forks after binding the
socket (so a port already taken stops ``crmhub run`` at once, and the listener is up
before READY=1) and restarts if it dies; SIGTERM drains it (uvicorn finishes the requests
in flight).

* ``GET /healthz`` — the process answers: 200.
* ``GET /readyz`` — the database answers and its schema is current: 200, else 503 with the
  reason.
* ``GET /metrics`` — Prometheus text: per connector the runs, failures, seconds, records
  received, stored and quarantined, the last success; the review queue, assignments, the
  outbox and the deliveries waiting, the webhook inbox backlog, and the webhook requests
  this listener answered, by connector and status.
* ``POST /webhooks/<connector>`` — a push connector's request: over ``max_body_bytes`` 413,
  a content type it does not take 415, a bad or missing signature or a stale timestamp
  401, an unknown connector 404, a body it cannot even name 400; otherwise the request is
  committed to the inbox and answered 200 (a redelivered event too, stored once). Errors
  are JSON ``{"error": "..."}``, never a traceback, never a 5xx for bad input (503 only
  when the inbox itself cannot be written).
* ``GET /webhooks/<connector>`` — the connector's subscription handshake.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hub.inbox import Inbox
from hub.logs import describe_error
from hub.routing.model import Assignment, SinkDelivery
from hub.service.runtime import Hub
from hub.store.db import current_revision, head_revision
from hub.store.model import MatchCandidate, OutboxEvent, SyncState
from hub.webhooks import WebhookConnector, WebhookRejected

__all__ = ["address_of", "bind", "create_app", "push_connectors", "serve"]

log = logging.getLogger(__name__)


def push_connectors(hub: Hub) -> dict[str, WebhookConnector]:
    """The enabled connectors that receive webhooks, by name."""
    found: dict[str, WebhookConnector] = {}
    for cfg in hub.config.connectors:
        if not cfg.enabled:
            continue
        klass = hub.plugins.connector_classes().get(cfg.kind)
        if klass is not None and issubclass(klass, WebhookConnector):
            connector = hub.connector(cfg.name)
            assert isinstance(connector, WebhookConnector)
            found[cfg.name] = connector
    return found


class _StoreMetrics(Collector):
    """What the database and the inbox say, read at each scrape (the syncs run in other
    processes, so their counters live in ``sync_state``)."""

    def __init__(self, hub: Hub, inbox: Inbox) -> None:
        self.hub, self.inbox = hub, inbox

    def collect(self) -> Iterable[Any]:
        label = ["connector"]
        runs = CounterMetricFamily("crmhub_sync_runs", "Finished sync runs", labels=label)
        failures = CounterMetricFamily("crmhub_sync_failures", "Failed sync runs",
                                       labels=label)
        seconds = CounterMetricFamily("crmhub_sync_run_seconds", "Seconds spent in sync runs",
                                      labels=label)
        last_run = GaugeMetricFamily("crmhub_sync_last_run_seconds",
                                     "Duration of the last sync run", labels=label)
        received = CounterMetricFamily("crmhub_records_received",
                                       "Records connectors yielded", labels=label)
        stored = CounterMetricFamily("crmhub_records_stored",
                                     "Records stored (new, changed or deleted)", labels=label)
        quarantined = CounterMetricFamily("crmhub_records_quarantined",
                                          "Records sent to quarantine", labels=label)
        success = GaugeMetricFamily("crmhub_sync_last_success_timestamp_seconds",
                                    "Unix time of the last successful run", labels=label)
        failing = GaugeMetricFamily("crmhub_sync_consecutive_failures",
                                    "Failed runs in a row", labels=label)
        skipped = CounterMetricFamily("crmhub_records_skipped",
                                      "Read and not stored, or not made a contact, by reason",
                                      labels=["connector", "reason"])
        parts = GaugeMetricFamily("crmhub_sync_part_failing",
                                  "1 while a part of a source (a mailbox) fails to sync",
                                  labels=["connector", "part"])
        with self.hub.pipeline.sessions() as session:
            for state in session.scalars(select(SyncState)):
                name = [state.connector]
                for reason, count in (state.skipped_total or {}).items():
                    skipped.add_metric([state.connector, reason], count)
                for part, entry in (state.parts or {}).items():
                    parts.add_metric([state.connector, part], 1 if entry.get("error") else 0)
                runs.add_metric(name, state.runs_total or 0)
                failures.add_metric(name, state.failures_total or 0)
                seconds.add_metric(name, state.run_seconds_total or 0.0)
                received.add_metric(name, state.received_total or 0)
                stored.add_metric(name, state.stored_total or 0)
                quarantined.add_metric(name, state.quarantined_total or 0)
                failing.add_metric(name, state.consecutive_failures or 0)
                if state.last_run_seconds is not None:
                    last_run.add_metric(name, state.last_run_seconds)
                if state.last_success is not None:
                    success.add_metric(name, state.last_success.timestamp())
            review = session.scalar(select(func.count()).select_from(MatchCandidate).where(
                MatchCandidate.status == "open")) or 0
            assignments = session.scalar(select(func.count()).select_from(Assignment)) or 0
            # Events wait for crmhub_on_event plugins only when there are some.
            outbox = session.scalar(select(func.count()).select_from(OutboxEvent).where(
                OutboxEvent.dispatched_at.is_(None))) or 0 \
                if self.hub.plugins.pm.hook.crmhub_on_event.get_hookimpls() else 0
            deliveries = session.execute(select(SinkDelivery.status, func.count())
                                         .group_by(SinkDelivery.status)).all()
        yield from (runs, failures, seconds, last_run, received, stored, quarantined,
                    success, failing, skipped, parts)
        yield GaugeMetricFamily("crmhub_review_queue_size", "Pairs waiting in review",
                                value=review)
        yield CounterMetricFamily("crmhub_assignments", "Routing decisions recorded",
                                  value=assignments)
        yield GaugeMetricFamily("crmhub_outbox_backlog",
                                "Outbox events no plugin has taken yet", value=outbox)
        by_status = GaugeMetricFamily("crmhub_sink_deliveries", "Sink deliveries by status",
                                      labels=["status"])
        for status, count in deliveries:
            by_status.add_metric([status], count)
        yield by_status
        backlog = GaugeMetricFamily("crmhub_webhook_inbox_backlog",
                                    "Accepted webhook requests not processed yet",
                                    labels=label)
        for connector, count in self.inbox.backlog().items():
            backlog.add_metric([connector], count)
        yield backlog


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(hub: Hub, *, wake: Callable[[], None] = lambda: None,
               connectors: Mapping[str, WebhookConnector] | None = None) -> Starlette:
    """The listener's application over ``hub`` (``wake`` tells the daemon that a request
    is waiting in the inbox)."""
    inbox = hub.inbox
    push = dict(push_connectors(hub) if connectors is None else connectors)
    head = head_revision()  # read once: the migrations do not change under a running process
    registry = CollectorRegistry()
    registry.register(_StoreMetrics(hub, inbox))
    requests_total = Counter("crmhub_webhook_requests", "Webhook requests answered",
                             ["connector", "status"], registry=registry)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    def readiness() -> str | None:
        try:
            have = current_revision(hub.engine)
        except Exception as exc:
            return f"database unreachable: {describe_error(exc)}"
        if have != head:
            return f"database schema at {have}, this crmhub needs {head}: run " \
                   "`crmhub db upgrade`"
        errors = [info.name for info in hub.plugins.infos.values() if info.error]
        if errors:
            return f"plugin(s) failed to load: {', '.join(errors)}"
        return None

    async def readyz(request: Request) -> Response:
        reason = await run_in_threadpool(readiness)
        if reason is not None:
            return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def receive(request: Request) -> Response:
        name = request.path_params["name"]
        response = await _receive(request, name)
        requests_total.labels(name if name in push else "(unknown)",
                              str(response.status_code)).inc()
        return response

    async def _receive(request: Request, name: str) -> Response:
        connector = push.get(name)
        if connector is None:
            return _error(404, f"no webhook connector named {name!r}")
        limit = connector.options.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _error(413, f"the body is over {limit} bytes")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in connector.content_types:
            return _error(415, f"content type {kind or '(none)'!r} is not accepted; send "
                               f"{' or '.join(connector.content_types)}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return _error(413, f"the body is over {limit} bytes")
        headers = dict(request.headers)
        try:
            connector.verify(bytes(body), headers)
            event_id = connector.event_id(bytes(body), headers)
        except WebhookRejected as exc:
            return _error(exc.status, exc.message)
        except Exception as exc:  # a connector's bug is its own 400, never a traceback
            log.warning("webhook %s: the request could not be checked: %s", name,
                        describe_error(exc), extra={"connector": name})
            return _error(400, "the request could not be read")
        try:
            stored, new = await run_in_threadpool(inbox.put, name, event_id, headers,
                                                  bytes(body))
        except Exception as exc:
            log.error("webhook %s: the inbox cannot be written: %s", name,
                      describe_error(exc), extra={"connector": name})
            return _error(503, "the request could not be stored; send it again later")
        if new:
            wake()
        return JSONResponse({"accepted": True, "id": stored, "duplicate": not new})

    async def handshake(request: Request) -> Response:
        name = request.path_params["name"]
        connector = push.get(name)
        if connector is None:
            return _error(404, f"no webhook connector named {name!r}")
        try:
            status, text = connector.handshake(dict(request.query_params))
        except WebhookRejected as exc:
            return _error(exc.status, exc.message)
        return PlainTextResponse(text, status_code=status)

    return Starlette(routes=[
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/webhooks/{name}", receive, methods=["POST"]),
        Route("/webhooks/{name}", handshake, methods=["GET"]),
    ])


def bind(address: tuple[str, int]) -> socket.socket:
    """The listening socket, bound by the daemon before it forks the listener."""
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: an answer's head and body go out at once, not 40 ms
    # apart (Nagle's algorithm waiting for the client's delayed ACK).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def serve(hub: Hub, sock: socket.socket, wake: Callable[[], None]) -> None:
    """Run the listener on ``sock`` until SIGTERM (in the forked listener process)."""
    import uvicorn

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the daemon reloads, then restarts us
    app = create_app(hub, wake=wake)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=int(hub.config.hub.stop_timeout))
    server = uvicorn.Server(config)
    log.info("listening on %s", address_of(sock), extra={"pid": os.getpid()})
    server.run(sockets=[sock])


def address_of(sock: socket.socket) -> str:
    """``host:port`` a bound socket listens on (``[::1]:port`` for IPv6)."""
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
