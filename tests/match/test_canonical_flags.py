"""Text that arrived as UTF-8 decoded with a single-byte codepage is kept as it came and
flagged, so that a person sees it (`crmhub contacts show`)."""

from __future__ import annotations

from hub.match.canonical import Policy, canonical_person
from hub.records import PersonData


def flags(**person: object) -> list[str]:
    canon = canonical_person(PersonData.model_validate(person), Policy(), "FR")
    return [f for f in canon.data["flags"] if f.startswith("mojibake:")]


def test_mojibake_in_names_company_and_address_is_flagged_per_field() -> None:
    assert flags(full_name="HÃ©lÃ¨ne Dupré", company={"name": "lâ€™Atelier"},
                 address={"city": "OrlÃ©ans"}) == [
        "mojibake:given_name", "mojibake:full_name", "mojibake:company",
        "mojibake:address.city"]


def test_real_accents_in_any_language_are_not_mojibake() -> None:
    assert flags(full_name="Hélène Müller-Çelik", title="Directrice générale",
                 company={"name": "São Paulo Ltda"}, address={"city": "SÃO PAULO"}) == []
