"""Configuration: merging, env overrides, secret references, errors with file/key/hint."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from hub.cli.main import main
from hub.config import ConfigError, HubSection, load_config, parse_duration
from hub.connectors import Connector, ConnectorSettings
from hub.plugins import HubPlugins
from hub.secrets import SecretRef
from hub.service.runtime import connector_settings


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class DemoConnector(Connector):
    kind = "demo"

    class Settings(ConnectorSettings):
        path: Path
        token: SecretRef
        page_size: int = 100

    Settings.model_rebuild()
    settings_model: ClassVar[type[ConnectorSettings]] = Settings


class DemoPlugin:
    from hub import hookimpl

    @hookimpl
    def crmhub_register_connectors(self) -> list[type]:
        return [DemoConnector]


def demo_plugins() -> HubPlugins:
    return HubPlugins.load(entry_points=False, extra=[("demo", DemoPlugin())])


def issues_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ or {})
    return [str(i) for i in caught.value.issues]


def test_conf_d_files_merge_in_name_order_and_connectors_concatenate(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", '[hub]\ndefault_region = "FR"\n'
                      '[[connectors]]\nname = "a"\nkind = "demo"\n')
    write(tmp_path / "conf.d" / "20-b.toml", '[[connectors]]\nname = "b"\nkind = "demo"\n')
    write(tmp_path / "conf.d" / "10-hub.toml",
          '[hub]\ndefault_region = "BE"\nlog_level = "debug"\n')
    loaded = load_config(main_file, environ={})
    assert [c.name for c in loaded.config.connectors] == ["a", "b"]
    assert loaded.config.hub.default_region == "BE"
    assert loaded.config.hub.log_level == "DEBUG"
    assert loaded.connector_files["b"].endswith("20-b.toml")


def test_relative_paths_resolve_against_the_file_that_names_them(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", '[hub]\ndatabase_url = "sqlite:///var/hub.db"\n')
    write(tmp_path / "conf.d" / "rules.toml", '[hub]\nrules = "rules.toml"\n')
    hub = load_config(main_file, environ={}).config.hub
    assert hub.database_url == f"sqlite:///{tmp_path / 'var' / 'hub.db'}"
    assert hub.rules == tmp_path / "conf.d" / "rules.toml"


def test_connector_paths_resolve_against_their_conf_d_file(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", "")
    write(tmp_path / "conf.d" / "demo.toml", '[[connectors]]\nname = "d"\nkind = "demo"\n'
          '[connectors.settings]\npath = "data.csv"\ntoken = { env = "T" }\n')
    loaded = load_config(main_file, environ={})
    assert loaded.connector_dirs["d"] == (tmp_path / "conf.d").resolve()


def test_unknown_key_names_file_key_path_and_suggests_the_right_key(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", '[hub]\ndefault_regoin = "FR"\n')
    [issue] = issues_of(main_file)
    assert str(main_file) in issue
    assert "hub.default_regoin: unknown key" in issue
    assert "did you mean 'default_region'?" in issue


def test_error_in_a_conf_d_connector_names_that_file_and_connector(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", "")
    conf = write(tmp_path / "conf.d" / "crm.toml",
                 '[[connectors]]\nname = "crm"\nkind = "demo"\nevery = "soon"\n')
    [issue] = issues_of(main_file)
    assert issue.startswith(f"{conf}: connectors[name=crm].every:")
    assert "not a duration" in issue


def test_connector_settings_are_validated_by_the_connectors_own_model(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", "")
    conf = write(tmp_path / "conf.d" / "d.toml",
                 '[[connectors]]\nname = "d"\nkind = "demo"\n[connectors.settings]\n'
                 'path = "x.csv"\ntoken = { env = "T" }\npage_sise = 5\n')
    _, issues = connector_settings(load_config(main_file, environ={}), demo_plugins(),
                                   resolve_secrets=False)
    [issue] = [str(i) for i in issues]
    assert issue.startswith(f"{conf}: connectors[name=d].settings.page_sise: unknown key")
    assert "did you mean 'page_size'?" in issue


def test_inline_secret_is_refused_with_a_hint(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", '[[connectors]]\nname = "d"\nkind = "demo"\n'
                      '[connectors.settings]\npath = "x"\ntoken = "hunter2"\n')
    _, issues = connector_settings(load_config(main_file, environ={}), demo_plugins())
    [issue] = [str(i) for i in issues]
    assert "connectors[name=d].settings.token: secrets are references" in issue
    assert '{ env = "VAR" }' in issue
    assert "hunter2" not in issue


def test_secret_reference_that_cannot_resolve_is_an_error(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMHUB_TEST_UNSET", raising=False)
    main_file = write(tmp_path / "crmhub.toml", '[[connectors]]\nname = "d"\nkind = "demo"\n'
                      '[connectors.settings]\npath = "x"\ntoken = { env = "CRMHUB_TEST_UNSET" }\n')
    _, issues = connector_settings(load_config(main_file, environ={}), demo_plugins())
    assert "environment variable CRMHUB_TEST_UNSET is not set" in str(issues[0])


def test_a_disabled_connectors_missing_secret_waits_until_it_is_enabled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMHUB_TEST_UNSET", raising=False)
    connector = ('[[connectors]]\nname = "d"\nkind = "demo"\nenabled = {}\n'
                 '[connectors.settings]\npath = "x"\ntoken = {{ env = "CRMHUB_TEST_UNSET" }}\n')
    disabled = write(tmp_path / "off.toml", connector.format("false"))
    settings, issues = connector_settings(load_config(disabled, environ={}), demo_plugins())
    assert issues == [] and "d" in settings  # its settings are still checked and kept
    enabled = write(tmp_path / "on.toml", connector.format("true"))
    _, issues = connector_settings(load_config(enabled, environ={}), demo_plugins())
    assert "environment variable CRMHUB_TEST_UNSET is not set" in str(issues[0])


def test_secret_references_resolve_from_env_file_and_credentials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "from-env")
    write(tmp_path / "secret.txt", "from-file\n")
    write(tmp_path / "creds" / "API", "from-credential")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    assert SecretRef(env="MY_TOKEN").resolve() == "from-env"
    assert SecretRef(file=tmp_path / "secret.txt").resolve() == "from-file"
    assert SecretRef(credential="API").resolve() == "from-credential"


def test_environment_overrides_files(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", '[hub]\ndatabase_url = "sqlite:///a.db"\n')
    config = load_config(main_file, environ={
        "CRMHUB_DATABASE_URL": "postgresql+psycopg://db/crm", "CRMHUB_LOG_LEVEL": "warning",
        "CRMHUB_HUB__OWN_DOMAINS": '["acme.fr", "Acme.com"]', "CRMHUB_MATCH__REVIEW": "0.7",
        "CRMHUB_CONFIG": "/ignored"}).config
    assert config.hub.database_url == "postgresql+psycopg://db/crm"
    assert config.hub.log_level == "WARNING"
    assert config.hub.own_domains == ["acme.com", "acme.fr"]
    assert config.match.review == 0.7


def test_unknown_environment_override_is_an_error(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", "")
    [issue] = issues_of(main_file, {"CRMHUB_HUB__NOPE": "1"})
    assert "env CRMHUB_HUB__NOPE: hub.nope: unknown key" in issue


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", "[hub\n")
    [issue] = issues_of(main_file)
    assert str(main_file) in issue and "line 1" in issue


def test_duplicate_connector_names_and_threshold_order_are_errors(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", '[match]\nauto_merge = 0.5\nreview = 0.9\n'
                      '[[connectors]]\nname = "a"\nkind = "x"\n[[connectors]]\nname = "a"\n'
                      'kind = "x"\n')
    text = "\n".join(issues_of(main_file))
    assert "review must not be above auto_merge" in text
    assert "two connectors are named 'a'" in text


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400),
                                               ("1d", 86400), (90, 90)])
def test_durations_parse_to_seconds(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_config_check_prints_every_error_with_hint_and_exits_2(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", '[hub]\nlog_levl = "x"\n[match]\nreveiw = 1\n')
    result = CliRunner().invoke(main, ["config", "check", "--config", str(main_file)])
    assert result.exit_code == 2
    assert "hub.log_levl: unknown key" in result.output
    assert "match.reveiw: unknown key" in result.output
    assert "hint: did you mean 'review'?" in result.output
    assert "2 error(s)" in result.output


def test_config_check_reports_unknown_connector_kind(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", '[[connectors]]\nname = "a"\nkind = "fax"\n')
    result = CliRunner().invoke(main, ["config", "check", "--config", str(main_file)])
    assert result.exit_code == 2
    assert "connectors[name=a].kind: unknown connector kind 'fax'" in result.output
    assert "installed kinds:" in result.output


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["config", "check", "--config", str(tmp_path / "no.toml")])
    assert result.exit_code == 2
    assert "config file not found" in result.output


@pytest.mark.parametrize(("url", "message"), [
    ("notaurl", "is not a database URL"),
    ("mysql://db/crm", "'mysql' databases are not supported"),
])
def test_a_bad_database_url_is_a_config_error(tmp_path: Path, url: str, message: str) -> None:
    main_file = write(tmp_path / "crmhub.toml", f'[hub]\ndatabase_url = "{url}"\n')
    [issue] = issues_of(main_file)
    assert "hub.database_url" in issue and message in issue


def test_database_url_can_be_a_secret_reference(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_DB", "postgresql+psycopg://crm:pw@db/crm")
    main_file = write(tmp_path / "crmhub.toml", '[hub]\ndatabase_url = { env = "CRM_DB" }\n')
    assert load_config(main_file, environ={}).config.hub.url() == \
        "postgresql+psycopg://crm:pw@db/crm"


# -- the environment layer (pydantic-settings) and the variables secrets name ---------------

CONNECTOR_WITH_SECRET = ('[[connectors]]\nname = "d"\nkind = "demo"\n[connectors.settings]\n'
                         'path = "x.csv"\ntoken = {{ env = "{var}" }}\n')
NOT_A_SETTING_HINT = ("write CRMHUB_<SECTION>__<KEY>, e.g. CRMHUB_HUB__LOG_LEVEL (a variable "
                      'a secret reference names, { env = "..." }, is not read as a setting)')


@pytest.mark.parametrize("var", ["CRMHUB_API_TOKEN", "CRMHUB_HUB__TOKEN", "crmhub_token"])
def test_a_variable_a_connector_secret_names_is_not_read_as_a_setting(
        tmp_path: Path, var: str) -> None:
    main_file = write(tmp_path / "crmhub.toml", CONNECTOR_WITH_SECRET.format(var=var))

    loaded = load_config(main_file, environ={var: "s3cr3t-token", "CRMHUB_LOG_LEVEL": "debug"})

    assert loaded.config.connectors[0].settings["token"] == {"env": var}
    assert loaded.config.hub.log_level == "DEBUG"
    assert loaded.config.hub.model_dump() == HubSection(log_level="DEBUG").model_dump()


def test_a_variable_a_rules_file_secret_names_is_not_read_as_a_setting(tmp_path: Path) -> None:
    write(tmp_path / "rules.toml", '[[notify]]\nname = "hook"\nsink = "webhook"\n'
          'events = ["contact.assigned"]\n[notify.settings]\n'
          'url = { env = "CRMHUB_WEBHOOK_URL" }\nsecret = { env = "CRMHUB_WEBHOOK_SECRET" }\n')
    main_file = write(tmp_path / "crmhub.toml", '[hub]\nrules = "rules.toml"\n')

    loaded = load_config(main_file, environ={"CRMHUB_WEBHOOK_SECRET": "s3cr3t",
                                             "CRMHUB_WEBHOOK_URL": "https://h.example.com/x"})

    assert loaded.config.hub.rules == tmp_path / "rules.toml"


def test_an_unknown_variable_no_secret_names_is_an_error_with_the_hint(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", CONNECTOR_WITH_SECRET.format(var="OTHER"))

    issues = issues_of(main_file, {"CRMHUB_WEBHOOK_SECRET": "s3cr3t", "CRMHUB_NOPE__KEY": "1"})

    assert issues == [
        f"env CRMHUB_NOPE__KEY: nope.key: not a crmhub setting\n    hint: {NOT_A_SETTING_HINT}",
        "env CRMHUB_WEBHOOK_SECRET: webhook_secret: not a crmhub setting\n"
        f"    hint: {NOT_A_SETTING_HINT}",
    ]


def test_crmhub_config_and_crmhub_test_pg_are_not_settings(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", "")

    loaded = load_config(main_file, environ={"CRMHUB_CONFIG": str(main_file),
                                             "CRMHUB_TEST_PG": "postgresql+psycopg://x/y"})

    assert loaded.config.hub.model_dump() == HubSection().model_dump()


def test_environment_names_are_case_insensitive_and_merge_key_by_key_over_files(
        tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", '[hub]\ndefault_region = "FR"\n'
                      'own_domains = ["acme.fr"]\n[match]\nauto_merge = 0.9\nreview = 0.85\n')

    config = load_config(main_file, environ={"crmhub_match__review": "0.7",
                                             "Crmhub_Hub__Default_Region": "be"}).config

    assert (config.match.auto_merge, config.match.review) == (0.9, 0.7)
    assert (config.hub.default_region, config.hub.own_domains) == ("BE", ["acme.fr"])


def test_a_whole_section_may_be_one_json_variable(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", "[match]\nauto_merge = 0.9\n")

    config = load_config(main_file, environ={
        "CRMHUB_MATCH": '{"review": 0.7, "vetoes": ["birth_date"]}',
        "CRMHUB_MATCH__KEY_CAP": "50"}).config

    assert (config.match.auto_merge, config.match.review) == (0.9, 0.7)
    assert (config.match.vetoes, config.match.key_cap) == (["birth_date"], 50)


def test_a_bad_value_in_the_environment_names_the_variable(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", "[match]\nreview = 0.5\n")

    assert issues_of(main_file, {"CRMHUB_MATCH__REVIEW": "high"}) == [
        "env CRMHUB_MATCH__REVIEW: match.review: Input should be a valid number, "
        "unable to parse string as a number"]
    assert issues_of(main_file, {"CRMHUB_MATCH": "{not json"}) == [
        "env CRMHUB_MATCH: match: not valid JSON\n"
        '    hint: write a JSON object, e.g. CRMHUB_MATCH=\'{"review": 0.8}\', '
        "or one variable per key, e.g. CRMHUB_MATCH__REVIEW"]


def test_the_nested_form_wins_over_a_shortcut(tmp_path: Path) -> None:
    main_file = write(tmp_path / "crmhub.toml", "")

    hub = load_config(main_file, environ={"CRMHUB_LOG_LEVEL": "error",
                                          "CRMHUB_HUB__LOG_LEVEL": "warning"}).config.hub

    assert hub.log_level == "WARNING"


def test_a_rules_file_the_environment_names_may_reference_crmhub_variables(
        tmp_path: Path) -> None:
    rules = write(tmp_path / "elsewhere" / "rules.toml",
                  '[[notify]]\nname = "hook"\nsink = "webhook"\nevents = ["contact.assigned"]\n'
                  '[notify.settings]\nurl = "https://h.example.com/x"\n'
                  'secret = { env = "CRMHUB_WEBHOOK_SECRET" }\n')
    main_file = write(tmp_path / "crmhub.toml", "")

    loaded = load_config(main_file, environ={"CRMHUB_HUB__RULES": str(rules),
                                             "CRMHUB_WEBHOOK_SECRET": "s3cr3t"})

    assert loaded.config.hub.rules == rules
