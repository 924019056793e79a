"""Settings, check(), registration, and the shared connector contract of hub.testing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

import hub_csv
from hub.plugins import HubPlugins
from hub.testing import ConnectorContract, ConnectorFactory
from hub_csv import CsvConnector, VCardConnector
from tests.plugins.hub_csv.support import FR_MAPPING, SAMPLES, CsvChanges, connector

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
    def connector_factory(self, tmp_path: Path) -> ConnectorFactory:
        for name in ("google.csv", "outlook_classic.csv", "contacts.vcf"):
            shutil.copy(SAMPLES / name, tmp_path / name)
        paths = [tmp_path / "google.csv", tmp_path / "outlook_classic.csv",
                 tmp_path / "contacts.vcf"]
        return lambda: connector(paths=paths, batch_size=5)

    @pytest.fixture
    def source_changes(self, tmp_path: Path, connector_factory: ConnectorFactory) -> CsvChanges:
        return CsvChanges(tmp_path / "google.csv", connector_factory,
                          {"First Name": "Ada", "Last Name": "Lovelace",
                           "E-mail 1 - Value": "ada@analytical.org"}, "Organization Title")


class TestGenericMappingContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path) -> ConnectorFactory:
        shutil.copy(SAMPLES / "clients_fr.csv", tmp_path / "clients_fr.csv")
        return lambda: connector(
            paths=[tmp_path / "clients_fr.csv"], mapping=FR_MAPPING, id_column="Client n°",
            batch_size=3,
        )

    @pytest.fixture
    def source_changes(self, tmp_path: Path, connector_factory: ConnectorFactory) -> CsvChanges:
        return CsvChanges(tmp_path / "clients_fr.csv", connector_factory,
                          {"Prénom": "Ada", "Nom": "Lovelace", "Email": "ada@analytical.org",
                           "Client n°": "C-2001"}, "Fonction",
                          encoding="cp1252", delimiter=";")


class TestAppendModeContract(ConnectorContract):
    changes_unsupported = "append mode: a row removed from a file is not a deletion"

    @pytest.fixture
    def connector_factory(self) -> ConnectorFactory:
        return lambda: connector(
            paths=[SAMPLES / "clients_fr.csv"], mapping=FR_MAPPING, id_column="Client n°",
            batch_size=3, mode="append",
        )


class TestVCardContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path) -> ConnectorFactory:
        shutil.copy(SAMPLES / "contacts.vcf", tmp_path / "contacts.vcf")
        return lambda: connector(VCardConnector, paths=[tmp_path / "contacts.vcf"],
                                 batch_size=2)

    @pytest.fixture
    def source_changes(self, tmp_path: Path) -> VCardChanges:
        return VCardChanges(tmp_path / "contacts.vcf")


class VCardChanges:
    """Cards added, renamed and removed in a vCard file, found by their UID."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _cards(self) -> list[str]:
        text = self.path.read_text(encoding="utf-8")
        return ["BEGIN:VCARD" + card for card in text.split("BEGIN:VCARD")[1:]]

    def _card(self, cards: list[str], uid: str) -> int:
        return next(n for n, card in enumerate(cards) if f"\nUID:{uid}\r\n" in card
                    or f"\nUID:{uid}\n" in card)

    def add(self) -> str:
        card = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:kit-ada\r\nFN:Ada Lovelace\r\n"
                "N:Lovelace;Ada;;;\r\nEMAIL:ada@analytical.org\r\nEND:VCARD\r\n")
        self.path.write_text("".join([*self._cards(), card]), encoding="utf-8")
        return "kit-ada"

    def update(self, external_id: str) -> None:
        cards = self._cards()
        n = self._card(cards, external_id)
        cards[n] = cards[n].replace("\nFN:", "\nFN:Dr ", 1)
        self.path.write_text("".join(cards), encoding="utf-8")

    def delete(self, external_id: str) -> None:
        cards = self._cards()
        del cards[self._card(cards, external_id)]
        self.path.write_text("".join(cards), encoding="utf-8")
