from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.normalize.emails import (
    EmailResult,
    is_free_mail_domain,
    is_role_address,
    normalize_email,
)


def _valid(value: str) -> EmailResult:
    result = normalize_email(value)
    assert result is not None and result.valid, result
    return result


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("Ada.Lovelace@Example.COM", "Ada.Lovelace@example.com"),
        ("  ada@example.com  ", "ada@example.com"),
        ("mailto:ada@example.com", "ada@example.com"),
        ("MAILTO:ada@example.com?subject=hi", "ada@example.com"),
        ("<ada@example.com>", "ada@example.com"),
        ("Ada Lovelace <ada@example.com>", "ada@example.com"),
        ('"Lovelace, Ada" <ada@example.com>', "ada@example.com"),
        ("josé@Bücher.DE", "josé@bücher.de"),
        ("ada@xn--bcher-kva.de", "ada@bücher.de"),
    ],
)
def test_normalize_email_keeps_local_part_and_lowercases_domain(raw: str, value: str) -> None:
    assert _valid(raw).value == value


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Ada.Lovelace@Example.com", "ada.lovelace@example.com"),
        ("ada+crm@example.com", "ada@example.com"),
        ("Ada.Love.Lace+news@gmail.com", "adalovelace@gmail.com"),
        ("ada.lovelace@googlemail.com", "adalovelace@gmail.com"),
        ("+tag@example.com", "+tag@example.com"),
    ],
)
def test_email_key_lowercases_drops_tags_and_gmail_dots(raw: str, key: str) -> None:
    assert _valid(raw).key == key


def test_unicode_and_punycode_domains_share_a_key() -> None:
    assert _valid("ada@bücher.de").key == _valid("ada@xn--bcher-kva.de").key


@pytest.mark.parametrize("raw", [None, "", "   ", "mailto:", "<>", "\x00"])
def test_normalize_email_returns_none_for_blank(raw: str | None) -> None:
    assert normalize_email(raw) is None


@pytest.mark.parametrize(
    "raw", ["ada", "ada@", "@example.com", "ada@example", "a..b@example.com", "ada@@x.com"]
)
def test_invalid_address_is_kept_raw_and_flagged(raw: str) -> None:
    result = normalize_email(raw)
    assert result is not None
    assert not result.valid
    assert result.value == raw
    assert result.key == ""
    assert result.error


@pytest.mark.parametrize(
    "local",
    ["info", "Contact", "sales", "support", "no-reply", "noreply", "no_reply", "service.client",
     "bonjour", "accueil", "postmaster", "info+crm"],
)  # fmt: skip
def test_role_local_parts_are_recognised(local: str) -> None:
    assert is_role_address(local)


@pytest.mark.parametrize("local", ["ada", "ada.lovelace", "jean-pierre", "information.officer"])
def test_personal_local_parts_are_not_roles(local: str) -> None:
    assert not is_role_address(local)


def test_role_flag_is_set_on_result() -> None:
    assert _valid("Sales@acme.fr").is_role
    assert not _valid("ada@acme.fr").is_role


@pytest.mark.parametrize(
    "domain",
    ["gmail.com", "GMAIL.COM", "yahoo.fr", "yahoo.co.uk", "hotmail.com", "hotmail.fr",
     "outlook.de", "live.co.uk", "gmx.de", "gmx.net", "web.de", "orange.fr", "wanadoo.fr",
     "free.fr", "laposte.net", "proton.me", "icloud.com", "yandex.ru", "mail.ru",
     "t-online.de", "libero.it", "btinternet.com"],
)  # fmt: skip
def test_free_mail_domains_are_recognised(domain: str) -> None:
    assert is_free_mail_domain(domain)


@pytest.mark.parametrize(
    "domain", ["acme.fr", "yahoo.acme.com", "live.acme.com", "gmail.co", "notgmail.com"]
)
def test_company_domains_are_not_free_mail(domain: str) -> None:
    assert not is_free_mail_domain(domain)


def test_free_mail_flag_is_set_on_result() -> None:
    assert _valid("ada@orange.fr").is_freemail
    assert not _valid("ada@acme.fr").is_freemail


def test_free_mail_list_holds_the_common_providers() -> None:
    from hub.normalize.emails import _freemail_entries

    exact, wildcard = _freemail_entries()
    assert len(exact) + len(wildcard) >= 80


def test_normalize_email_is_cached() -> None:
    assert normalize_email("cache.me@example.org") is normalize_email("cache.me@example.org")


@given(st.text())
def test_normalize_email_never_raises_and_is_idempotent(value: str) -> None:
    result = normalize_email(value)
    if result is None:
        return
    again = normalize_email(result.value)
    assert again is not None
    assert again.value == result.value
    assert again.key == result.key
    assert again.valid == result.valid


@given(
    st.from_regex(r"[A-Za-z0-9._+-]{1,20}@[A-Za-z0-9-]{1,20}\.(com|fr|de|co\.uk)", fullmatch=True)
)
def test_email_key_is_case_insensitive(address: str) -> None:
    lower, upper = normalize_email(address.lower()), normalize_email(address.upper())
    assert lower is not None and upper is not None
    assert lower.key == upper.key


_address_like = st.builds(
    lambda prefix, local, domain, tld, suffix: f"{prefix}{local}@{domain}.{tld}{suffix}",
    st.sampled_from(["", " ", "mailto:", "<", "Ada <", "MAILTO:"]),
    st.text(min_size=1, max_size=12),
    st.text(min_size=1, max_size=12),
    st.sampled_from(["com", "FR", "de", "co.uk", "xn--p1ai", "рф"]),
    st.sampled_from(["", ">", " ", "?subject=x"]),
)


@given(_address_like)
def test_address_like_text_normalises_idempotently(value: str) -> None:
    result = normalize_email(value)
    if result is None:
        # Only a "mailto:" whose address part is empty ("mailto:?@x.com" is all query).
        assert value.lower().startswith("mailto:")
        return
    again = normalize_email(result.value)
    assert again is not None
    assert (again.value, again.key, again.valid) == (result.value, result.key, result.valid)
    if result.valid:
        assert result.key == result.key.lower()
        assert result.domain == result.value.rpartition("@")[2]
