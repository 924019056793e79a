"""A header that repeats a column keeps every value: a second e-mail is not dropped, and a
mapping can name the second column as ``"Email (2)"``."""

from __future__ import annotations

from pathlib import Path

from tests.plugins.hub_csv.support import observations, read, rejected


def emails(path: Path, **settings: object) -> list[list[str]]:
    batches = read(path, **settings)
    assert rejected(batches) == []
    return [[e.value for e in o.person.emails] for o in observations(batches) if o.person]


def test_a_google_export_with_a_repeated_email_column_keeps_both(tmp_path: Path) -> None:
    path = tmp_path / "google.csv"
    path.write_text("First Name,Last Name,E-mail 1 - Label,E-mail 1 - Value,E-mail 1 - Value\n"
                    "Zoé,Lefèvre,* Work,zoe@atelier.fr,zoe.lefevre@orange.fr\n",
                    encoding="utf-8")
    assert emails(path) == [["zoe@atelier.fr", "zoe.lefevre@orange.fr"]]


def test_an_outlook_or_linkedin_export_with_a_repeated_email_column_keeps_both(
        tmp_path: Path) -> None:
    outlook = tmp_path / "outlook.csv"
    outlook.write_text("First Name,Last Name,E-mail Address,E-mail Address,Business Phone\n"
                       "Ann,Abel,ann@a.fr,ann@gmail.com,\n", encoding="utf-8")
    assert emails(outlook) == [["ann@a.fr", "ann@gmail.com"]]
    linkedin = tmp_path / "Connections.csv"
    linkedin.write_text("First Name,Last Name,URL,Email Address,Email Address,Company,Position,"
                        "Connected On\nBob,Bell,https://www.linkedin.com/in/bob,bob@b.fr,"
                        "bob@gmail.com,B,CEO,01 Jan 2026\n", encoding="utf-8")
    assert emails(linkedin) == [["bob@b.fr", "bob@gmail.com"]]


def test_a_mapped_file_reads_every_email_column_and_can_name_the_second(
        tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("Nom;Email;Email;Téléphone\nDurand;a@d.fr;b@d.fr;0102030405\n",
                    encoding="utf-8")
    both = {"Nom": "person.family_name", "Email": "person.emails"}
    assert emails(path, mapping=both) == [["a@d.fr", "b@d.fr"]]
    second = {"Nom": "person.family_name", "Email (2)": "person.emails.work"}
    assert emails(path, mapping=second) == [["b@d.fr"]]
