from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.normalize.phones import PhoneResult, is_shared_label, normalize_phone


def _valid(value: str, region: str | None = None) -> PhoneResult:
    result = normalize_phone(value, region)
    assert result is not None and result.valid, result
    return result


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+33 1 23 45 67 89", None, "+33123456789"),
        ("01 23 45 67 89", "FR", "+33123456789"),
        ("01.23.45.67.89", "fr", "+33123456789"),
        ("0033 1 23 45 67 89", None, "+33123456789"),
        ("0044 20 7946 0958", "FR", "+442079460958"),
        ("+44 (0)20 7946 0958", None, "+442079460958"),
        ("+33 (0)6 12 34 56 78", None, "+33612345678"),
        ("tel:+1-201-555-0123", None, "+12015550123"),
        ("TEL:+33123456789", None, "+33123456789"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("011 44 20 7946 0958", "US", "+442079460958"),
        ("1-800-FLOWERS", "US", "+18003569377"),
        ("+49 30 1234567 Zentrale", None, "+49301234567"),
        ("06 12 34 56 78 (perso)", "FR", "+33612345678"),
        ("＋３３ ６ １２ ３４ ５６ ７８", None, "+33612345678"),
    ],
)
def test_normalize_phone_gives_e164(raw: str, region: str | None, e164: str) -> None:
    assert _valid(raw, region).e164 == e164


@pytest.mark.parametrize(
    ("raw", "extension"),
    [
        ("+1 201 555 0123 x123", "123"),
        ("+1 201 555 0123x123", "123"),
        ("+1 201 555 0123 ext. 1234", "1234"),
        ("+1 201 555 0123 Ext 12", "12"),
        ("+1 201 555 0123 extension 12", "12"),
        ("+33 1 23 45 67 89 poste 214", "214"),
        ("+33 1 23 45 67 89 #12", "12"),
        ("+49 30 1234567 Durchwahl 5", "5"),
        ("+12015550123;ext=1234", "1234"),
        ("tel:+1-201-555-0123;ext=1234", "1234"),
        ("tel:+1-201-555-0123;phone-context=example.com;ext=77", "77"),
    ],
)
def test_extensions_are_split_from_the_number(raw: str, extension: str) -> None:
    result = _valid(raw)
    assert result.extension == extension
    assert result.value == f"{result.e164};ext={extension}"


def test_value_is_e164_without_extension() -> None:
    assert _valid("+33 1 23 45 67 89").value == "+33123456789"


@pytest.mark.parametrize(
    ("raw", "region", "kind", "number_region"),
    [
        ("06 12 34 56 78", "FR", "mobile", "FR"),
        ("01 23 45 67 89", "FR", "fixed_line", "FR"),
        ("+44 20 7946 0958", None, "fixed_line", "GB"),
        ("+1 800 356 9377", None, "toll_free", "US"),
    ],
)
def test_result_reports_number_kind_and_country(
    raw: str, region: str | None, kind: str, number_region: str
) -> None:
    result = _valid(raw, region)
    assert (result.kind, result.region) == (kind, number_region)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("06 12 34 56 78", None),  # national notation without a region
        ("hello", "FR"),
        ("+33 1 23", None),
        ("+1 555 0100", None),
        ("123", "FR"),
    ],
)
def test_invalid_number_is_kept_raw_and_flagged(raw: str, region: str | None) -> None:
    result = normalize_phone(raw, region)
    assert result is not None
    assert not result.valid
    assert result.e164 is None
    assert result.raw == raw
    assert result.value == raw
    assert result.error


@pytest.mark.parametrize("raw", ["", "  ", "\t\n"])
def test_normalize_phone_returns_none_for_blank(raw: str) -> None:
    assert normalize_phone(raw, "FR") is None


def test_default_region_does_not_change_international_numbers() -> None:
    assert _valid("+44 20 7946 0958", "FR").e164 == _valid("+44 20 7946 0958", "US").e164


def test_normalize_phone_is_cached() -> None:
    assert normalize_phone("+33 1 23 45 67 89", "FR") is normalize_phone("+33 1 23 45 67 89", "FR")


@pytest.mark.parametrize(
    "label",
    ["main", "Main", "* Main", "switchboard", "Company", "company_main", "Office Main",
     "Standard", "Accueil", "Réception", "Headquarters", "HQ", "Fax", "Business Fax",
     "Home fax", "TYPE=WORK,FAX", "Zentrale"],
)  # fmt: skip
def test_shared_line_labels_are_recognised(label: str) -> None:
    assert is_shared_label(label)


@pytest.mark.parametrize("label", [None, "", "mobile", "Work", "home", "* Mobile", "direct"])
def test_personal_line_labels_are_not_shared(label: str | None) -> None:
    assert not is_shared_label(label)


_regions = st.sampled_from([None, "FR", "US", "GB", "DE", "fr", "ZZ"])


@given(st.text(), _regions)
def test_normalize_phone_never_raises_and_is_idempotent(value: str, region: str | None) -> None:
    result = normalize_phone(value, region)
    if result is None:
        return
    again = normalize_phone(result.value, region)
    assert again is not None
    assert (again.e164, again.extension, again.valid) == (
        result.e164,
        result.extension,
        result.valid,
    )


_phone_like = st.builds(
    lambda prefix, digits, ext: prefix + digits + ext,
    st.sampled_from(["+33 ", "+1 ", "+44 (0)", "0033", "0", "tel:+49", "+81-", ""]),
    st.text(alphabet="0123456789 .-()", min_size=4, max_size=16),
    st.sampled_from(["", " x12", " ext. 3", " poste 44", ";ext=9", " (mobile)"]),
)


@given(_phone_like, _regions)
def test_phone_like_text_normalises_idempotently(value: str, region: str | None) -> None:
    result = normalize_phone(value, region)
    assert result is not None
    again = normalize_phone(result.value, None if result.valid else region)
    assert again is not None
    assert (again.e164, again.extension, again.valid) == (
        result.e164,
        result.extension,
        result.valid,
    )
    if result.valid:
        assert result.e164 is not None and result.e164.startswith("+")
