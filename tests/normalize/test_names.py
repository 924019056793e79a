from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.normalize.names import normalize_name, person_name_key


@pytest.mark.parametrize(
    ("given", "family", "expected_given", "expected_family"),
    [
        ("JEAN", "DUPONT", "Jean", "Dupont"),
        ("jean", "dupont", "Jean", "Dupont"),
        ("JEAN-PIERRE", "MARTIN", "Jean-Pierre", "Martin"),
        ("theo", "o'brien", "Theo", "O'Brien"),
        ("MARY", "MCDONALD", "Mary", "McDonald"),
        ("Jean", "DE LA FONTAINE", "Jean", "de la Fontaine"),
        ("ludwig", "van beethoven", "Ludwig", "van Beethoven"),
        ("Anna", "VON DER LEYEN", "Anna", "von der Leyen"),
        ("Anne", "LE PEN", "Anne", "Le Pen"),
        ("Luigi", "DI MAIO", "Luigi", "Di Maio"),
        ("Jean", "D'ORMESSON", "Jean", "D'Ormesson"),
        ("Marie", "DUPONT-MCLEAN", "Marie", "Dupont-McLean"),
        ("ÉLODIE", "ÇELİK", "Élodie", "Çelik"),
        ("GÜNTHER", "STRAẞE", "Günther", "Straße"),
    ],
)
def test_all_caps_and_lower_case_parts_are_title_cased(
    given: str, family: str, expected_given: str, expected_family: str
) -> None:
    result = normalize_name(given, family, None)
    assert (result.given, result.family) == (expected_given, expected_family)


@pytest.mark.parametrize(
    ("given", "family"), [("DeShawn", "McKenna"), ("Jean", "van der Berg"), ("aNNa", "DuPont")]
)
def test_mixed_case_parts_are_left_alone(given: str, family: str) -> None:
    result = normalize_name(given, family, None)
    assert (result.given, result.family) == (given, family)


def test_parts_are_cleaned_and_blank_parts_become_none() -> None:
    result = normalize_name("  Ada\t", "   ", None)
    assert result.given == "Ada"
    assert result.family is None
    assert result.full == "Ada"
    assert result.family_key == ""


def test_full_name_is_built_from_parts_when_missing() -> None:
    assert normalize_name("Ada", "Lovelace", None).full == "Ada Lovelace"


def test_full_name_is_kept_when_parts_exist() -> None:
    result = normalize_name("Ada", "Lovelace", "Augusta Ada King")
    assert (result.given, result.family, result.full) == ("Ada", "Lovelace", "Augusta Ada King")


@pytest.mark.parametrize(
    ("full", "given", "family"),
    [
        ("Ada Lovelace", "Ada", "Lovelace"),
        ("LOVELACE, ADA", "Ada", "Lovelace"),
        ("Dr. John Smith", "John", "Smith"),
        ("Dr John Smith", "John", "Smith"),
        ("M. Jean DUPONT", "Jean", "Dupont"),
        ("Mme Marie de la Fontaine", "Marie", "de la Fontaine"),
        ("Prof. Dr. Hans Müller", "Hans", "Müller"),
        ("jean pierre dupont", "Jean Pierre", "Dupont"),
        ("ludwig van beethoven", "Ludwig", "van Beethoven"),
    ],
)
def test_full_name_is_split_when_both_parts_are_missing(full: str, given: str, family: str) -> None:
    result = normalize_name(None, None, full)
    assert (result.given, result.family) == (given, family)
    assert result.full == f"{given} {family}"


def test_full_name_is_not_split_when_one_part_exists() -> None:
    result = normalize_name(None, "Lovelace", "Ada Lovelace")
    assert (result.given, result.family) == (None, "Lovelace")


def test_single_word_full_name_becomes_given_name() -> None:
    result = normalize_name(None, None, "Madonna")
    assert (result.given, result.family, result.full) == ("Madonna", None, "Madonna")


def test_keys_are_folded() -> None:
    result = normalize_name("Élodie", "D'Ávila-Ørsted", None)
    assert (result.given_key, result.family_key) == ("elodie", "d avila orsted")


def test_empty_name_gives_empty_keys() -> None:
    result = normalize_name(None, None, None)
    assert result == type(result)(None, None, None, "", "")


@pytest.mark.parametrize(
    ("given", "family", "key"),
    [
        ("Jean", "Dupont", "dupont|j"),
        ("élodie", "MÜLLER", "muller|e"),
        (None, "Dupont", "dupont|"),
        ("Jean", None, "|j"),
    ],
)
def test_person_name_key_is_family_and_first_initial(
    given: str | None, family: str | None, key: str
) -> None:
    assert person_name_key(given, family) == key


_part = st.one_of(st.none(), st.text(max_size=30))


@given(_part, _part, _part)
def test_normalize_name_never_raises_and_is_stable_on_its_output(
    given: str | None, family: str | None, full: str | None
) -> None:
    result = normalize_name(given, family, full)
    again = normalize_name(result.given, result.family, result.full)
    assert again == result


_word = st.text(alphabet="abcdeéíßøİ'-", min_size=1, max_size=8)
_name_words = st.lists(
    st.one_of(_word, st.sampled_from(["de", "la", "van", "der", "mc", "o'"])),
    min_size=1,
    max_size=4,
).map(" ".join)


@given(_name_words, _name_words)
def test_shouted_names_keep_their_keys_and_are_stable(given: str, family: str) -> None:
    shouted = normalize_name(given.upper(), family.upper(), None)
    quiet = normalize_name(given.lower(), family.lower(), None)
    assert (shouted.given_key, shouted.family_key) == (quiet.given_key, quiet.family_key)
    assert normalize_name(shouted.given, shouted.family, shouted.full) == shouted


def test_full_name_that_repeats_the_parts_takes_their_spelling() -> None:
    result = normalize_name("JEAN", "DE LA FONTAINE", "JEAN DE LA FONTAINE")
    assert result.full == "Jean de la Fontaine"
