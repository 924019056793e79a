"""`crmhub config check` warns when scoring, the lifecycle or an SLA counts interactions
that no configured connector brings."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from hub.cli.main import main

CONFIG = Path(__file__).resolve().parents[2] / "config"


def check(root: Path) -> tuple[int, list[str]]:
    """The exit code and the warnings, each with its hint."""
    result = CliRunner().invoke(main, ["config", "check", "--config",
                                       str(root / "crmhub.toml")])
    return result.exit_code, [f"warning:{text}" for text in
                              result.stderr.split("warning:")[1:]]


def example(tmp_path: Path) -> Path:
    shutil.copytree(CONFIG, tmp_path / "config")
    return tmp_path / "config"


def test_the_example_config_brings_every_channel_its_scoring_counts(tmp_path: Path) -> None:
    code, warnings = check(example(tmp_path))
    assert (code, warnings) == (0, [])


def test_without_an_activity_source_each_entry_that_counts_interactions_is_named(
        tmp_path: Path) -> None:
    root = example(tmp_path)
    (root / "conf.d" / "60-activities.toml").unlink()
    code, warnings = check(root)
    assert code == 0  # a warning: the connector may come later
    keys = [line.split(": ")[2] for line in warnings]
    assert keys == ["activity[0 name=inbound e-mails].channel", "activity[1 name=calls].channel",
                    "lifecycle.transitions[1].channel", "lifecycle.transitions[2].channel",
                    "rules[1 name=enterprise].sla", "rules[3 name=everyone-else].sla"]
    assert "these points are never given" in warnings[0]
    assert "every lead of this rule will be re-routed" in warnings[-1]


def test_a_call_log_answers_for_calls_only(tmp_path: Path) -> None:
    root = example(tmp_path)
    settings = root / "conf.d" / "60-activities.toml"
    settings.write_text(settings.read_text(encoding="utf-8") + """
channel = "call"
[connectors.settings.mapping]
"Date" = "occurred_at"
"Phone" = "participants.phone"
""", encoding="utf-8")
    code, warnings = check(root)
    assert code == 0
    assert [line.split(": ")[2] for line in warnings] == [
        "activity[0 name=inbound e-mails].channel", "lifecycle.transitions[1].channel"]
    assert "the connectors bring: call (crm-activities)" in " ".join(warnings)
