"""A run that did not fail but stored nothing says so: `crmhub sync` exits 3 with a
warning and `crmhub status` shows "ok, with a warning" until a run reads something good."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hub.cli.main import main
from hub.cli.operations import WARNED
from tests.plugins.hub_csv.support import SAMPLES


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crmhub.toml"
    path.write_text(f"""
[hub]
database_url = "sqlite:///{tmp_path / 'crmhub.db'}"
default_region = "FR"

[[connectors]]
name = "file"
kind = "csv"
[connectors.settings]
paths = ["{tmp_path / 'contacts.csv'}"]
""", encoding="utf-8")
    return path


def crmhub(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(config)])


def status(config: Path) -> dict[str, object]:
    return dict(json.loads(crmhub(config, "status", "--json").stdout)["connectors"][0])


def test_a_header_only_file_is_ok_with_a_warning_until_it_has_rows(config: Path) -> None:
    contacts = config.parent / "contacts.csv"
    contacts.write_text("First Name,Last Name,E-mail Address\n", encoding="utf-8")
    result = crmhub(config, "sync", "file")
    assert result.exit_code == WARNED
    assert "WARNING: " in result.output and "no rows after the header" in result.output
    row = status(config)
    assert row["state"] == "ok, with a warning" and "no rows after the header" in str(
        row["warning"])
    assert crmhub(config, "sync", "file").exit_code == 0  # unchanged: nothing read again
    assert status(config)["state"] == "ok, with a warning"

    shutil.copy(SAMPLES / "google.csv", contacts)
    assert crmhub(config, "sync", "file").exit_code == 0
    row = status(config)
    assert row["state"] == "ok" and row["warning"] is None


def test_a_file_whose_every_row_is_quarantined_warns_with_the_counts(config: Path) -> None:
    (config.parent / "contacts.csv").write_text(
        "First Name,Last Name,E-mail Address\n,,\x00\x00\n,,not-an-address\n", encoding="utf-8")
    result = crmhub(config, "sync", "file", "--json")
    assert result.exit_code == WARNED
    report = json.loads(result.stdout)
    assert report["quarantined"] == 2 and report["created"] == 0
    assert report["warnings"] == ["0 stored, 2 quarantined: see `crmhub quarantine list`"]
    assert status(config)["warning"] == report["warnings"][0]


def test_config_check_names_a_missing_file_and_warns_of_what_may_come_later(
        config: Path) -> None:
    result = crmhub(config, "config", "check")
    assert result.exit_code == 2
    assert "connectors[name=file].settings.paths[0]: " in result.output
    assert "contacts.csv: no such file" in result.output and "hint: check the path" in \
        result.output
    later = config.read_text(encoding="utf-8").replace(
        "contacts.csv", "exports/*.csv") + f'folder = "{config.parent / "drop"}"\n'
    config.write_text(later, encoding="utf-8")
    result = crmhub(config, "config", "check")
    assert result.exit_code == 0, result.output
    assert "settings.paths[0]: " in result.output and "matches no file yet" in result.output
    assert "settings.folder: " in result.output and "does not exist yet" in result.output


def test_an_expected_failure_is_one_log_line_without_a_traceback(config: Path) -> None:
    # A real process: the connector runs in a second one (parallel_prepare), which logs too.
    env = {**os.environ, "CRMHUB_HUB__LOG_FORMAT": "json"}
    result = subprocess.run([sys.executable, "-m", "hub.cli", "sync", "file", "--config",
                             str(config)], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 1 and "no such file" in result.stderr
    errors = [json.loads(line) for line in result.stderr.splitlines()
              if line.startswith("{") and json.loads(line)["level"] == "ERROR"]
    assert [e["msg"].split(":")[0] for e in errors] == ["sync file failed"]
    assert "exc" not in errors[0] and "Traceback" not in result.stderr
