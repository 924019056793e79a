"""The running hub: validated config, loaded plugins, the database, connector instances.

Built from scratch by ``crmhub run`` (and rebuilt on SIGHUP) and by every one-off command,
so that validation, plugin loading and schema checks happen in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from hub.config import (
    ConfigError,
    ConfigIssue,
    HubConfig,
    LoadedConfig,
    load_config,
    validation_issues,
)
from hub.connectors import Connector, ConnectorContext, ConnectorSettings
from hub.http import HttpClient
from hub.inbox import Inbox, default_inbox_path
from hub.ingest.pipeline import Pipeline
from hub.logs import add_secret
from hub.plugins import HubPlugins
from hub.secrets import SecretError, find_secret_refs, resolve_secret
from hub.store.db import SchemaError, ensure_schema, is_sqlite, make_engine, sqlite_file_exists
from hub.webhooks import WebhookConnector

log = logging.getLogger(__name__)


def connector_settings(loaded: LoadedConfig, plugins: HubPlugins,
                       resolve_secrets: bool = True) -> tuple[dict[str, ConnectorSettings],
                                                              list[ConfigIssue]]:
    """Validate every connector's settings with its own model; collect issues."""
    classes = plugins.connector_classes()
    settings: dict[str, ConnectorSettings] = {}
    issues: list[ConfigIssue] = []
    for index, cfg in enumerate(loaded.config.connectors):
        file = loaded.connector_files.get(cfg.name, str(loaded.path))
        klass = classes.get(cfg.kind)
        key = f"connectors[name={cfg.name}]"
        if klass is None:
            known = ", ".join(sorted(classes)) or "none"
            issues.append(ConfigIssue(file, f"{key}.kind", f"unknown connector kind {cfg.kind!r}",
                                      f"installed kinds: {known} (see `crmhub plugins`)"))
            continue
        try:
            model = klass.Settings.model_validate(
                cfg.settings, context={"base_dir": loaded.connector_dirs.get(cfg.name)})
        except ValidationError as exc:
            raw = {"connectors": loaded.config.model_dump()["connectors"]}
            issues.extend(validation_issues(exc, raw, lambda _loc, f=file: f, klass.Settings,
                                            prefix=("connectors", index, "settings")))
            continue
        settings[cfg.name] = model
        # A disabled connector is being prepared: its secrets may not exist yet (its
        # settings are still checked, and `connectors check NAME` names what is missing).
        if resolve_secrets and cfg.enabled:
            for ref in find_secret_refs(model):
                try:
                    add_secret(ref.resolve())
                except SecretError as exc:
                    issues.append(ConfigIssue(file, f"{key}.settings", str(exc),
                                              f"provide the secret ({ref.describe()})"))
    return settings, issues


@dataclass
class Hub:
    """Everything a command needs; ``open`` validates it all or raises ConfigError."""

    loaded: LoadedConfig
    plugins: HubPlugins
    engine: Engine
    pipeline: Pipeline
    settings: dict[str, ConnectorSettings]
    http: HttpClient = field(default_factory=HttpClient)

    @classmethod
    def open(cls, config_path: Path, *, create: bool = True, sources: bool = True,
             plugins: HubPlugins | None = None, **engine_kwargs: Any) -> Hub:
        """Validate everything and connect. ``create``: an embedded SQLite database is
        created or upgraded (``run``, ``sync``); read commands never create one.
        ``sources``: the connectors' secrets are resolved (a missing one is a config
        error); commands that never contact a source (``status``, ``contacts``,
        ``export``...) work without them."""
        loaded = load_config(config_path)
        plugins = plugins or HubPlugins.load()
        settings, issues = connector_settings(loaded, plugins, resolve_secrets=sources)
        if issues:
            raise ConfigError(issues)
        try:
            url = loaded.config.hub.url()
        except SecretError as exc:
            raise ConfigError([ConfigIssue(str(loaded.path), "hub.database_url",
                                           str(exc))]) from None
        if not create and is_sqlite(url) and not sqlite_file_exists(url):
            raise SchemaError(f"no database at {url.removeprefix('sqlite:///')}: run "
                              "`crmhub sync NAME` or `crmhub db upgrade` first")
        engine = make_engine(url, **engine_kwargs)
        ensure_schema(engine, auto_upgrade=create and is_sqlite(url))
        pipeline = Pipeline(engine, loaded.config, plugins)
        return cls(loaded, plugins, engine, pipeline, settings)

    @property
    def config(self) -> HubConfig:
        return self.loaded.config

    @cached_property
    def inbox(self) -> Inbox:
        """The webhook inbox (see :mod:`hub.inbox`), opened on first use."""
        url = self.engine.url
        sqlite_file = Path(url.database) if url.get_backend_name() == "sqlite" and \
            url.database not in (None, "", ":memory:") else None
        return Inbox(default_inbox_path(self.config.hub.inbox, sqlite_file, self.loaded.path))

    def connector(self, name: str, *, dry_run: bool = False) -> Connector:
        cfg = self.config.connector(name)
        klass = self.plugins.connector_classes()[cfg.kind]
        context = ConnectorContext(
            http=self.http, resolve_secret=resolve_secret,
            logger=logging.LoggerAdapter(logging.getLogger(f"crmhub.connector.{cfg.kind}"),
                                         {"connector": name}),
            default_region=cfg.default_region or self.config.hub.default_region,
            dry_run=dry_run, inbox=self.inbox if issubclass(klass, WebhookConnector) else None,
            own_domains=frozenset(self.config.hub.own_domains))
        return klass(name, self.settings[name], context)

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()
        if "inbox" in self.__dict__:
            self.inbox.close()
