from __future__ import annotations

import pycountry
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.normalize.countries import _ALIASES, _index, _key, normalize_country


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("FR", "FR"), ("fr", "FR"), ("FRA", "FR"), ("France", "FR"), ("FRANCE", "FR"),
        (" france ", "FR"), ("Frankreich", "FR"),
        ("Allemagne", "DE"), ("Deutschland", "DE"), ("Germany", "DE"),
        ("United States", "US"), ("USA", "US"), ("U.S.A.", "US"), ("US", "US"),
        ("États-Unis", "US"), ("Etats-Unis", "US"),
        ("UK", "GB"), ("Great Britain", "GB"), ("United Kingdom", "GB"), ("Royaume-Uni", "GB"),
        ("Espagne", "ES"), ("España", "ES"), ("Belgique", "BE"), ("Suisse", "CH"),
        ("Schweiz", "CH"), ("Italie", "IT"), ("Pays-Bas", "NL"), ("Netherlands", "NL"),
        ("Österreich", "AT"), ("Turkey", "TR"), ("Türkiye", "TR"), ("Vietnam", "VN"),
        ("Viet Nam", "VN"), ("South Korea", "KR"), ("Czech Republic", "CZ"),
        ("Côte d'Ivoire", "CI"), ("Cote d’Ivoire", "CI"), ("Russia", "RU"),
    ],
)  # fmt: skip
def test_normalize_country_gives_alpha_2(raw: str, code: str) -> None:
    assert normalize_country(raw) == code


@pytest.mark.parametrize("raw", [None, "", "  ", "Korea", "Atlantis", "XX", "Fr4nce", "Franc"])
def test_unknown_or_ambiguous_countries_are_none(raw: str | None) -> None:
    assert normalize_country(raw) is None


def test_every_iso_country_round_trips_by_code_and_name() -> None:
    for country in pycountry.countries:
        assert normalize_country(country.alpha_2) == country.alpha_2
        assert normalize_country(country.alpha_3) == country.alpha_2
        assert normalize_country(country.name) == country.alpha_2


def test_aliases_do_not_shadow_iso_names_or_each_other() -> None:
    index = _index()
    for alias, code in _ALIASES.items():
        assert index[_key(alias)] == code, alias


@given(st.text())
def test_normalize_country_never_raises_and_is_idempotent(value: str) -> None:
    code = normalize_country(value)
    assert normalize_country(code) == code


@given(st.sampled_from([c.name for c in pycountry.countries]))
def test_country_names_are_found_whatever_their_case(name: str) -> None:
    assert normalize_country(name.upper()) == normalize_country(name.lower()) is not None
