"""A run that did not fail but stored nothing says so: `crmhub sync` exits 3 with a
warning and `crmhub status` shows "ok, with a warning" until a run reads something good."""

from __future__ import annotations

import json
import shutil
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
