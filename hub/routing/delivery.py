"""Outbound sinks: outbox events delivered at least once, with backoff, state in the database.

Sinks are classes registered through ``crmhub_register_sinks`` (the built-in ``webhook``
and ``email`` come from ``plugins/hub_notify``). The rules file says which to use::

    [[notify]]
    name = "sales-webhook"             # delivery state is kept per name
    sink = "webhook"
    events = ["contact.assigned", "contact.reassigned"]
    [notify.settings]                  # validated by the sink's Settings model
    url = "https://hooks.example.com/crmhub"
    secret = { env = "CRMHUB_WEBHOOK_SECRET" }

Every event a sink subscribes to gets a row in ``sink_deliveries``: ``pending`` until
sent, retried with exponential backoff (30 s doubling up to an hour) and given up as
``dead`` after ``max_attempts``; an event with nobody to reach (an owner without an e-mail
address) ends as ``no_recipient``. ``crmhub status`` shows the pending, failing, dead and
no-recipient deliveries per sink. No database transaction is open while a sink answers (see
:func:`deliver`), and one attempt is one request.

Each sink scans the outbox after its own cursor for events without a delivery row (a sink
added later starts with the events of the last hour, not the whole history). The cursor
is not the highest id seen: on PostgreSQL an id is handed out before its transaction
commits, so event 41 may become visible after event 42 was delivered. The cursor only
moves over ids that are all there, or over a gap once the event after it is
:data:`SETTLE` old (the transaction that held the missing id rolled back, or it would
have committed by then).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.http import HttpClient, redact_url
from hub.logs import add_secret, describe_error
from hub.privacy.consent import opted_out, point_of
from hub.routing.model import SinkCursor, SinkDelivery
from hub.routing.rules import NotifySpec, RuleSet
from hub.secrets import SecretError, SecretRef, find_secret_refs, resolve_secret
from hub.store.model import OutboxEvent

log = logging.getLogger(__name__)
FIRST_BACKOFF = 30.0
MAX_BACKOFF = 3600.0
NEW_SINK_LOOKBACK = timedelta(hours=1)
SETTLE = timedelta(hours=1)  # how long a missing outbox id may still be committed
# A claimed delivery is due again after this if its pass never stored the outcome (it
# died): longer than any send takes (a sink's timeout is at most a few minutes).
CLAIM = timedelta(minutes=10)


class SinkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _text_or_secret(value: Any) -> str:
    return "(text)" if isinstance(value, str) else "(secret)"


# Sink settings that may be written as text or as a secret reference ({ env = "VAR" }), e.g.
# a URL that carries a token or an Authorization header; send() passes them through
# context.resolve_secret when they are SecretRefs. Tagged, so an error names one form.
TextOrSecret = Annotated[Annotated[str, Tag("(text)")] | Annotated[SecretRef, Tag("(secret)")],
                         Discriminator(_text_or_secret)]
UrlOrSecret = Annotated[Annotated[str, Field(pattern=r"^https?://"), Tag("(text)")]
                        | Annotated[SecretRef, Tag("(secret)")], Discriminator(_text_or_secret)]


class NoRecipientError(Exception):
    """Raised by ``send`` when the event has nobody to reach (an owner with no e-mail
    address): the delivery ends as ``no_recipient``, counted apart, never retried."""


class PermanentDeliveryError(Exception):
    """The event can never be delivered (e.g. a 4xx answer): not retried."""


@dataclass
class SinkContext:
    """What the core gives a sink: the shared HTTP client and the secret resolver."""

    http: HttpClient
    resolve_secret: Callable[[Any], str]
    logger: logging.LoggerAdapter[logging.Logger]


class Sink(ABC):
    """Base class of outbound sinks. ``send`` raises to fail (retried later)."""

    name: ClassVar[str]
    Settings: ClassVar[type[BaseModel]] = SinkSettings
    #: The ``payload`` shapes the sink can work with (an e-mail to the owner needs "full").
    payloads: ClassVar[frozenset[str]] = frozenset({"full", "ids"})
    #: Whether it reaches owners at their e-mail address (config check warns of owners
    #: without one).
    needs_owner_emails: ClassVar[bool] = False

    def __init__(self, settings: Any, context: SinkContext):
        self.settings = settings
        self.context = context

    @abstractmethod
    def send(self, event: dict[str, Any]) -> None:
        """Deliver one outbox event; raise to have it retried with backoff."""


def resolve_masked(ref: Any) -> str:
    """The secret resolver sinks get: each value is masked in logs and stored errors from
    then on, like connectors' secrets. A URL also in the form HTTP errors quote it."""
    value = resolve_secret(ref)
    add_secret(value)
    if value.startswith(("http://", "https://")):
        add_secret(redact_url(value))
    return value


def backoff(attempts: int) -> float:
    return float(min(FIRST_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF))


# The payload's blocks a ``payload = "ids"`` sink never gets.
PERSONAL = ("contact", "owner", "previous", "queue_manager")


def _event_dict(event: OutboxEvent, payload: str = "full") -> dict[str, Any]:
    body = event.payload
    if payload == "ids" and isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in PERSONAL}
    return {"id": event.id, "type": event.type, "at": event.created_at.isoformat(),
            "payload": body}


def enqueue(session: Session, notify: list[NotifySpec], now: datetime) -> int:
    """Give every configured sink a delivery row for each new event it subscribes to."""
    postgres = session.get_bind().dialect.name == "postgresql"
    created = 0
    for spec in notify:
        # Locked: two daemons enqueueing for one sink take turns (one delivery row each).
        cursor = session.get(SinkCursor, spec.name, with_for_update=postgres)
        if cursor is None:
            start = session.scalar(select(func.max(OutboxEvent.id)).where(
                OutboxEvent.created_at < now - NEW_SINK_LOOKBACK)) or 0
            cursor = SinkCursor(sink=spec.name, last_event_id=start, updated_at=now)
            session.add(cursor)
        existing = set(session.scalars(select(SinkDelivery.event_id).where(
            SinkDelivery.sink == spec.name, SinkDelivery.event_id > cursor.last_event_id)))
        for event_id in session.scalars(select(OutboxEvent.id).where(
                OutboxEvent.id > cursor.last_event_id, OutboxEvent.type.in_(spec.events))
                .order_by(OutboxEvent.id)):
            if event_id not in existing:
                session.add(SinkDelivery(event_id=event_id, sink=spec.name, status="pending",
                                         attempts=0, next_attempt_at=now, created_at=now))
                created += 1
        settled = _settled(session, cursor.last_event_id, now)
        if settled != cursor.last_event_id:
            cursor.last_event_id = settled
            cursor.updated_at = now
    return created


def _settled(session: Session, after: int, now: datetime) -> int:
    """The highest outbox id up to which no event can still appear: ids after ``after``
    with no gap, or with gaps the next event shows are :data:`SETTLE` old."""
    settled = after
    for event_id, created_at in session.execute(
            select(OutboxEvent.id, OutboxEvent.created_at).where(OutboxEvent.id > after)
            .order_by(OutboxEvent.id)):
        if event_id != settled + 1 and created_at > now - SETTLE:
            break
        settled = event_id
    return settled


@dataclass
class DeliveryStats:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    no_recipient: int = 0


@dataclass(frozen=True)
class _Claim:
    """A delivery taken for one attempt: what to send, and the attempt it counts as."""

    id: int
    sink: str
    attempt: int
    event: dict[str, Any] | None  # None: the event is gone from the outbox


def deliver(sessions: sessionmaker[Session], ruleset: RuleSet | None,
            sink_classes: dict[str, type], http: HttpClient, now: datetime,
            limit: int = 200) -> DeliveryStats:
    """Enqueue new events and send what is due, with no database transaction open while
    a sink answers: the due deliveries are claimed and committed (``CLAIM`` ahead, so no
    other pass takes them meanwhile), sent one by one, and each outcome is stored in a
    short transaction of its own. A pass that dies between the two leaves the claimed
    deliveries due again when their claim expires (at least once).

    The sinks get an HTTP client that tries once: the outbox's backoff is the one retry
    layer, so one attempt is one request.
    """
    stats = DeliveryStats()
    if ruleset is None or not ruleset.notify:
        return stats
    sinks = _sinks(ruleset, sink_classes, HttpClient(session=http.session, max_attempts=1,
                                                     timeout=http.timeout))
    for claim in _claim(sessions, ruleset, sorted(sinks), now, limit):
        spec, sink = sinks[claim.sink]
        error: BaseException | None = None
        if claim.event is not None:
            try:
                sink.send(claim.event)
            except Exception as exc:  # a sink failing must never stop the others
                error = exc
        _record(sessions, spec, claim, error, now, stats)
    return stats


def _sinks(ruleset: RuleSet, sink_classes: dict[str, type],
           http: HttpClient) -> dict[str, tuple[NotifySpec, Sink]]:
    sinks: dict[str, tuple[NotifySpec, Sink]] = {}
    for spec in ruleset.notify:
        klass = sink_classes.get(spec.sink)
        if klass is None:
            continue
        context = SinkContext(http, resolve_masked, logging.LoggerAdapter(
            logging.getLogger(f"crmhub.sink.{spec.sink}"), {"sink": spec.name}))
        settings_model = getattr(klass, "Settings", SinkSettings)
        settings = settings_model.model_validate(spec.settings)
        for ref in find_secret_refs(settings):  # masked before any error can quote them
            with suppress(SecretError):  # send() reports it, and the delivery is retried
                resolve_masked(ref)
        sinks[spec.name] = (spec, klass(settings, context))
    return sinks


def _claim(sessions: sessionmaker[Session], ruleset: RuleSet, sinks: list[str],
           now: datetime, limit: int) -> list[_Claim]:
    """One short transaction: enqueue new events and take the due deliveries (rows
    locked with ``SKIP LOCKED`` on PostgreSQL, so two daemons never take the same one)."""
    claims: list[_Claim] = []
    payloads = {spec.name: spec.payload for spec in ruleset.notify}
    with sessions.begin() as session:
        enqueue(session, ruleset.notify, now)
        query = select(SinkDelivery).where(
            SinkDelivery.status == "pending", SinkDelivery.next_attempt_at <= now,
            SinkDelivery.sink.in_(sinks)).order_by(SinkDelivery.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for delivery in session.scalars(query):
            event = session.get(OutboxEvent, delivery.event_id)
            delivery.attempts += 1
            delivery.next_attempt_at = now + CLAIM
            shape = payloads.get(delivery.sink, "full")
            claims.append(_Claim(delivery.id, delivery.sink, delivery.attempts,
                                 None if event is None else
                                 _with_opt_out(session, _event_dict(event, shape))))
    return claims


def _with_opt_out(session: Session, event: dict[str, Any]) -> dict[str, Any]:
    """A payload's contact block says which of its e-mail and phone the person opted out
    of (``contact.opt_out``), as they stand when the event is delivered."""
    contact = (event.get("payload") or {}).get("contact")
    if not isinstance(contact, dict):
        return event
    shown = {kind: value for kind in ("email", "phone")
             if isinstance(value := contact.get(kind), str) and value}
    points = {kind: point for kind, value in shown.items()
              if (point := point_of(kind, value)) is not None}
    out = opted_out(session, points.values()) if points else set()
    contact["opt_out"] = sorted(shown[kind] for kind, point in points.items() if point in out)
    return event


def _record(sessions: sessionmaker[Session], spec: NotifySpec, claim: _Claim,
            error: BaseException | None, now: datetime, stats: DeliveryStats) -> None:
    """Store one attempt's outcome, unless another pass took the delivery since (its
    claim expired while this one was sending)."""
    with sessions.begin() as session:
        delivery = session.get(SinkDelivery, claim.id, with_for_update=True)
        if delivery is None or delivery.status != "pending" \
                or delivery.attempts != claim.attempt:
            return
        if claim.event is None:
            delivery.status = "dead"
            delivery.last_error = "the event is gone from the outbox"
            return
        if error is None:
            delivery.status = "delivered"
            delivery.delivered_at = now
            delivery.last_error = None
            stats.delivered += 1
            return
        if isinstance(error, NoRecipientError):
            delivery.status = "no_recipient"
            delivery.last_error = str(error)[:2000]
            stats.no_recipient += 1
            log.warning("sink %s: event %s reaches nobody: %s", spec.name, delivery.event_id,
                        error)
            return
        delivery.last_error = describe_error(error)[:2000]
        permanent = isinstance(error, PermanentDeliveryError)
        if permanent or delivery.attempts >= spec.max_attempts:
            delivery.status = "dead"
            stats.dead += 1
            log.error("sink %s gave up on event %s after %d attempt(s): %s",
                      spec.name, delivery.event_id, delivery.attempts, delivery.last_error)
        else:
            delivery.next_attempt_at = now + timedelta(seconds=backoff(delivery.attempts))
            stats.failed += 1
            log.warning("sink %s: event %s not delivered (attempt %d), retrying at %s: %s",
                        spec.name, delivery.event_id, delivery.attempts,
                        delivery.next_attempt_at.isoformat(), delivery.last_error)


def retry_deliveries(session: Session, now: datetime, *, ids: list[int] | None = None,
                     dead: bool = False) -> list[int]:
    """Make dead deliveries (``dead``: all of them; else those in ``ids``) due now with a
    fresh count of attempts; their last error stays until the next attempt. Returns the
    ids made due; an id that is not dead is left as it is."""
    query = select(SinkDelivery).where(SinkDelivery.status == "dead")
    if not dead:
        query = query.where(SinkDelivery.id.in_(ids or []))
    retried = []
    for delivery in session.scalars(query.order_by(SinkDelivery.id)):
        delivery.status = "pending"
        delivery.attempts = 0
        delivery.next_attempt_at = now
        retried.append(delivery.id)
    return retried


def delivery_status(session: Session) -> list[dict[str, Any]]:
    """Per sink: delivered, pending (of which failing), dead, last error — for status."""
    rows: dict[str, dict[str, Any]] = {}
    tried = func.sum(case((SinkDelivery.attempts > 0, 1), else_=0))
    for sink, status, failing, count in session.execute(
            select(SinkDelivery.sink, SinkDelivery.status, tried, func.count())
            .group_by(SinkDelivery.sink, SinkDelivery.status)):
        entry = rows.setdefault(sink, {"sink": sink, "delivered": 0, "pending": 0,
                                       "failing": 0, "dead": 0, "no_recipient": 0,
                                       "last_error": None, "next_attempt": None})
        entry[status] = entry.get(status, 0) + count
        if status == "pending":
            entry["failing"] += int(failing or 0)
    for entry in rows.values():
        last = session.scalars(select(SinkDelivery).where(
            SinkDelivery.sink == entry["sink"], SinkDelivery.last_error.is_not(None))
            .order_by(SinkDelivery.id.desc()).limit(1)).first()
        if last is not None:
            entry["last_error"] = last.last_error
            if last.status == "pending" and last.next_attempt_at is not None:
                entry["next_attempt"] = last.next_attempt_at.isoformat()
    return [rows[k] for k in sorted(rows)]
