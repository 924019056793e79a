"""Every hook crmhub calls, grouped by lifecycle. All are prefixed ``crmhub_``.

A plugin implements any subset with :data:`hub.hookimpl`. Registration hooks return a
list of classes, each with a unique lowercase ``kind`` (connectors) or ``name``
(sinks, strategies, comparators); a clash is reported naming both plugins.
The core never calls these directly: :class:`hub.plugins.HubPlugins` is the typed front
that calls each implementation on its own, so one faulty plugin cannot abort the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub import hookspec

if TYPE_CHECKING:
    from hub.records import Observation

# -- startup ------------------------------------------------------------------------------


@hookspec
def crmhub_startup(hub: Any) -> None:
    """Called once when the daemon (``crmhub run``) has loaded config and database, before
    its first sync.

    :param hub: the running :class:`hub.service.runtime.Hub` (config, plugins, database engine).
    Returns nothing. An exception is logged with the plugin's name; startup goes on.
    """


# -- registration -------------------------------------------------------------------------


@hookspec
def crmhub_register_connectors() -> list[type]:
    """Called when plugins are loaded, to collect connector classes.

    Returns a list of :class:`hub.connectors.Connector` subclasses, each with a unique
    lowercase ``kind`` that ``[[connectors]] kind = ...`` refers to.
    """
    return []


@hookspec
def crmhub_register_sinks() -> list[type]:
    """Called when plugins are loaded, to collect outbound sink classes.

    Returns a list of classes with a unique lowercase ``name``; sinks receive outbox
    events (webhook, e-mail notification, a CRM API) at least once.
    """
    return []


@hookspec
def crmhub_register_assignment_strategies() -> list[type]:
    """Called when plugins are loaded, to collect lead-routing strategy classes.

    Returns a list of classes with a unique lowercase ``name`` that routing rules
    refer to (``strategy = "round_robin"``).
    """
    return []


@hookspec
def crmhub_register_comparators() -> list[type]:
    """Called when plugins are loaded, to collect extra field comparators for matching.

    Returns a list of classes with a unique lowercase ``name``.
    """
    return []


# -- ingest -------------------------------------------------------------------------------


@hookspec
def crmhub_enrich_observation(observation: Observation) -> Observation | None:
    """Called for every observation a connector yields, before normalisation.

    :param observation: the observation as the connector (or the previous plugin) left it.
    Returns ``None`` to leave it unchanged or a new :class:`hub.records.Observation`.
    Implementations are chained in plugin order: each sees the previous one's result.
    An exception is reported and that plugin's step skipped for this observation.
    """


# -- events -------------------------------------------------------------------------------


@hookspec
def crmhub_on_event(event: dict[str, Any]) -> None:
    """Called after a batch COMMIT for each event in the outbox, at least once.

    :param event: ``{"id", "type", "at", "payload"}`` where ``type`` is one of
        ``contact.created``, ``contact.updated``, ``contact.deleted``, ``contact.merged``,
        ``contact.split``, ``contact.assigned``, ``contact.reassigned``,
        ``contact.stage_changed``, ``company.merged``, ``company.unmerged``,
        ``sync.failed`` (``hub.store.model.EVENT_TYPES``).
    Returns nothing. Must be idempotent: an event can be delivered twice after a crash.
    """


# -- shutdown -----------------------------------------------------------------------------


@hookspec
def crmhub_shutdown(hub: Any) -> None:
    """Called once when the daemon stops, after the last commit.

    :param hub: the same object ``crmhub_startup`` received. Returns nothing.
    """
