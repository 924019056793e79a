"""Configuration: merging, env overrides, secret references, errors with file/key/hint."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.config import ConfigError, load_config, parse_duration
from hub.connectors import Connector, ConnectorSettings
from hub.plugins import HubPlugins
from hub.runtime import connector_settings
from hub.secrets import SecretRef


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
