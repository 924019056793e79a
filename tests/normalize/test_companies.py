from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.normalize.companies import (
    clean_company_name,
    company_name_key,
    domain_from_email,
    domain_from_website,
)
from hub.normalize.text import clean_text, fold


@pytest.mark.parametrize(
    ("raw", "display"),
    [
        ("  Acme   Holding SAS ", "Acme Holding SAS"),
        ("ACME HOLDING SAS", "Acme Holding SAS"),
        ("IBM", "IBM"),
        ("BNP PARIBAS SA", "BNP Paribas SA"),
        ("ACME GMBH & CO. KG", "Acme GmbH & Co. KG"),
        ("SARL DUPONT", "SARL Dupont"),
        ("ÉLECTRICITÉ DE FRANCE", "Électricité de France"),
        ("THE COCA-COLA COMPANY", "The Coca-Cola Company"),
        ("Contoso, Ltd.", "Contoso, Ltd."),
        ("eBay Inc.", "eBay Inc."),
        ("acme", "acme"),
    ],
)
def test_clean_company_name_repairs_shouting_but_keeps_acronyms_and_legal_forms(
    raw: str, display: str
) -> None:
    assert clean_company_name(raw) == display


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_blank_company_names_clean_to_none_and_empty_key(raw: str | None) -> None:
    assert clean_company_name(raw) is None
    assert company_name_key(raw) == ""


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Acme Holding SAS", "acme holding"),
        ("Contoso, Ltd.", "contoso"),
        ("Contoso Limited", "contoso"),
        ("ACME SARL", "acme"),
        ("Acme S.A.R.L.", "acme"),
        ("Acme S.A.", "acme"),
        ("SARL Dupont", "dupont"),
        ("Acme GmbH & Co. KG", "acme"),
        ("Acme AG", "acme"),
        ("Acme, Inc.", "acme"),
        ("Acme Incorporated", "acme"),
        ("Acme LLC", "acme"),
        ("Acme LLP", "acme"),
        ("Acme B.V.", "acme"),
        ("Acme NV", "acme"),
        ("Acme S.p.A.", "acme"),
        ("Acme Srl", "acme"),
        ("Acme SL", "acme"),
        ("Acme Oy", "acme"),
        ("Acme AB", "acme"),
        ("Acme AS", "acme"),
        ("Acme Pty Ltd", "acme"),
        ("Acme PLC", "acme"),
        ("Acme Corp.", "acme"),
        ("Acme Co., Ltd.", "acme"),
        ("Acme EURL", "acme"),
        ("Acme SASU", "acme"),
        ("Acme SCI", "acme"),
        ("Acme SNC", "acme"),
        ("Société Générale SA", "societe generale"),
        ("I.B.M.", "ibm"),
        ("SAS", "sas"),
        ("SAS Institute", "sas institute"),
    ],
)
def test_company_name_key_folds_and_drops_legal_forms(raw: str, key: str) -> None:
    assert company_name_key(raw) == key


def test_spellings_of_one_company_share_a_key() -> None:
    spellings = ["ACME HOLDING SAS", "Acme Holding S.A.S.", "acme holding", "Acme-Holding SAS"]
    assert len({company_name_key(s) for s in spellings}) == 1


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.acme.fr/about", "acme.fr"),
        ("acme.fr", "acme.fr"),
        ("http://Acme.FR:8080", "acme.fr"),
        ("www.acme.co.uk/", "acme.co.uk"),
        ("https://shop.acme.fr/?q=1", "shop.acme.fr"),
        ("http://user@acme.fr", "acme.fr"),
        ("http://xn--bcher-kva.de", "bücher.de"),
        ("bücher.de", "bücher.de"),
        ("https://acme.fr.", "acme.fr"),
    ],
)
def test_domain_from_website_extracts_the_host(url: str, domain: str) -> None:
    assert domain_from_website(url) == domain


@pytest.mark.parametrize(
    "url",
    [None, "", "junk", "n/a", "http://", "http://192.168.0.1", "http://[::1]/", "localhost",
     "https://www.linkedin.com/company/acme", "https://fr.linkedin.com/in/x",
     "facebook.com/acme", "https://m.facebook.com/acme", "twitter.com/acme", "gmail.com",
     "https://acme.wixsite.com/acme", "acme fr", "http://-acme-.fr"],
)  # fmt: skip
def test_domain_from_website_rejects_junk_and_shared_hosts(url: str | None) -> None:
    assert domain_from_website(url) is None


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("ada@acme.fr", "acme.fr"),
        ("Ada <ada@ACME.fr>", "acme.fr"),
        ("ada@gmail.com", None),
        ("ada@yahoo.co.uk", None),
        ("ada@gmx.de", None),
        ("not an address", None),
        (None, None),
        ("", None),
    ],
)
def test_domain_from_email_gives_company_domains_only(
    address: str | None, domain: str | None
) -> None:
    assert domain_from_email(address) == domain


@given(st.text() | st.emails() | st.from_regex(r"(https?://)?(www\.)?[\w.-]+(:\d+)?(/\S*)?",
                                              fullmatch=True))
def test_company_normalisers_never_raise_and_return_their_documented_forms(value: str) -> None:
    text = clean_text(value)
    cleaned = clean_company_name(value)
    # The display form is the cleaned text, at most with its case repaired.
    assert (cleaned is None) == (text is None)
    if cleaned is not None and text is not None:
        assert cleaned.casefold() == text.casefold()
    key = company_name_key(value)
    assert key == fold(key)  # folded: lower case, no punctuation, single spaces
    for domain in (domain_from_website(value), domain_from_email(value)):
        if domain is not None:  # a bare host name
            assert domain == domain.lower() and "." in domain.strip(".")
            assert not set(domain) & set(" /:@?#")


@given(st.text())
def test_company_name_key_is_unchanged_by_cleaning_the_name(value: str) -> None:
    once = clean_company_name(value)
    assert clean_company_name(once) == once
    assert company_name_key(once) == company_name_key(value)


@given(st.text())
def test_company_name_key_is_idempotent(value: str) -> None:
    key = company_name_key(value)
    assert company_name_key(key) == key


@given(st.text())
def test_domain_from_website_is_idempotent(value: str) -> None:
    domain = domain_from_website(value)
    if domain is not None:
        assert domain_from_website(domain) == domain
