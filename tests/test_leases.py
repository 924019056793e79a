"""Run leases: one connector never runs twice at once (both engines)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from hub.service import leases
from hub.service.leases import HOST
from hub.store.db import session_factory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_held_lease_is_refused_naming_its_holder_until_it_expires(engine: Engine) -> None:
    sessions = session_factory(engine)
    assert leases.acquire(sessions, "crm", "csv", "host:1:a", 60, T0) is None
    held = leases.acquire(sessions, "crm", "csv", "other:2:b", 60, T0 + timedelta(seconds=30))
    assert held is not None and held.owner == "host:1:a"
    assert "already running: lease held by host:1:a" in str(held)
    assert leases.acquire(sessions, "crm", "csv", "other:2:b", 60,
                          T0 + timedelta(seconds=61)) is None


def test_renewal_extends_and_release_frees_the_lease(engine: Engine) -> None:
    sessions = session_factory(engine)
    leases.acquire(sessions, "crm", "csv", "host:1:a", 60, T0)
    assert leases.renew(sessions, "crm", "host:1:a", 60, T0 + timedelta(seconds=50))
    assert leases.acquire(sessions, "crm", "csv", "x:3:c", 60, T0 + timedelta(seconds=70))
    assert not leases.renew(sessions, "crm", "x:3:c", 60, T0)
    leases.release(sessions, "crm", "host:1:a")
    assert leases.acquire(sessions, "crm", "csv", "x:3:c", 60, T0) is None


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over(engine: Engine) -> None:
    sessions = session_factory(engine)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    leases.acquire(sessions, "crm", "csv", f"{HOST}:{gone}:dead", 3600, T0)
    assert leases.acquire(sessions, "crm", "csv", f"{HOST}:1:new", 60, T0) is None


def test_manual_sync_is_refused_while_the_connector_runs(tmp_path: object,
                                                        engine: Engine) -> None:
    from hub.config import HubConfig, LoadedConfig
    from hub.ingest.pipeline import Pipeline
    from hub.plugins import HubPlugins
    from hub.service.runtime import Hub
    from hub.service.sync import run_sync

    config = HubConfig.model_validate({"connectors": [{"name": "crm", "kind": "csv",
                                                        "settings": {"paths": ["x.csv"]}}]})
    plugins = HubPlugins.load()
    klass = plugins.connector_classes()["csv"]
    hub = Hub(LoadedConfig(config, tmp_path, []), plugins, engine,  # type: ignore[arg-type]
              Pipeline(engine, config, plugins),
              {"crm": klass.Settings.model_validate({"paths": ["x.csv"]})})
    leases.acquire(hub.pipeline.sessions, "crm", "csv", "daemon:1:run", 600,
                   datetime.now(UTC))
    report = run_sync(hub, "crm")
    assert not report.ok and report.error_kind == "busy"
    assert "lease held by daemon:1:run" in (report.error or "")
