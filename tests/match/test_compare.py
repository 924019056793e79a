"""Comparators, blocking keys and the resolver's profile cache, without a database."""

from __future__ import annotations

from typing import Any

import pytest

from hub.match.blocking import name_keys
from hub.match.compare import Birthday, Place, Profile, comparators
from hub.match.engine import ProfileCache
from hub.match.score import Model


def place(left: dict[str, Any], right: dict[str, Any]) -> str:
    return Place.levels[Place().compare(Profile.of(left), Profile.of(right))]


def at(street: str = "", postcode: str = "", city: str = "",
       company: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {"address": {"street": street, "postcode": postcode, "city": city}}
    if company:
        data["company"] = {"name_key": company}
    return data


@pytest.mark.parametrize(("left", "right", "level"), [
    (at("3 rue Neuve", "69001", "Lyon", "acme"), at("3 rue neuve", "69001", "Lyon", "acme"),
     "company_street"),
    (at("3 rue Neuve", "69001", "Lyon", "acme"), at(company="acme"), "company"),
    (at("4, bynoe place, rhosewyn", "2640", "lake clifton"),
     at("4, rhosewyn, bynoe place", "2649", "lakeclifton"), "street"),
    (at("256, coghill close, bay city plaza", "5253", "blacktown"),
     at("256, coghill close", "5253", "blackown"), "street"),
    (at("31 Victoria Road", "OX1 2JD", "Oxford"), at("84 Victoria Road", "OX1 2JD", "Oxford"),
     "city"),
    (at("31 Victoria Road", "OX1 2JD", "Oxford"), at(postcode="OX1 2JD"), "postcode"),
    (at("3 rue Neuve", "69001", "Lyon", "acme"), at("3 rue Neuve", "69001", "Lyon", "other"),
     "street"),
    (at("3 rue Neuve", "69001", "Lyon", "acme"), at("9 quai Sud", "13002", "Marseille",
                                                    "other"), "other_company"),
    (at("3 rue Neuve", "69001", "Lyon"), at("9 quai Sud", "13002", "Marseille"), "different"),
    (at("3 rue Neuve"), at(city="Lyon"), "missing"),
], ids=["colleagues", "same-company", "street-parts-moved", "street-part-left-out",
        "neighbours", "same-postcode", "same-house-other-company", "other-company",
        "different", "nothing-comparable"])
def test_place_is_one_level_for_company_and_address(
        left: dict[str, Any], right: dict[str, Any], level: str) -> None:
    assert place(left, right) == level


def test_profile_cache_hits_only_for_the_same_content_and_forgets_the_oldest() -> None:
    cache = ProfileCache(size=2)
    first, second, third = (Profile.of({"given_key": n}) for n in ("ann", "bob", "cy"))
    cache.put(1, "h1", first)
    cache.put(2, "h2", second)
    assert cache.get(1, "h1") is first
    assert cache.get(1, "changed") is None  # the record's content changed since
    cache.put(3, "h3", third)  # 2 is now the least recently used
    assert cache.get(2, "h2") is None
    assert (cache.get(1, "h1"), cache.get(3, "h3")) == (first, third)


def test_a_company_address_gives_no_street_key_since_the_whole_staff_shares_it() -> None:
    home = {"family_key": "martin", "given_key": "jean",
            "address": {"street": "3 rue Neuve", "postcode": "69001", "city": "Lyon"}}
    at_work = {**home, "company": {"name_key": "acme", "domain": "acme.fr"}}
    assert "st_pc" in {kind for kind, _ in name_keys(home)}
    kinds = {kind for kind, _ in name_keys(at_work)}
    assert not {"st_pc", "gn_pc"} & kinds and "ph_co" in kinds


def test_a_packed_profile_reads_back_as_the_profile_without_the_record_body() -> None:
    data = {"given_key": "jean", "family_key": "dupont", "birthday": "1980-05-02",
            "emails": [{"key": "jd@acme.fr", "flags": []},
                       {"key": "jd@gmail.com", "flags": ["freemail"]}],
            "phones": [{"value": "+33611223344"}], "handles": {"linkedin": "jdupont"},
            "identifiers": {"customer_number": " C-17 ", "vat": "x"},
            "address": {"street": "12 rue Neuve", "postcode": "69001", "city": "Lyon",
                        "region": "ARA"},
            "company": {"name_key": "acme", "domain": "acme.fr"}}
    profile = Profile.of(data, ["customer_number"], keep_data=False)
    assert Profile.unpack(profile.pack(), ["customer_number"]) == profile
    # An identifier no longer configured is dropped; another version is not read at all.
    assert Profile.unpack(profile.pack(), []).identifiers == {}  # type: ignore[union-attr]
    assert Profile.unpack([0, *profile.pack()[1:]]) is None
    assert Profile.unpack(None) is None


@pytest.mark.parametrize(("left", "right", "level"), [
    (at("12 Hill Street", "4220", "Burleigh Heads"), at("40 Main Road", "4120", "Greenslopes"),
     "different"),
    (at("12 rue Vendôme", "69006", "Lyon"), at("8 quai Sud", "69007", "Lyon 7e"), "city"),
    (at("12 rue Vendôme", "69006", "Lyon"), at("12 rue Vendome", "69060", "Lyn"), "street"),
], ids=["leading-digit-is-another-town", "last-digit-neighbours", "typo-at-the-same-house"])
def test_a_neighbouring_postcode_is_a_real_proximity_never_a_leading_digit(
        left: dict[str, Any], right: dict[str, Any], level: str) -> None:
    assert place(left, right) == level


def birthday(left: str, right: str) -> str:
    return Birthday.levels[Birthday().compare(Profile.of({"birthday": left}),
                                              Profile.of({"birthday": right}))]


def test_a_birthday_without_a_year_agrees_on_what_it_has_and_never_differs() -> None:
    assert birthday("--04-02", "1964-04-02") == "near"
    assert birthday("1964-04-02", "--04-02") == "near"
    assert birthday("--04-02", "1964-05-03") == "missing"  # no evidence either way
    assert birthday("1964-04-02", "1987-11-23") == "different"  # a full date still differs
    scored = Model.default(comparators()).score(
        Profile.of({"given_key": "ann", "family_key": "lee", "birthday": "--04-02",
                    "emails": [{"key": "ann@lee.io"}]}),
        Profile.of({"given_key": "ann", "family_key": "lee", "birthday": "1964-05-03",
                    "emails": [{"key": "ann@lee.io"}]}))
    assert scored.veto is None and scored.probability > 0.95


def profile(**data: Any) -> Profile:
    return Profile.of({"given_key": "jean", "family_key": "dupont", **data})


def test_two_profiles_on_one_network_are_two_people_unless_an_identity_is_shared() -> None:
    model = Model.default(comparators())
    one = profile(handles={"linkedin": "jean-dupont-1a2b"},
                  company={"name_key": "acme"})
    other = profile(handles={"linkedin": "jean-dupont-77"}, company={"name_key": "acme"})
    assert model.score(one, other).veto == \
        "different profiles on the same network and no shared e-mail, phone or identifier"
    same_mail = [{"key": "jean.dupont@acme.fr"}]
    assert model.score(profile(handles={"linkedin": "a"}, emails=same_mail),
                       profile(handles={"linkedin": "b"}, emails=same_mail)).veto is None
    # on different networks, handles say nothing
    assert model.score(profile(handles={"linkedin": "a"}, company={"name_key": "acme"}),
                       profile(handles={"x": "b"}, company={"name_key": "acme"})).veto is None


def test_names_alone_never_merge_whatever_the_model_weighs_them() -> None:
    model = Model.default(comparators())
    elsewhere = model.score(
        profile(company={"name_key": "acme"}, address={"city": "Lyon"}),
        profile(company={"name_key": "globex"}, address={"city": "Paris"}))
    assert elsewhere.weak == "only the names agree" and elsewhere.blocked
    assert elsewhere.veto is None  # not conflicting evidence: other records may join them
    born = model.score(profile(birthday="1970-01-02"), profile(birthday="1970-01-02"))
    assert born.weak is None
