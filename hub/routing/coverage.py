"""What the scoring and rules files count that no configured connector brings.

Scoring's ``[[activity]]`` entries, lifecycle transitions ``on = "interaction"``,
conditions on ``interactions.*`` and SLAs (a touch is an outbound e-mail or call) all read
synced interactions. When no configured connector brings that channel, a score never
moves, a transition never fires and every SLA lapses: ``crmhub config check`` says so, as
a warning (the connector may be added later).
"""

from __future__ import annotations

from collections.abc import Mapping

from hub.config import ConfigIssue, LoadedConfig
from hub.plugins import HubPlugins
from hub.routing.engine import Routing
from hub.routing.facts import INTERACTION_FIELDS
from hub.service.runtime import connector_settings

SLA_CHANNELS = ("email", "call")  # what counts as an owner touching a lead
_HINT_FILES = ('an activity history exported from another CRM can be read with kind = '
               '"activities"')


def brought_channels(loaded: LoadedConfig, plugins: HubPlugins) -> dict[str, frozenset[str]]:
    """The interaction channels each enabled connector brings (name -> channels); those
    whose settings do not validate are left out (``config check`` reports them)."""
    settings, _ = connector_settings(loaded, plugins)
    classes = plugins.connector_classes()
    return {cfg.name: classes[cfg.kind].channels_brought(settings[cfg.name])
            for cfg in loaded.config.connectors if cfg.enabled and cfg.name in settings}


def _brought_text(brought: Mapping[str, frozenset[str]]) -> str:
    by_channel: dict[str, list[str]] = {}
    for name, channels in sorted(brought.items()):
        for channel in sorted(channels):
            by_channel.setdefault(channel, []).append(name)
    if not by_channel:
        return f"no configured connector brings interactions; {_HINT_FILES}"
    listed = "; ".join(f"{channel} ({', '.join(names)})"
                       for channel, names in sorted(by_channel.items()))
    return f"the connectors bring: {listed}; {_HINT_FILES}"


def uncounted_channels(routing: Routing,
                       brought: Mapping[str, frozenset[str]]) -> list[ConfigIssue]:
    """A warning for each entry that counts interactions of a channel that none of the
    connectors (name -> the channels it brings) brings."""
    available = frozenset().union(*brought.values()) if brought else frozenset()
    hint = _brought_text(brought)
    warnings: list[ConfigIssue] = []

    def missing(channel: str | None) -> bool:
        return not available if channel is None else channel not in available

    def what(channel: str | None) -> str:
        return f"{channel} interactions" if channel else "interactions"

    scoring = routing.scoring
    if scoring is not None:
        file = str(scoring.path)
        for index, entry in enumerate(scoring.activity):
            if missing(entry.channel):
                warnings.append(ConfigIssue(
                    file, f"activity[{index} name={entry.name}]" +
                    (".channel" if entry.channel else ""),
                    f"counts {what(entry.channel)}, but no configured connector brings them: "
                    "these points are never given", hint))
        for index, transition in enumerate(scoring.lifecycle.transitions
                                           if scoring.lifecycle else []):
            if transition.on == "interaction" and missing(transition.channel):
                warnings.append(ConfigIssue(
                    file, f"lifecycle.transitions[{index}]" +
                    (".channel" if transition.channel else ".on"),
                    f"waits for {what(transition.channel)}, but no configured connector "
                    "brings them: this transition never fires", hint))
    if routing.reads & INTERACTION_FIELDS and not available:
        where = routing.scoring.path if routing.scoring is not None else None
        file = str(routing.ruleset.path if routing.ruleset is not None else where)
        warnings.append(ConfigIssue(
            file, "interactions.*", "a condition reads interactions.* fields, but no "
            "configured connector brings interactions: they are always 0", hint))
    ruleset = routing.ruleset
    if ruleset is not None and not available & set(SLA_CHANNELS):
        for rule in ruleset.rules:
            if rule.sla_seconds is not None:
                warnings.append(ConfigIssue(
                    str(ruleset.path), f"rules[{rule.index} name={rule.name}].sla",
                    "an SLA is met by an owner's outbound e-mail or call, but no configured "
                    "connector brings e-mails or calls: every lead of this rule will be "
                    "re-routed when its SLA lapses",
                    f"{hint}; or record touches by hand: crmhub assign touch CONTACT "
                    "--by OWNER"))
    return warnings
