"""Company names (display and matching key) and company domains from websites and e-mail."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from importlib import resources
from urllib.parse import urlsplit

import idna
from cleanco import basename

from hub.normalize.emails import is_free_mail_domain, normalize_email
from hub.normalize.text import clean_text, fold

__all__ = [
    "clean_company_name",
    "company_name_key",
    "domain_from_email",
    "domain_from_website",
    "parse_amount",
    "parse_headcount",
]

# Canonical spelling of legal forms, by folded token; also the suffixes the key drops.
_LEGAL_FORMS: dict[str, str] = {
    form.lower(): form
    for form in (
        "SAS", "SASU", "SARL", "SA", "EURL", "SCI", "SNC", "SCS", "SCA", "SELARL", "SCOP",
        "GIE", "GmbH", "AG", "KG", "OHG", "UG", "eG", "Ltd", "Limited", "Inc", "Incorporated",
        "LLC", "LLP", "LP", "PLC", "BV", "NV", "VOF", "SpA", "Srl", "SL", "SLU", "Oy", "Oyj",
        "AB", "AS", "ASA", "ApS", "Pty", "Corp", "Corporation", "Co", "Company", "SPRL",
        "SRO", "Kft", "Zrt", "Sp", "zoo",
    )
}  # fmt: skip
# Legal forms that French registers put first ("SARL DUPONT"); "SAS"/"SA" are left out
# because they also open real names ("SAS Institute").
_LEADING_FORMS = frozenset({"sarl", "eurl", "sasu", "sci", "snc", "selarl", "earl", "gaec"})
# Short words that stay lower case inside a repaired name.
_MINOR_WORDS = frozenset(
    {"and", "of", "the", "for", "et", "de", "des", "du", "la", "le", "les", "und", "für", "van"}
)
_SINGLE_LETTER_RUN = re.compile(r"\b(?:[^\W\d_] ){1,}[^\W\d_]\b")


def _repair_word(word: str, index: int) -> str:
    bare = word.strip(".,;:()")
    legal = _LEGAL_FORMS.get(bare.lower())
    if legal is not None and bare:
        return word.replace(bare, legal, 1)
    if index > 0 and word.lower() in _MINOR_WORDS:
        return word.lower()
    core = "".join(ch for ch in word if ch.isalpha())
    if len(core) <= 3 and word.lower() not in _MINOR_WORDS:
        return word  # an acronym: IBM, BNP, AXA
    return "-".join(seg[:1].upper() + seg[1:].lower() for seg in word.split("-"))


def clean_company_name(name: str | None) -> str | None:
    """Display form: cleaned text; a name shouted in capitals ("ACME HOLDING SAS") is
    title-cased except acronyms and legal forms ("Acme Holding SAS"). Legal forms stay."""
    text = clean_text(name)
    if text is None or not text.isupper() or len(text) <= 4:
        return text
    repaired = " ".join(_repair_word(word, i) for i, word in enumerate(text.split(" ")))
    # A letter whose case mapping changes length ("ß" -> "SS") is left as it was.
    return repaired if len(repaired) == len(text) else text


def _strip_legal_forms(tokens: list[str]) -> list[str]:
    while len(tokens) > 1 and tokens[-1] in _LEGAL_FORMS:
        tokens = tokens[:-1]
    if len(tokens) > 1 and tokens[0] in _LEADING_FORMS:
        tokens = tokens[1:]
    return tokens


@cache
def _not_employers() -> frozenset[str]:
    """The name keys of data/not_employers.txt."""
    text = resources.files("hub.normalize").joinpath("data/not_employers.txt").read_text("utf-8")
    entries = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return frozenset(company_name_key(entry) for entry in entries if entry)


def is_not_employer(name: str | None) -> bool:
    """True for what people write in a company field that names no employer ("Freelance",
    "Self-employed", "Retraité", "N/A", "-"): it never becomes a company."""
    text = clean_text(name)
    if text is None:
        return False
    return company_name_key(text) in _not_employers()


@lru_cache(maxsize=65536)
def company_name_key(name: str | None) -> str:
    """Matching key: folded, initials joined ("S.A.R.L." -> "sarl") and legal forms removed
    ("Acme Holding SAS" -> "acme holding", "Contoso, Ltd." -> "contoso")."""
    text = clean_text(name)
    if text is None:
        return ""
    key = _SINGLE_LETTER_RUN.sub(lambda m: m.group(0).replace(" ", ""), fold(text))
    tokens = _strip_legal_forms(key.split())
    while len(tokens) > 1:
        # cleanco knows many more national forms; it drops one suffix per call.
        shorter = fold(basename(" ".join(tokens))).split()
        if not shorter or shorter == tokens:
            break
        tokens = _strip_legal_forms(shorter)
    return " ".join(tokens)


# Hosts that are not a company's own site: social networks, link shorteners, site builders.
_NON_COMPANY_HOSTS = frozenset(
    {
        "linkedin.com", "facebook.com", "fb.com", "twitter.com", "x.com", "instagram.com",
        "youtube.com", "youtu.be", "tiktok.com", "github.com", "gitlab.com", "medium.com",
        "google.com", "goo.gl", "bit.ly", "t.co", "linktr.ee", "wixsite.com", "wix.com",
        "wordpress.com", "blogspot.com", "squarespace.com", "sites.google.com", "about.me",
        "pagesjaunes.fr", "yelp.com", "tripadvisor.com", "whatsapp.com", "wa.me",
        "pinterest.com", "xing.com", "viadeo.com", "societe.com", "doctolib.fr",
    }
)  # fmt: skip
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_WWW = re.compile(r"^www\d*\.")


def _host_to_unicode(host: str) -> str | None:
    """Lower-case Unicode host (as e-mail domains are stored), or None when not a domain."""
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
        unicode_host = idna.decode(ascii_host)
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    labels = ascii_host.split(".")
    tld = labels[-1]
    if len(labels) < 2 or not (tld.isalpha() or tld.startswith("xn--")):
        return None
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return unicode_host


def _is_non_company_host(host: str) -> bool:
    parts = host.split(".")
    return any(".".join(parts[i:]) in _NON_COMPANY_HOSTS for i in range(len(parts) - 1))


@lru_cache(maxsize=16384)
def domain_from_website(url: str | None) -> str | None:
    """Company domain from a website ("https://www.acme.fr/about" -> "acme.fr"); None for
    junk, IP addresses, social networks and free-mail hosts."""
    text = clean_text(url)
    if text is None or " " in text:
        return None
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = _WWW.sub("", host.rstrip("."))
    domain = _host_to_unicode(host) if host else None
    if domain is None or _is_non_company_host(domain) or is_free_mail_domain(domain):
        return None
    return domain


def domain_from_email(address: str | None) -> str | None:
    """The company domain of an address: its domain when valid and not free-mail."""
    if not address:
        return None
    result = normalize_email(address)
    if result is None or not result.valid or result.is_freemail:
        return None
    return result.domain


# "250", "1 000", "1,000", "1.000", "10k", "51-200", "201 à 500", "10,000+", "> 500".
_NUMBER = re.compile(r"(\d{1,3}(?:[ \u00a0\u202f.,']\d{3})+|\d+(?:[.,]\d+)?)\s*"
                     r"(milliards?|millions?|billions?|md|bn|mio|[kmb]?)(?![a-z])", re.IGNORECASE)
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000, "mio": 1_000_000, "md": 1_000_000_000,
          "bn": 1_000_000_000, "b": 1_000_000_000, "million": 1_000_000,
          "milliard": 1_000_000_000, "billion": 1_000_000_000}


def _numbers(text: str) -> list[float]:
    found = []
    for digits, scale in _NUMBER.findall(text):
        if re.fullmatch(r"\d{1,3}(?:[ \u00a0\u202f.,']\d{3})+", digits):
            value = float(re.sub(r"\D", "", digits))  # thousands separators
        else:
            value = float(digits.replace(",", "."))
        found.append(value * _SCALE[scale.lower().rstrip("s")])
    return found


def parse_headcount(value: object) -> int | None:
    """A number of employees as CRMs and exports write it; a range ("51-200", LinkedIn's
    company sizes) counts as its lower bound, so "at least 500" rules stay true."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if value >= 0 else None
    numbers = _numbers(str(value or ""))
    return int(numbers[0]) if numbers else None


def parse_amount(value: object) -> float | None:
    """An annual revenue ("2.5M", "1 200 000 €", "€3,4 M"): the first number and its
    scale, in the currency it was written in (none is converted)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    numbers = _numbers(str(value or ""))
    return numbers[0] if numbers else None
