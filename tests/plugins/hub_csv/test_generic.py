"""The generic mapping: any layout, an admin names the field of each column."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hub_csv import CsvConnector
from hub_csv.mapping import Target, parse_target
from tests.plugins.hub_csv.support import (
    FR_MAPPING,
    SAMPLES,
    observations,
    person,
    read,
    rejected,
)

FEBRL_MAPPING = {
    "rec_id": "external_id",
    "given_name": "person.given_name",
    "surname": "person.family_name",
    "date_of_birth": "person.birthday",
    "soc_sec_id": "person.identifiers.soc_sec_id",
    "address_1": "person.address.street",
    "address_2": "person.address.street",
    "suburb": "person.address.city",
    "postcode": "person.address.postcode",
    "state": "person.address.region",
    "email": "person.emails",
    "phone": "person.phones",
    "company": "person.company.name",
    "linkedin": "person.handles.linkedin",
    "tags": "person.tags",
    "x": "person.custom.x",
}


def test_french_excel_export_is_read_through_its_mapping() -> None:
    batches = read(SAMPLES / "clients_fr.csv", mapping=FR_MAPPING, id_column="Client n°")
    obs = observations(batches)
    assert rejected(batches) == []
    assert [o.external_id for o in obs] == [f"C-100{n}" for n in range(1, 8)]
    bruno = person(obs, "bruno LEFÈVRE")  # cp1252 È decoded; case left to normalisation
    assert bruno.phones[0].value == "01 45 67 89 10" and bruno.phones[0].label == "work"
    assert bruno.identifiers == {"customer_number": "C-1001"}
    assert bruno.birthday == "12/05/1975"
    assert bruno.company is not None and bruno.company.website == "www.lefevre-conseil.fr"
    assert bruno.custom == {"civilite": "M."}


def test_french_export_decodes_cp1252_only_characters_and_semicolons_in_quotes() -> None:
    obs = observations(read(SAMPLES / "clients_fr.csv", mapping=FR_MAPPING))
    helene = person(obs, "Hélène Dupré")
    assert helene.company is not None and helene.company.name == "Les Œuvres d’Hélène"
    assert helene.address is not None
    assert helene.address.street == "Bât. B; 2e étage, 5 rue Victor Hugo"


def test_mapping_labels_phones_so_the_switchboard_is_main() -> None:
    obs = observations(read(SAMPLES / "clients_fr.csv", mapping=FR_MAPPING))
    paul = person(obs, "Paul Moreau")
    assert [(p.value, p.label) for p in paul.phones] == [
        ("06 55 66 77 88", "mobile"),
        ("01 40 00 00 00", "main"),
    ]
    assert [e.value for e in paul.emails] == ["paul.moreau@gmail.com", "contact@moreau-freres.fr"]


def test_mapping_fills_identifiers_handles_custom_tags_and_joins_street_columns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "febrl.csv"
    path.write_text(
        "rec_id,given_name,surname,date_of_birth,soc_sec_id,address_1,address_2,suburb,"
        "postcode,state,email,phone,company,linkedin,tags,x\n"
        "rec-1-org,ada,lovelace,18151210,1234567,12 byron st,flat 2,marylebone,2000,nsw,"
        "ada@example.com ::: a.l@example.com,02 9999 0000,Analytical Engines,"
        "https://linkedin.com/in/ada,vip; math,42\n",
        encoding="utf-8",
    )
    [obs] = observations(read(path, mapping=FEBRL_MAPPING))
    assert obs.external_id == "rec-1-org"
    p = obs.person
    assert p is not None
    assert (p.given_name, p.family_name, p.birthday) == ("ada", "lovelace", "18151210")
    assert p.identifiers == {"soc_sec_id": "1234567"}
    assert p.address is not None and p.address.street == "12 byron st, flat 2"
    assert (p.address.city, p.address.postcode, p.address.region) == ("marylebone", "2000", "nsw")
    assert [e.value for e in p.emails] == ["ada@example.com", "a.l@example.com"]
    assert p.phones[0].value == "02 9999 0000"
    assert p.handles == {"linkedin": "https://linkedin.com/in/ada"}
    assert p.tags == ["vip", "math"]
    assert p.custom == {"x": "42"}
    assert p.company is not None and p.company.name == "Analytical Engines"


def test_mapping_columns_match_case_and_space_insensitively(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("  E-MAIL ,Name\nada@example.com,Ada\n", encoding="utf-8")
    mapping = {"e-mail": "person.emails", "name": "person.full_name"}
    [obs] = observations(read(path, mapping=mapping))
    assert obs.person is not None and obs.person.full_name == "Ada"


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("external_id", Target("external_id")),
        ("person.given_name", Target("given_name")),
        ("person.phones", Target("phones")),
        ("person.phones.Standard", Target("phones", "main")),
        ("person.emails.work", Target("emails", "work")),
        ("person.company.website", Target("company", "website")),
        ("person.identifiers.customer_number", Target("identifiers", "customer_number")),
        ("person.tags", Target("tags")),
    ],
)
def test_mapping_targets_parse(path: str, target: Target) -> None:
    assert parse_target(path) == target


@pytest.mark.parametrize(
    "target", ["given_name", "person.nickname", "person.address.street2", "person.custom", "x.y"]
)
def test_unknown_mapping_target_is_a_config_error_listing_the_accepted_forms(target: str) -> None:
    with pytest.raises(ValidationError, match="unknown target"):
        CsvConnector.Settings(paths=[Path("a.csv")], mapping={"col": target})


def test_mapping_with_a_named_preset_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="applies to preset"):
        CsvConnector.Settings(
            paths=[Path("a.csv")], preset="google", mapping={"a": "person.emails"}
        )


def test_generic_preset_without_mapping_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="needs a `mapping`"):
        CsvConnector.Settings(paths=[Path("a.csv")], preset="generic")


def test_a_mapping_no_header_matches_rejects_the_file_naming_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    batches = read(path, mapping={"Courriel": "person.emails"})
    [only] = rejected(batches)
    assert "'Courriel'" in only.reason and observations(batches) == []


def test_a_missing_id_column_rejects_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("email\nada@example.com\n", encoding="utf-8")
    [only] = rejected(read(path, mapping={"email": "person.emails"}, id_column="ref"))
    assert "id_column 'ref'" in only.reason


def test_id_column_also_works_with_a_preset(tmp_path: Path) -> None:
    path = tmp_path / "Connections.csv"
    path.write_text(
        "First Name,Last Name,URL,Email Address,Company,Position,Connected On,Member\n"
        "Theo,Grant,https://www.linkedin.com/in/theogrant,,,,14 Mar 2025,m-77\n",
        encoding="utf-8",
    )
    [obs] = observations(read(path, id_column="Member"))
    assert obs.external_id == "m-77"


def test_a_row_with_an_empty_id_cell_falls_back_to_the_content_key(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("ref,email\n,ada@example.com\n", encoding="utf-8")
    [obs] = observations(read(path, mapping={"email": "person.emails"}, id_column="ref"))
    assert obs.external_id.startswith("k:")
