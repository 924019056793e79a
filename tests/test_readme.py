"""The README's configuration examples work as written: an admin copies them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from hub.config import load_config
from hub.routing.rules import load_rules
from hub.routing.strategies import BUILTIN
from hub_csv.settings import ActivitySettings, CsvSettings
from hub_notify import EmailSink, WebhookSink

README = Path(__file__).parent.parent / "README.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def block(first_line: str) -> str:
    (found,) = [b for b in BLOCKS if b.startswith(first_line)]
    return found


@pytest.mark.parametrize("text", BLOCKS, ids=[b.splitlines()[0] for b in BLOCKS])
def test_every_toml_example_parses(text: str) -> None:
    assert isinstance(tomllib.loads(text), dict)


def test_the_main_config_example_and_the_notify_example_load_with_their_secret_set(
        tmp_path: Path) -> None:
    """`secret = { env = "CRMHUB_WEBHOOK_SECRET" }` stopped config check: the variable was
    read as a setting override."""
    main = tmp_path / "crmhub.toml"
    main.write_text(block("[hub]").replace("[hub]\n", '[hub]\nrules = "rules.toml"\n', 1),
                    encoding="utf-8")
    rules = tmp_path / "rules.toml"
    rules.write_text(block("[[notify]]"), encoding="utf-8")
    environ = {"CRMHUB_WEBHOOK_SECRET": "s3cr3t"}

    loaded = load_config(main, environ=environ)
    ruleset = load_rules(rules, {k.name: k for k in BUILTIN},
                         {"webhook": WebhookSink, "email": EmailSink})

    assert loaded.config.hub.default_region == "FR"
    assert [n.sink for n in ruleset.notify] == ["webhook", "email"]


def test_the_file_connector_examples_are_valid_settings_of_their_kinds() -> None:
    """Each example validates as the admin would write it, with nothing added."""
    csv, activities = (tomllib.loads(text)["connectors"]["settings"] for text in
                       [b for b in BLOCKS if b.startswith("[connectors.settings]")])
    assert CsvSettings.model_validate(csv).effective_preset == "generic"
    settings = ActivitySettings.model_validate(activities)
    assert settings.mapping["Commercial"] == "agent.email"
    assert settings.channels == {"déjeuner": "meeting"}
