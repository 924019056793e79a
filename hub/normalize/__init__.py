"""Normalisers: pure functions turning source values into canonical values and matching keys.

Each module holds one kind of value; results that carry more than a string are small frozen
dataclasses. Normalisers whose inputs repeat are cached, since the ingest path runs them on
thousands of rows a second.
"""

from __future__ import annotations

from hub.normalize.companies import (
    clean_company_name,
    company_name_key,
    domain_from_email,
    domain_from_website,
    is_not_employer,
    parse_amount,
    parse_headcount,
)
from hub.normalize.countries import normalize_country
from hub.normalize.dates import DateResult, normalize_birthday
from hub.normalize.emails import (
    EmailResult,
    is_free_mail_domain,
    is_role_address,
    normalize_email,
)
from hub.normalize.handles import handle_from_url, normalize_handle
from hub.normalize.names import NameResult, normalize_name, person_name_key
from hub.normalize.phones import PhoneResult, is_mobile, is_shared_label, normalize_phone
from hub.normalize.text import clean_text, fold

__all__ = [
    "DateResult",
    "EmailResult",
    "NameResult",
    "PhoneResult",
    "clean_company_name",
    "clean_text",
    "company_name_key",
    "domain_from_email",
    "domain_from_website",
    "fold",
    "handle_from_url",
    "is_free_mail_domain",
    "is_mobile",
    "is_not_employer",
    "is_role_address",
    "is_shared_label",
    "normalize_birthday",
    "normalize_country",
    "normalize_email",
    "normalize_handle",
    "normalize_name",
    "normalize_phone",
    "parse_amount",
    "parse_headcount",
    "person_name_key",
]
