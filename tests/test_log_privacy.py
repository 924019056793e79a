"""No personal data in the logs: a sync of real-looking rows, bad ones among them, at INFO
and DEBUG, leaves no e-mail, phone number or name of its input in clear in any log line or
in any error message it prints."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli.main import main
from hub.logs import configure_logging
from hub.service.runtime import Hub
from hub.service.sync import run_sync

ROWS = (
    "First Name,Last Name,E-mail Address,Mobile Phone,Business Phone,Company,Birthday\n"
    "Gwendoline,Quéméner,gwendoline.quemener@example.org,06 71 82 93 04,01 44 55 66 77,"
    "Brizh Conseil,4/2/1971\n"
    "Théophraste,Zylberstein,t.zylberstein@example.net,+33 7 61 52 43 34,,Brizh Conseil,"
    "31/31/1990\n"
    "Ambroisine,Kerhervé,not-an-address@@,06 00 00 00 0,,,\n"
    ",,,,,,\n"
    "Philibert,Dagobertson,philibert.dagobertson@example.com,0671829304,,"
    + "Brizh Conseil" * 300 + ",\n"
)
SECRETS = ("gwendoline", "quemener", "quéméner", "zylberstein", "théophraste",
           "ambroisine", "kerhervé", "philibert", "dagobertson",
           "gwendoline.quemener@example.org", "t.zylberstein@example.net",
           "philibert.dagobertson@example.com", "not-an-address",
           "71 82 93 04", "0671829304", "671829304", "61 52 43 34", "761524334")


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_a_sync_with_personal_data_and_bad_rows_logs_none_of_it(
        tmp_path: Path, level: str) -> None:
    (tmp_path / "contacts.csv").write_text(ROWS, encoding="utf-8")
    config = tmp_path / "crmhub.toml"
    config.write_text("\n".join([
        "[hub]", f'database_url = "sqlite:///{tmp_path / "hub.db"}"',
        'default_region = "FR"', f'log_level = "{level}"', "",
        "[[connectors]]", 'name = "outlook"', 'kind = "csv"', "[connectors.settings]",
        f'paths = ["{tmp_path / "contacts.csv"}"]', "max_field_bytes = 1024", ""]))
    log = io.StringIO()
    configure_logging(level, json=True, stream=log)
    hub = Hub.open(config, create=True)
    try:
        report = run_sync(hub, "outlook")
    finally:
        hub.close()
    assert report.ok and report.stats.quarantined >= 1  # a bad row was there
    runner = CliRunner()
    printed = [runner.invoke(main, [*args, "--config", str(config)])
               for args in (("quarantine", "list"), ("status",), ("sync", "outlook"),
                            ("quarantine", "show", "1"))]
    lines = log.getvalue().splitlines()
    # The capture is the real one: the sync's own lines are in it.
    assert any("sync outlook finished" in json.loads(line)["msg"] for line in lines)
    seen = "\n".join([*lines, *(r.output for r in printed),
                      json.dumps(report.as_dict(), ensure_ascii=False)]).lower()
    leaked = [s for s in SECRETS if s in seen]
    assert leaked == [], leaked
