"""Settings, check(), registration, and the shared connector contract of hub.testing."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import hub_csv
from hub.plugins import HubPlugins
from hub.testing import ConnectorContract, ConnectorFactory
from hub_csv import CsvConnector, VCardConnector
from tests.plugins.hub_csv.support import FR_MAPPING, SAMPLES, connector

# --- settings -----------------------------------------------------------------------------


def test_relative_paths_and_folder_resolve_against_the_config_files_directory() -> None:
    settings = CsvConnector.Settings.model_validate(
        {"paths": ["samples/google.csv", "/abs/x.csv"], "folder": "inbox"},
        context={"base_dir": Path("/etc/crmhub")},
    )
    assert settings.paths == [Path("/etc/crmhub/samples/google.csv"), Path("/abs/x.csv")]
    assert settings.folder == Path("/etc/crmhub/inbox")


def test_without_a_base_dir_relative_paths_stay_as_written() -> None:
    settings = CsvConnector.Settings.model_validate({"paths": ["samples/google.csv"]})
    assert settings.paths == [Path("samples/google.csv")]


def test_defaults() -> None:
    settings = CsvConnector.Settings(paths=[Path("a.csv")])
    assert (settings.mode, settings.max_delete_ratio) == ("snapshot", 0.2)
    assert settings.batch_size == 1000
    assert (settings.preset, settings.settle_seconds, settings.max_field_bytes) == (
        "auto",
        2.0,
        1024 * 1024,
    )
    assert (settings.allow_short_rows, settings.date_order) == (False, "auto")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "set `paths`"),
        ({"paths": ["a.csv"], "colour": "red"}, "Extra inputs are not permitted"),
        ({"paths": ["a.csv"], "max_delete_ratio": 1.5}, "less than or equal to 1"),
        ({"paths": ["a.csv"], "encoding": "klingon"}, "'klingon' is not a known text encoding"),
        ({"paths": ["a.csv"], "encoding": "base64"}, "'base64' is not a known text encoding"),
        ({"paths": ["a.csv"], "delimiter": ";;"}, "a delimiter is one character"),
        ({"paths": ["a.csv"], "mode": "mirror"}, "'snapshot' or 'append'"),
        ({"paths": ["a.csv"], "preset": "salesforce"}, "'auto', 'google'"),
        ({"paths": ["a.csv"], "date_order": "mdY"}, "'auto', 'dmy', 'mdy' or 'ymd'"),
    ],
)
def test_bad_settings_are_config_errors_with_a_hint(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        CsvConnector.Settings.model_validate(settings)


def test_the_word_tab_names_the_tab_delimiter() -> None:
    assert CsvConnector.Settings(paths=[Path("a.csv")], delimiter="tab").delimiter == "\t"


def test_the_vcard_kind_has_no_csv_only_settings() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        VCardConnector.Settings.model_validate({"paths": ["a.vcf"], "delimiter": ";"})


# --- check --------------------------------------------------------------------------------


def test_check_fails_naming_a_missing_path_and_a_folder_that_is_not_a_directory(
    tmp_path: Path,
) -> None:
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("x", encoding="utf-8")
    result = connector(paths=[tmp_path / "missing.csv"], folder=not_a_dir).check()
    assert not result.ok
    assert "missing.csv: no such file" in result.message
    assert "file.txt: not a directory" in result.message


def test_check_fails_when_a_path_is_a_directory(tmp_path: Path) -> None:
    result = connector(paths=[tmp_path]).check()
    assert not result.ok and "a drop folder goes in `folder`" in result.message


def test_check_passes_and_counts_the_files(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("x", encoding="utf-8")
    result = connector(paths=[SAMPLES / "google.csv", SAMPLES / "*.vcf"], folder=tmp_path).check()
    assert result.ok and result.message == "3 file(s) to read"


# --- registration -------------------------------------------------------------------------


def test_the_plugin_registers_the_csv_and_vcard_kinds() -> None:
    plugins = HubPlugins.load(entry_points=False, extra=[("csv", hub_csv)])
    kinds = plugins.connector_classes()
    assert kinds["csv"] is CsvConnector and kinds["vcard"] is VCardConnector


# --- the contract every connector runs ----------------------------------------------------


class TestGoogleSnapshotContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self) -> ConnectorFactory:
        paths = [SAMPLES / "google.csv", SAMPLES / "outlook_classic.csv", SAMPLES / "contacts.vcf"]
        return lambda: connector(paths=paths, batch_size=5)


class TestGenericMappingContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self) -> ConnectorFactory:
        return lambda: connector(
            paths=[SAMPLES / "clients_fr.csv"], mapping=FR_MAPPING, id_column="Client n°",
            batch_size=3, mode="append",
        )


class TestVCardContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self) -> ConnectorFactory:
        return lambda: connector(VCardConnector, paths=[SAMPLES / "contacts.vcf"], batch_size=2)
