"""Loading plugins and the typed front over their hooks.

Built-in and third-party plugins arrive the same way: the ``crmhub`` entry-point group.
Each entry point is loaded and validated on its own; one that fails to import, has a hook
pluggy rejects, or implements a ``crmhub_*`` hook that does not exist is reported by name
and left out, and the rest run. Core code calls hooks only through :class:`HubPlugins`,
which calls each implementation separately so that one exception cannot abort the others.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from hub import PROJECT_NAME, hookspecs

if TYPE_CHECKING:
    from hub.connectors import Connector
    from hub.records import Observation

log = logging.getLogger(__name__)

_REGISTRATION_HOOKS = {
    "crmhub_register_connectors": "kind",
    "crmhub_register_sinks": "name",
    "crmhub_register_assignment_strategies": "name",
    "crmhub_register_comparators": "name",
}


@dataclass
class PluginInfo:
    """One line of ``crmhub plugins``."""

    name: str
    version: str | None
    module: str | None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Registry:
    """Classes collected from one registration hook, keyed by their ``kind``/``name``."""

    classes: dict[str, type] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)


class HubPlugins:
    """The loaded plugins and a typed way to call their hooks."""

    def __init__(self, pm: pluggy.PluginManager, infos: dict[str, PluginInfo]):
        self.pm = pm
        self.infos = infos
        self._registries: dict[str, Registry] = {}

    # -- loading ---------------------------------------------------------------------

    @classmethod
    def load(cls, blocked: Iterable[str] = (), extra: Iterable[tuple[str, Any]] = (),
             entry_points: bool = True) -> HubPlugins:
        """Load every ``crmhub`` entry point (less ``blocked``) plus ``extra`` (name, object)."""
        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        plugins = cls(pm, {})
        blocked = set(blocked)
        if entry_points:
            for ep in sorted(metadata.entry_points(group=PROJECT_NAME), key=lambda e: e.name):
                if ep.name in blocked:
                    continue
                version = ep.dist.version if ep.dist is not None else None
                info = PluginInfo(ep.name, version, ep.value)
                plugins.infos[ep.name] = info
                try:
                    obj = ep.load()
                except Exception as exc:  # a broken plugin must never stop the hub
                    plugins._fail(info, f"import failed: {type(exc).__name__}: {exc}")
                    continue
                plugins._register(info, obj)
        for name, obj in extra:
            info = PluginInfo(name, None, getattr(obj, "__name__", None))
            plugins.infos[name] = info
            plugins._register(info, obj)
        plugins._collect_registries()
        return plugins

    def _fail(self, info: PluginInfo, error: str) -> None:
        info.error = error
        info.traceback = traceback.format_exc()
        log.error("plugin %s disabled: %s", info.name, error,
                  extra={"plugin": info.name, "traceback": info.traceback})

    def _register(self, info: PluginInfo, obj: Any) -> None:
        unknown = [n for n in dir(obj) if n.startswith("crmhub_")
                   and callable(getattr(obj, n)) and not hasattr(hookspecs, n)]
        if unknown:
            self._fail(info, f"unknown hook(s): {', '.join(sorted(unknown))}")
            return
        try:
            self.pm.register(obj, name=info.name)
        except Exception as exc:  # pluggy.PluginValidationError, duplicate names...
            self._fail(info, f"invalid hook: {exc}")
            return
        info.hooks = sorted(h.name for h in self.pm.get_hookcallers(obj) or [])

    def _impls(self, hook: str) -> list[pluggy.HookImpl]:
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
        return [impl for impl in caller.get_hookimpls()  # registration order
                if self.infos.get(impl.plugin_name, PluginInfo("", None, None)).ok]

    def _collect_registries(self) -> None:
        for hook, attr in _REGISTRATION_HOOKS.items():
            registry = Registry()
            for impl in self._impls(hook):
                info = self.infos[impl.plugin_name]
                try:
                    returned = impl.function()
                    if returned is not None and not isinstance(returned, list | tuple):
                        raise TypeError(f"returned {type(returned).__name__}, not a list")
                    classes: list[type] = list(returned or [])
                except Exception as exc:
                    self._fail(info, f"{hook} raised {type(exc).__name__}: {exc}")
                    continue
                for klass in classes:
                    key = getattr(klass, attr, None)
                    if not isinstance(key, str) or not key or key != key.lower():
                        info.error = (f"{hook}: {klass!r} needs a non-empty lowercase "
                                      f"{attr!r} class attribute")
                        log.error("plugin %s: %s", info.name, info.error)
                        continue
                    if key in registry.classes:
                        info.error = (f"{attr} {key!r} is registered by both "
                                      f"{registry.providers[key]} and {info.name}; "
                                      f"keeping {registry.providers[key]}")
                        log.error("plugin clash: %s", info.error)
                        continue
                    registry.classes[key] = klass
                    registry.providers[key] = info.name
            self._registries[hook] = registry

    # -- typed front -----------------------------------------------------------------

    def connector_classes(self) -> dict[str, type[Connector]]:
        return dict(self._registries["crmhub_register_connectors"].classes)

    def sink_classes(self) -> dict[str, type]:
        return dict(self._registries["crmhub_register_sinks"].classes)

    def strategy_classes(self) -> dict[str, type]:
        return dict(self._registries["crmhub_register_assignment_strategies"].classes)

    def comparator_classes(self) -> dict[str, type]:
        """The plugins' comparators that can be used. One that cannot (it would replace a
        built-in, its levels are malformed) is left out with its plugin's error set (shown
        by ``crmhub plugins``), and matching runs with the others."""
        from hub.match.compare import comparator_problem  # the matcher imports plugins' types

        registry = self._registries["crmhub_register_comparators"]
        usable: dict[str, type] = {}
        for name, klass in registry.classes.items():
            problem = comparator_problem(klass)
            if problem is None:
                usable[name] = klass
                continue
            info = self.infos[registry.providers[name]]
            if info.error is None:
                info.error = problem
                log.error("plugin %s disabled: %s", info.name, problem)
        return usable

    def provider_of(self, hook: str, key: str) -> str | None:
        return self._registries[hook].providers.get(key)

    def enrich(self, observation: Observation) -> Observation:
        """Chain ``crmhub_enrich_observation`` over the plugins in order."""
        for impl in self._impls("crmhub_enrich_observation"):
            try:
                result = impl.function(observation=observation)
            except Exception:
                log.exception("plugin %s: crmhub_enrich_observation failed; step skipped",
                              impl.plugin_name, extra={"plugin": impl.plugin_name})
                continue
            if isinstance(result, type(observation)):
                observation = result
            elif result is not None:
                log.error("plugin %s: crmhub_enrich_observation returned %s, not an "
                          "Observation; ignored", impl.plugin_name, type(result).__name__)
        return observation

    @property
    def has_enrichers(self) -> bool:
        return bool(self._impls("crmhub_enrich_observation"))

    def on_event(self, event: dict[str, Any]) -> list[str]:
        """Deliver one event to every plugin; returns the names of plugins that failed."""
        return self._each("crmhub_on_event", event=event)

    def startup(self, hub: Any) -> list[str]:
        return self._each("crmhub_startup", hub=hub)

    def shutdown(self, hub: Any) -> list[str]:
        return self._each("crmhub_shutdown", hub=hub)

    def _each(self, hook: str, **kwargs: Any) -> list[str]:
        failed = []
        for impl in self._impls(hook):
            try:
                impl.function(**kwargs)
            except Exception:
                failed.append(impl.plugin_name)
                log.exception("plugin %s: %s failed", impl.plugin_name, hook,
                              extra={"plugin": impl.plugin_name})
        return failed

