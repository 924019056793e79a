"""A REST connector driven through the CLI: read-only commands need no source secrets, a
failed sync says so first, and the HTTP layer's retry warnings name the run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hub.cli.main import main
from hub.logs import configure_logging
from tests.sources.acme import AcmeConnector
from tests.sources.fake_api import BASE, FakeContacts
from tests.sources.registration import register_connectors


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    register_connectors(monkeypatch, "acme", AcmeConnector)
    path = tmp_path / "crmhub.toml"
    path.write_text(f"""
[hub]
database_url = "sqlite:///{tmp_path / 'crmhub.db'}"
parallel_prepare = false

[[connectors]]
name = "acme"
kind = "acme"
[connectors.settings]
base_url = "{BASE}"
page_size = 2
token = {{ env = "ACME_TOKEN" }}
""", encoding="utf-8")
    return path


def crmhub(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(config)], env=env or {})


def test_read_only_commands_work_without_the_sources_secrets_and_sync_names_the_missing_one(
        config: Path, api: FakeContacts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_TOKEN", raising=False)
    assert crmhub(config, "db", "upgrade").exit_code == 0
    for command in (["status"], ["contacts", "list"], ["export", "contacts"],
                    ["quarantine", "list"]):
        result = crmhub(config, *command)
        assert result.exit_code == 0, (command, result.output)
    refused = crmhub(config, "sync", "acme")
    assert refused.exit_code == 2 and "ACME_TOKEN" in refused.stderr
    synced = crmhub(config, "sync", "acme", "--json", env={"ACME_TOKEN": "t0k"})
    assert synced.exit_code == 0 and json.loads(synced.stdout)["created"] == 6


def test_a_failed_sync_prints_its_failure_before_what_it_committed(
        config: Path, api: FakeContacts) -> None:
    original, calls = api.answer, {"n": 0}

    def second_page_fails(request):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            return 400, {}, json.dumps({"message": "cursor expired"})
        return original(request)

    api.answer = second_page_fails  # type: ignore[method-assign]
    result = crmhub(config, "sync", "acme", env={"ACME_TOKEN": "t0k"})
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if not line.startswith("{")]  # logs
    assert lines[0].startswith("acme: FAILED after ")
    assert lines[0].endswith("the API refused the request (HTTP 400): cursor expired")
    assert lines[1].startswith("  committed before the failure (1 batches): 2 records")
    assert "done in" not in result.output


def test_retry_warnings_of_the_http_layer_carry_the_connector_and_run_id(
        config: Path, api: FakeContacts, monkeypatch: pytest.MonkeyPatch) -> None:
    original, calls = api.answer, {"n": 0}

    def throttled_once(request):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return (429, {"Retry-After": "0"}, "{}") if calls["n"] == 1 else original(request)

    api.answer = throttled_once  # type: ignore[method-assign]
    stream = io.StringIO()
    monkeypatch.setattr("hub.cli.common.configure_logging",
                        lambda level, **kwargs: configure_logging(level, json=True,
                                                                  stream=stream))
    result = crmhub(config, "sync", "acme", "--json", env={"ACME_TOKEN": "t0k"})
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    [retry] = [json.loads(line) for line in stream.getvalue().splitlines()
               if "retrying GET" in line]
    assert (retry["connector"], retry["run_id"], retry["status"]) == ("acme", run_id, 429)


def test_connectors_check_asks_the_source_with_the_credentials_and_syncs_nothing(
        config: Path, api: FakeContacts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_TOKEN", raising=False)
    assert crmhub(config, "db", "upgrade").exit_code == 0
    missing = crmhub(config, "connectors", "check")
    assert missing.exit_code == 2 and "ACME_TOKEN" in missing.stderr
    ok = crmhub(config, "connectors", "check", "--json", env={"ACME_TOKEN": "t0k"})
    assert ok.exit_code == 0, ok.output
    [row] = json.loads(ok.stdout)
    assert row["ok"] and row["message"].endswith("reachable, 2 record(s) on the first page")
    api.answer = lambda request: (401, {}, json.dumps({"message": "token revoked"}))  # type: ignore[method-assign]
    refused = crmhub(config, "connectors", "check", "acme", env={"ACME_TOKEN": "t0k"})
    assert refused.exit_code == 1
    assert "FAILED" in refused.stdout and "token revoked" in refused.stdout
    status = json.loads(crmhub(config, "status", "--json").stdout)
    assert status["contacts"] == 0  # a check syncs nothing
