"""Each export preset against its sample: every field lands where the core expects it."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.records import ContactValue
from hub_csv.presets import detect
from tests.plugins.hub_csv.support import SAMPLES, observations, person, read, rejected


def cv(value: str, label: str | None = None, primary: bool = False) -> ContactValue:
    return ContactValue(value=value, label=label, primary=primary)


# --- Google -------------------------------------------------------------------------------


def test_google_sample_reads_every_row_without_rejections() -> None:
    batches = read(SAMPLES / "google.csv")
    assert len(observations(batches)) == 12
    assert rejected(batches) == []


def test_google_row_lands_names_labelled_emails_phones_company_address_birthday_tags() -> None:
    alice = person(observations(read(SAMPLES / "google.csv")), "Alice Martin")
    assert alice.full_name == "Alice Martin"
    assert alice.emails == [cv("alice.martin@gmail.com", "home", primary=True)]
    assert alice.phones == [cv("+33 6 12 34 56 78", "mobile")]
    assert alice.company is not None and alice.company.name == "Studio Lumière"
    assert alice.title == "Directrice artistique"
    assert alice.birthday == "1988-03-14"
    assert alice.tags == ["Clients"]  # "* myContacts" is every contact: not a tag
    assert alice.address is not None
    assert (alice.address.street, alice.address.city, alice.address.postcode) == (
        "14 rue de Charonne",
        "Paris",
        "75011",
    )


def test_google_quoted_newline_stays_inside_the_notes_cell() -> None:
    alice = person(observations(read(SAMPLES / "google.csv")), "Alice Martin")
    assert alice.custom["notes"] == (
        "Met at Salon du Design 2024.\nPrefers e-mail, never before 10am."
    )


def test_google_multi_value_cells_split_and_star_marks_only_the_first_primary() -> None:
    hugo = person(observations(read(SAMPLES / "google.csv")), "Hugo Bernard")
    assert hugo.emails == [
        cv("hugo.bernard@orange-bleue.fr", "work", primary=True),
        cv("h.bernard@orange-bleue.fr", "work"),
    ]
    assert [p.value for p in hugo.phones] == ["+33 2 40 12 34 56", "+33 2 40 12 34 57"]
    assert hugo.full_name == "Hugo Louis Bernard"
    assert hugo.tags == ["Clients", "Ouest"]


def test_google_shared_lines_are_labelled_main_and_fax() -> None:
    obs = observations(read(SAMPLES / "google.csv"))
    claire = person(obs, "Claire Moreau")
    assert claire.phones == [
        cv("+33 6 11 22 33 44", "mobile", True),
        cv("+33 1 40 00 00 00", "main"),
    ]
    assert claire.emails[1] == cv("contact@moreau-freres.fr", "work")
    karim = person(obs, "Karim Benali")
    assert [(p.value, p.label) for p in karim.phones] == [
        ("+33 3 20 11 22 33", "work"),
        ("+33 3 20 11 22 34", "fax"),
        ("+33 6 70 80 90 10", "mobile"),
    ]


def test_google_profile_website_becomes_a_linkedin_handle() -> None:
    sofia = person(observations(read(SAMPLES / "google.csv")), "Sofia Rossi")
    assert sofia.handles == {"linkedin": "https://www.linkedin.com/in/sofiarossi"}


def test_google_keeps_odd_values_raw_for_normalisation_to_judge() -> None:
    obs = observations(read(SAMPLES / "google.csv"))
    assert person(obs, "Lucie Garnier").phones == [cv("12345", "mobile")]
    assert person(obs, "Nadia Haddad").birthday == "1990-02-30"
    assert person(obs, "Emma Leroy").birthday == "--06-21"
    assert person(obs, "Thomas Petit").tags == ["starred"]


def test_google_formatted_only_address_goes_to_street() -> None:
    chloe = person(observations(read(SAMPLES / "google.csv")), "Chloé Fontaine")
    assert chloe.address is not None
    assert chloe.address.street == "12 rue des Lilas\nAppartement 4\n33000 Bordeaux\nFrance"


def test_google_legacy_sample_reads_type_groups_and_group_membership() -> None:
    batches = read(SAMPLES / "google_legacy.csv")
    obs = observations(batches)
    assert len(obs) == 4 and rejected(batches) == []
    olivier = person(obs, "Olivier Chevalier")
    assert olivier.full_name == "Olivier Chevalier"
    assert olivier.emails == [cv("olivier.chevalier@gmail.com", "home", True)]
    assert olivier.company is not None and olivier.company.name == "Chevalier Transports"
    assert olivier.title == "Président"
    assert olivier.tags == ["Partenaires"]  # "* My Contacts" dropped
    isabelle = person(obs, "Isabelle Roux")
    assert [e.label for e in isabelle.emails] == ["work", "home"]
    assert isabelle.address is not None and isabelle.address.city == "Toulouse"


# --- Outlook ------------------------------------------------------------------------------


def test_outlook_sample_reads_the_61_column_format() -> None:
    batches = read(SAMPLES / "outlook.csv")
    assert len(observations(batches)) == 10 and rejected(batches) == []
    header = (SAMPLES / "outlook.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert len(header.split(",")) == 61


def test_outlook_row_lands_email_phone_company_address_and_website() -> None:
    obs = observations(read(SAMPLES / "outlook.csv"))
    alice = person(obs, "Alice Martin")
    assert alice.emails == [cv("AliceMartin+crm@googlemail.com", None, True)]
    bruno = person(obs, "Bruno Lefèvre")
    assert bruno.phones == [cv("+33 1 45 67 89 10", "work")]
    assert bruno.title == "Gérant"
    assert bruno.company is not None
    assert (bruno.company.name, bruno.company.website) == (
        "Lefèvre Conseil",
        "https://www.lefevre-conseil.fr",
    )
    assert bruno.address is not None
    assert (bruno.address.street, bruno.address.country) == ("8 rue de la Paix", "France")


def test_outlook_company_main_phone_and_fax_are_labelled_as_shared_lines() -> None:
    obs = observations(read(SAMPLES / "outlook.csv"))
    paul = person(obs, "Paul Moreau")
    assert paul.phones == [cv("+33 6 55 66 77 88", "mobile"), cv("+33 1 40 00 00 00", "main")]
    greta = person(obs, "Greta Jansen")
    assert [p.label for p in greta.phones] == ["work", "fax"]


def test_outlook_falls_back_to_the_home_address_and_reads_birthdays_month_first() -> None:
    obs = observations(read(SAMPLES / "outlook.csv"))
    pierre = person(obs, "Pierre Girard")
    assert pierre.address is not None and pierre.address.city == "Rennes"
    assert person(obs, "Yuki Tanaka").birthday == "1990-07-15"  # written 7/15/1990
    [yuki] = [o for o in obs if o.person is not None and o.person.given_name == "Yuki"]
    assert yuki.raw["Birthday"] == "7/15/1990"  # raw keeps the cell as written


OUTLOOK_HEADER = "First Name,Last Name,E-mail Address,Birthday\n"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "1964-02-04"),
        ({"preset": "outlook"}, "1964-02-04"),
        ({"date_order": "dmy"}, "1964-04-02"),
    ],
)
def test_an_outlook_birthday_2_4_1964_is_february_4_unless_date_order_says_otherwise(
    tmp_path: Path, settings: dict[str, str], expected: str
) -> None:
    path = tmp_path / "outlook.csv"
    path.write_text(OUTLOOK_HEADER + "Ada,Lovelace,ada@example.com,2/4/1964\n", "utf-8")
    [obs] = observations(read(path, **settings))
    assert obs.person is not None and obs.person.birthday == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("12/31/1999", "1999-12-31"),
        ("07/04/1976", "1976-07-04"),
        ("7/15", "--07-15"),
        ("1988-03-14", "1988-03-14"),  # an ISO date is one already, whatever the order
        ("--06-21", "--06-21"),
        ("2/30/1990", "2/30/1990"),  # not a date: as written, for the core to flag
        ("someday", "someday"),
        ("15/7/1990", "15/7/1990"),  # day-first in an Outlook file: not a month 15
    ],
)
def test_outlook_birthdays_become_iso_or_stay_as_written(
    tmp_path: Path, cell: str, expected: str
) -> None:
    path = tmp_path / "outlook.csv"
    path.write_text(OUTLOOK_HEADER + f"Ada,Lovelace,ada@example.com,{cell}\n", "utf-8")
    [obs] = observations(read(path))
    assert obs.person is not None and obs.person.birthday == expected


def test_date_order_applies_to_the_generic_mapping_and_auto_leaves_it_as_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fr.csv"
    path.write_text("email;naissance\na@example.com;12.05.1975\n", "utf-8")
    mapping = {"email": "person.emails", "naissance": "person.birthday"}
    [auto] = observations(read(path, mapping=mapping))
    [dmy] = observations(read(path, mapping=mapping, date_order="dmy"))
    assert auto.person is not None and auto.person.birthday == "12.05.1975"
    assert dmy.person is not None and dmy.person.birthday == "1975-05-12"


def test_outlook_classic_all_quoted_cp1252_sample() -> None:
    batches = read(SAMPLES / "outlook_classic.csv")
    obs = observations(batches)
    assert len(obs) == 4 and rejected(batches) == []
    claire = person(obs, "Claire Moreau")
    assert claire.company is not None and claire.company.name == "Moreau Frères"  # cp1252 è
    assert [(p.value, p.label) for p in claire.phones] == [
        ("+33 6 11 22 33 44", "mobile"),
        ("+33 1 40 00 00 00", "main"),
        ("+33 1 40 00 00 01", "fax"),
    ]
    assert claire.address is not None and claire.address.country == "France"  # Business Country
    assert claire.birthday is None  # classic Outlook writes "0/0/00" for no date
    assert claire.tags == ["Fournisseurs"]


def test_outlook_classic_skips_exchange_x500_addresses() -> None:
    robert = person(observations(read(SAMPLES / "outlook_classic.csv")), "Robert Klein")
    assert robert.emails == [cv("robert.klein@klein-partner.de", None, True)]


def test_outlook_classic_categories_become_tags() -> None:
    fatima = person(observations(read(SAMPLES / "outlook_classic.csv")), "Fatima Zahra El Idrissi")
    assert fatima.tags == ["Clients", "VIP"]
    assert fatima.birthday == "1985-05-03"  # classic Outlook writes 5/3/1985 for May 3


# --- LinkedIn -----------------------------------------------------------------------------


def test_linkedin_sample_skips_the_notes_preamble_and_blank_comma_rows_silently() -> None:
    batches = read(SAMPLES / "Connections.csv")
    assert len(observations(batches)) == 9
    assert rejected(batches) == []


def test_linkedin_row_lands_handle_company_position_and_connection_date() -> None:
    theo = person(observations(read(SAMPLES / "Connections.csv")), "Theo Grant")
    assert theo.handles == {"linkedin": "https://www.linkedin.com/in/theogrant"}
    assert theo.company is not None and theo.company.name == "Contoso, Ltd."
    assert theo.title == "Analyst"
    assert theo.custom == {"linkedin_connected_on": "14 Mar 2025"}
    assert theo.emails == []


def test_linkedin_german_headers_are_recognised(tmp_path: Path) -> None:
    path = tmp_path / "Connections.csv"
    path.write_text(
        "Notes:\n\"Beim Exportieren ...\"\n\n"
        "Vorname,Nachname,URL,E-Mail-Adresse,Unternehmen,Position,Verbunden am\n"
        "Hannah,Schmidt,https://www.linkedin.com/in/hannahschmidt,h@schmidt.de,"
        "Schmidt KG,CEO,21 Okt 2024\n",
        encoding="utf-8",
    )
    hannah = person(observations(read(path)), "Hannah Schmidt")
    assert hannah.emails == [cv("h@schmidt.de")]
    assert hannah.company is not None and hannah.company.name == "Schmidt KG"
    assert hannah.custom["linkedin_connected_on"] == "21 Okt 2024"


# --- header detection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "preset"),
    [
        ("google.csv", "google"),
        ("google_legacy.csv", "google_legacy"),
        ("outlook.csv", "outlook"),
        ("outlook_classic.csv", "outlook"),
    ],
)
def test_header_detection_picks_the_right_preset(sample: str, preset: str) -> None:
    import csv

    encoding = "cp1252" if sample == "outlook_classic.csv" else "utf-8-sig"
    with (SAMPLES / sample).open(encoding=encoding, newline="") as stream:
        header = next(csv.reader(stream))
    assert detect(header) == preset


@pytest.mark.parametrize(
    ("header", "preset"),
    [
        (["First Name", "Last Name", "URL", "Email Address", "Company", "Position",
          "Connected On"], "linkedin"),
        (["Vorname", "Nachname", "URL", "E-Mail-Adresse", "Unternehmen", "Position",
          "Verbunden am"], "linkedin"),
        (["Name", "Given Name", "Family Name", "Group Membership", "E-mail 1 - Type",
          "E-mail 1 - Value"], "google_legacy"),
        (["First Name", "Last Name", "E-mail 1 - Label", "E-mail 1 - Value"], "google"),
        (["Title", "First Name", "Last Name", "E-mail Address", "E-mail Type"], "outlook"),
        (["id", "email", "name"], None),
        (["Notes:"], None),
    ],
)
def test_header_detection_by_column_names(header: list[str], preset: str | None) -> None:
    assert detect(header) == preset


def test_forcing_a_preset_the_file_is_not_rejects_the_file_with_a_reason() -> None:
    batches = read(SAMPLES / "outlook.csv", preset="linkedin")
    assert observations(batches) == []
    [reason] = [r.reason for r in rejected(batches)]
    assert "no linkedin export header" in reason


def test_raw_holds_the_non_empty_cells_by_header_name() -> None:
    obs = observations(read(SAMPLES / "Connections.csv"))
    omar = next(o for o in obs if o.person and o.person.given_name == "Omar")
    assert omar.raw == {
        "First Name": "Omar",
        "Last Name": "Farouk",
        "URL": "https://www.linkedin.com/in/omarfarouk",
        "Connected On": "12 Jul 2024",
    }


def test_observed_at_is_the_file_mtime_not_the_import_time(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes((SAMPLES / "google.csv").read_bytes())
    os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    obs = observations(read(path))
    expected = datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert {o.observed_at for o in obs} == {expected}
