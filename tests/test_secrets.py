"""Secret references: every value resolved, at load or at run time, is masked in logs."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hub import hookimpl
from hub.config import HubSection
from hub.connectors import Connector, ConnectorSettings
from hub.logs import configure_logging, describe_error, mask_text
from hub.plugins import HubPlugins
from hub.secrets import SecretError, SecretRef, resolve_secret
from hub.service.runtime import Hub


class TokenConnector(Connector):
    kind = "token"

    class Settings(ConnectorSettings):
        token: SecretRef

    Settings.model_rebuild()
    settings_model: ClassVar[type[ConnectorSettings]] = Settings


class TokenPlugin:
    @hookimpl
    def crmhub_register_connectors(self) -> list[type]:
        return [TokenConnector]


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """crmhub's JSON handler writing into a StringIO; the root logger is restored after."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    configure_logging(stream=stream)
    yield stream
    configure_logging(stream=io.StringIO())
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def unique(label: str) -> str:
    """A secret value no other test registers (the masker's secrets last the process)."""
    return f"{label}-{uuid.uuid4().hex}"


def log_everywhere(stream: io.StringIO, value: str) -> dict[str, Any]:
    """Log ``value`` in the message, an extra field and an exception; the JSON line."""
    log = logging.getLogger("hub.test.secrets")
    try:
        raise RuntimeError(f"login refused for token {value}")
    except RuntimeError:
        log.exception("using %s", value, extra={"auth": f"Bearer {value}"})
    return dict(json.loads(stream.getvalue().splitlines()[-1]))


def test_a_file_secret_rotated_on_disk_is_masked_once_a_connector_resolves_it_again(
        tmp_path: Path, log_stream: io.StringIO) -> None:
    secret = tmp_path / "token"
    old, new = unique("old-token"), unique("new-token")
    secret.write_text(old + "\n", encoding="utf-8")
    config = tmp_path / "crmhub.toml"
    config.write_text(f'[hub]\ndatabase_url = "sqlite:///{tmp_path / "hub.db"}"\n'
                      '[[connectors]]\nname = "t"\nkind = "token"\n'
                      f'[connectors.settings]\ntoken = {{ file = "{secret}" }}\n',
                      encoding="utf-8")
    hub = Hub.open(config, plugins=HubPlugins.load(entry_points=False,
                                                   extra=[("token", TokenPlugin())]))
    try:
        secret.write_text(new + "\n", encoding="utf-8")  # rotated, no reload
        connector = hub.connector("t")
        resolved = connector.context.resolve_secret(connector.settings.token)
    finally:
        hub.close()

    entry = log_everywhere(log_stream, resolved)

    assert resolved == new
    assert entry["msg"] == "using ***"
    assert entry["auth"] == "Bearer ***"
    assert entry["exc"].endswith("RuntimeError: login refused for token ***")
    assert new not in log_stream.getvalue()
    assert log_everywhere(log_stream, old)["msg"] == "using ***"  # the old value stays masked


@pytest.mark.parametrize("kind", ["env", "file", "credential"])
def test_each_kind_of_reference_registers_its_value_when_resolved(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        log_stream: io.StringIO) -> None:
    value = unique(kind)
    (tmp_path / "NAME").write_text(value, encoding="utf-8")
    monkeypatch.setenv("CRMHUB_TEST_SECRET_VALUE", value)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    ref = {"env": {"env": "CRMHUB_TEST_SECRET_VALUE"}, "file": {"file": str(tmp_path / "NAME")},
           "credential": {"credential": "NAME"}}[kind]
    assert mask_text(f"token {value}") == f"token {value}"  # not known before

    assert resolve_secret(ref) == value

    assert mask_text(f"token {value}") == "token ***"
    assert describe_error(ValueError(value)) == "ValueError: ***"
    assert log_everywhere(log_stream, value)["auth"] == "Bearer ***"


def test_a_database_url_secret_is_masked_once_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    password = uuid.uuid4().hex
    url = f"postgresql+psycopg://crm:{password}@db/crm"
    monkeypatch.setenv("CRM_DB", url)

    assert HubSection(database_url=SecretRef(env="CRM_DB")).url() == url

    assert mask_text(f"connecting to {url}") == "connecting to ***"



def test_a_credential_is_read_at_each_use_with_only_its_trailing_newline_dropped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    (tmp_path / "smtp-password").write_text(" first value \n", encoding="utf-8")
    ref = SecretRef(credential="smtp-password")
    first = ref.resolve()
    (tmp_path / "smtp-password").write_text("second\r\n", encoding="utf-8")

    assert (first, ref.resolve()) == (" first value ", "second")


def test_a_credential_without_credentials_directory_says_to_add_load_credential(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)

    with pytest.raises(SecretError) as caught:
        SecretRef(credential="api").resolve()

    assert str(caught.value) == ("credential api: $CREDENTIALS_DIRECTORY is not set "
                                 "(add LoadCredential= to the systemd unit)")
