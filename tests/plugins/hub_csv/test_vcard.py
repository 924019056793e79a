"""vCard 3.0 and 4.0 files, card by card: a broken card is rejected, the others go."""

from __future__ import annotations

import shutil
from pathlib import Path

from hub.records import ContactValue
from hub_csv import VCardConnector
from tests.plugins.hub_csv.support import (
    SAMPLES,
    connector,
    final_cursor,
    observations,
    person,
    read,
    rejected,
    run,
)


def card(*lines: str) -> str:
    return "\r\n".join(["BEGIN:VCARD", *lines, "END:VCARD"]) + "\r\n"


def test_the_vcard_sample_reads_every_card() -> None:
    batches = read(SAMPLES / "contacts.vcf")
    assert len(observations(batches)) == 6 and rejected(batches) == []
    assert batches[-1].snapshot_end is not None


def test_vcard3_fields_land_where_expected() -> None:
    obs = observations(read(SAMPLES / "contacts.vcf"))
    theo = person(obs, "Theo Grant")
    assert theo.full_name == "Theo Grant"
    assert theo.emails == [
        ContactValue(value="theo@grant-analytics.com", label="work", primary=True)
    ]
    assert theo.phones == [ContactValue(value="+44 7700 900123", label="mobile")]
    assert theo.handles == {"linkedin": "https://linkedin.com/in/TheoGrant/"}
    assert theo.company is not None and theo.company.name == "Contoso, Ltd."
    assert theo.title == "Analyst"
    assert theo.address is not None
    assert (theo.address.street, theo.address.city, theo.address.postcode) == (
        "1 Canada Square",
        "London",
        "E14 5AB",
    )
    assert theo.tags == ["Prospects", "UK"]
    assert theo.custom["notes"] == "Met at the London fintech meetup."
    assert obs[0].external_id == "5f1c2a9e-theo-grant"  # the UID


def test_vcard4_fields_land_where_expected() -> None:
    obs = observations(read(SAMPLES / "contacts.vcf"))
    ingrid = person(obs, "Ingrid Larsen")
    assert ingrid.emails == [
        ContactValue(value="ingrid.larsen@fjord-energi.no", label="work", primary=True),
        ContactValue(value="ingrid.l@online.no", label="home"),
    ]
    assert [(p.value, p.label) for p in ingrid.phones] == [
        ("+47-912-34-567", "mobile"),  # tel: URI, TYPE="voice,cell"
        ("+47-22-00-00-00", "work"),
    ]
    assert ingrid.birthday == "--0412"
    assert ingrid.handles == {"twitter": "https://twitter.com/ingridlarsen"}
    olga = person(obs, "Olga Petrova")
    assert olga.birthday == "19830917"
    assert olga.company is not None and olga.company.website == "https://www.baltic-shipping.lv"


def test_vcard_fax_lines_and_social_profiles() -> None:
    obs = observations(read(SAMPLES / "contacts.vcf"))
    raphael = person(obs, "Raphaël Simon")
    assert [p.label for p in raphael.phones] == ["work", "fax"]
    assert raphael.address is not None
    assert raphael.address.street == "Zone artisanale, 12 rue des Artisans"
    diego = person(obs, "Diego Alvarez")
    assert diego.handles == {"linkedin": "https://www.linkedin.com/in/diegoalvarez"}


def test_a_card_without_uid_gets_a_content_key_and_photo_data_stays_out_of_raw() -> None:
    obs = observations(read(SAMPLES / "contacts.vcf"))
    diego = next(o for o in obs if o.person and o.person.given_name == "Diego")
    assert diego.external_id.startswith("k:")
    assert "PHOTO" not in diego.raw["vcard"] and "EMAIL" in diego.raw["vcard"]


def test_a_broken_card_is_rejected_and_the_others_go(tmp_path: Path) -> None:
    path = tmp_path / "mixed.vcf"
    path.write_text(
        card("VERSION:3.0", "FN:Ada Lovelace", "EMAIL:ada@example.com")
        + card("VERSION:3.0", "FN Broken Line Without Colon", "EMAIL:x@example.com")
        + card("VERSION:3.0", "ORG:Nobody Inc.")
        + card("VERSION:4.0", "FN:Bob Ray", "TEL:+33 6 00 00 00 00"),
        encoding="utf-8",
    )
    batches = read(path)
    assert [o.person.full_name for o in observations(batches) if o.person] == [
        "Ada Lovelace",
        "Bob Ray",
    ]
    broken, anonymous = rejected(batches)
    assert broken.reason.startswith("unreadable vCard") and broken.location == f"{path}:6"
    assert "nothing identifies anyone" in anonymous.reason


def test_a_truncated_vcard_file_keeps_the_whole_cards(tmp_path: Path) -> None:
    path = tmp_path / "cut.vcf"
    path.write_text(
        card("VERSION:3.0", "FN:Ada Lovelace") + "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bo",
        encoding="utf-8",
    )
    batches = read(path)
    assert len(observations(batches)) == 1
    [tail] = rejected(batches)
    assert "ends inside a card" in tail.reason
    assert batches[-1].snapshot_end is None


def test_a_file_with_no_card_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "none.vcf"
    path.write_text("hello\r\n", encoding="utf-8")
    [only] = rejected(read(path))
    assert "no vCard" in only.reason


def test_the_csv_kind_reads_vcards_by_extension_or_by_content(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    shutil.copy(SAMPLES / "contacts.vcf", path)
    assert len(observations(read(path))) == 6


def test_the_vcard_kind_reads_every_file_as_vcards(tmp_path: Path) -> None:
    path = tmp_path / "cards.dat"
    path.write_text(card("VERSION:3.0", "FN:Ada Lovelace"), encoding="utf-8")
    batches = run(connector(VCardConnector, paths=[path]))
    assert len(observations(batches)) == 1


def test_vcard_resume_continues_after_the_committed_cards() -> None:
    conn = connector(paths=[SAMPLES / "contacts.vcf"], batch_size=4)
    whole = run(conn)
    resumed = run(conn, whole[0].cursor)
    assert [o.external_id for o in observations(resumed)] == [
        o.external_id for o in observations(whole)[4:]
    ]
    assert run(conn, final_cursor(whole)) == []


def test_vcard_external_ids_are_stable_across_reads() -> None:
    first = [o.external_id for o in observations(read(SAMPLES / "contacts.vcf"))]
    second = [o.external_id for o in observations(read(SAMPLES / "contacts.vcf"))]
    assert first == second and len(set(first)) == 6
