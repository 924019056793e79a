"""E-mail address normalisation and classification.

Decision: the normalised value keeps the local part as written (some servers treat it as
case-sensitive) and the domain lower-cased in its Unicode form ("josé@bücher.de", not
"xn--bcher-kva.de"), because that is what people recognise; an "xn--" domain on input is
decoded to the same form, so both spellings meet. The matching key is derived from that
value, so it is Unicode too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from email_validator import EmailNotValidError, validate_email

from hub.normalize.text import clean_text

__all__ = [
    "EmailResult",
    "is_free_mail_domain",
    "is_role_address",
    "normalize_email",
]


@dataclass(frozen=True)
class EmailResult:
    """One normalised address; `key` is "" when the address is not valid."""

    value: str
    key: str
    domain: str
    valid: bool
    is_role: bool
    is_freemail: bool
    error: str | None = None


# Local parts that name a function rather than a person (compared without ".", "-", "_").
_ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse",
        "accounting",
        "accounts",
        "accueil",
        "admin",
        "administration",
        "bonjour",
        "billing",
        "booking",
        "careers",
        "commercial",
        "compta",
        "comptabilite",
        "contact",
        "contacto",
        "contatti",
        "customerservice",
        "devis",
        "direction",
        "enquiries",
        "facturation",
        "finance",
        "hello",
        "help",
        "helpdesk",
        "hostmaster",
        "hr",
        "info",
        "infos",
        "it",
        "jobs",
        "kontakt",
        "legal",
        "mail",
        "mailerdaemon",
        "marketing",
        "media",
        "news",
        "newsletter",
        "noreply",
        "nepasrepondre",
        "office",
        "orders",
        "postmaster",
        "press",
        "presse",
        "privacy",
        "recrutement",
        "recruiting",
        "reservation",
        "reservations",
        "rh",
        "root",
        "sales",
        "secretariat",
        "security",
        "service",
        "serviceclient",
        "support",
        "team",
        "vente",
        "ventes",
        "webmaster",
        "welcome",
    }
)
_ROLE_SEPARATORS = str.maketrans("", "", ".-_")

_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# The tail a "name.*" free-mail entry may take: a TLD, or a second-level public suffix.
_PUBLIC_SUFFIX_TAIL = re.compile(r"(?:(?:co|com|net|org)\.)?[a-z]{2,3}")
_DISPLAY_NAME = re.compile(r"^[^<>]*<([^<>]*)>$")


@cache
def _freemail_entries() -> tuple[frozenset[str], frozenset[str]]:
    """Read data/freemail.txt once: (exact domains, first labels of "name.*" entries)."""
    text = resources.files("hub.normalize").joinpath("data/freemail.txt").read_text("utf-8")
    exact: set[str] = set()
    wildcard: set[str] = set()
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip().lower()
        if not entry:
            continue
        if entry.endswith(".*"):
            wildcard.add(entry[:-2])
        else:
            exact.add(entry)
    return frozenset(exact), frozenset(wildcard)


@lru_cache(maxsize=4096)
def is_free_mail_domain(domain: str) -> bool:
    """True when `domain` belongs to a consumer mail provider (gmail.com, orange.fr, gmx.de...)."""
    domain = domain.strip().lower().rstrip(".")
    exact, wildcard = _freemail_entries()
    if domain in exact:
        return True
    first, _, rest = domain.partition(".")
    return first in wildcard and _PUBLIC_SUFFIX_TAIL.fullmatch(rest) is not None


def is_role_address(local: str) -> bool:
    """True when the local part names a function (info@, sales@, no-reply@) not a person."""
    base = local.strip().lower()
    base = base.split("+", 1)[0] or base
    return base.translate(_ROLE_SEPARATORS) in _ROLE_LOCAL_PARTS


def _unwrap(text: str) -> str:
    """Strip "mailto:", a display name ("Ada <ada@x.com>"), angle brackets and quotes."""
    while True:
        before = text
        if text[:7].lower() == "mailto:":
            text = text[7:].split("?", 1)[0].strip()
        match = _DISPLAY_NAME.match(text)
        if match:
            text = match.group(1).strip()
        text = text.strip(" '\"")
        if text == before:
            return text


def _matching_key(local: str, domain: str) -> str:
    # "+tag" sub-addressing reaches the same mailbox; a local part that starts with "+" has
    # no tag to drop.
    local = local.lower()
    local = local.split("+", 1)[0] or local
    if domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


@lru_cache(maxsize=65536)
def normalize_email(value: str) -> EmailResult | None:
    """Normalise one address; None when blank, `valid=False` with `error` when unparseable."""
    cleaned = clean_text(value)
    if cleaned is None:
        return None
    text = _unwrap(cleaned)
    if not text:
        return None
    try:
        parsed = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        domain = text.rpartition("@")[2].lower() if "@" in text else ""
        return EmailResult(
            value=text,
            key="",
            domain=domain,
            valid=False,
            is_role=False,
            is_freemail=False,
            error=str(exc),
        )
    local, domain = parsed.local_part, parsed.domain.lower()
    return EmailResult(
        value=f"{local}@{domain}",
        key=_matching_key(local, domain),
        domain=domain,
        valid=True,
        is_role=is_role_address(local),
        is_freemail=is_free_mail_domain(domain),
    )
