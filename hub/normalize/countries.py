"""Country names and codes to ISO 3166-1 alpha-2."""

from __future__ import annotations

import re
from functools import cache, lru_cache

import pycountry

from hub.normalize.text import fold

__all__ = ["normalize_country"]

# Names pycountry does not know: usual English short forms, and French and German names of
# the countries our users write most. Keys are written plainly and folded when loaded.
# Ambiguous names ("Korea", "Congo" for the DRC, "Guinea" variants) are left out on purpose.
_ALIASES: dict[str, str] = {
    # United Kingdom
    "UK": "GB", "U.K.": "GB", "Great Britain": "GB", "Britain": "GB", "England": "GB",
    "Scotland": "GB", "Wales": "GB", "Northern Ireland": "GB", "Royaume-Uni": "GB",
    "Angleterre": "GB", "Grande-Bretagne": "GB", "Écosse": "GB", "Pays de Galles": "GB",
    "Vereinigtes Königreich": "GB", "Großbritannien": "GB", "England und Wales": "GB",
    # United States
    "U.S.": "US", "U.S.A.": "US", "United States of America": "US", "America": "US",
    "États-Unis": "US", "États-Unis d'Amérique": "US", "Vereinigte Staaten": "US",
    "Vereinigte Staaten von Amerika": "US",
    # Europe
    "Allemagne": "DE", "Deutschland": "DE", "Germany": "DE",
    "Frankreich": "FR", "République française": "FR",
    "Espagne": "ES", "Spanien": "ES", "España": "ES",
    "Italie": "IT", "Italien": "IT", "Italia": "IT",
    "Belgique": "BE", "Belgien": "BE", "België": "BE",
    "Suisse": "CH", "Schweiz": "CH", "Svizzera": "CH", "Confédération suisse": "CH",
    "Pays-Bas": "NL", "Niederlande": "NL", "Nederland": "NL", "Holland": "NL",
    "Hollande": "NL", "The Netherlands": "NL",
    "Autriche": "AT", "Österreich": "AT",
    "Luxemburg": "LU",
    "Irlande": "IE", "Irland": "IE", "Eire": "IE", "Éire": "IE",
    "Pologne": "PL", "Polen": "PL", "Polska": "PL",
    "Suède": "SE", "Schweden": "SE", "Sverige": "SE",
    "Norvège": "NO", "Norwegen": "NO", "Norge": "NO",
    "Danemark": "DK", "Dänemark": "DK", "Danmark": "DK",
    "Finlande": "FI", "Finnland": "FI", "Suomi": "FI",
    "Islande": "IS", "Island": "IS",
    "Grèce": "GR", "Griechenland": "GR",
    "République tchèque": "CZ", "Tchéquie": "CZ", "Tschechien": "CZ",
    "Tschechische Republik": "CZ",
    "Slovaquie": "SK", "Slowakei": "SK",
    "Slovénie": "SI", "Slowenien": "SI",
    "Croatie": "HR", "Kroatien": "HR", "Hrvatska": "HR",
    "Hongrie": "HU", "Ungarn": "HU",
    "Roumanie": "RO", "Rumänien": "RO",
    "Bulgarie": "BG", "Bulgarien": "BG",
    "Estonie": "EE", "Estland": "EE",
    "Lettonie": "LV", "Lettland": "LV",
    "Lituanie": "LT", "Litauen": "LT",
    "Chypre": "CY", "Zypern": "CY",
    "Malte": "MT",
    "Andorre": "AD",
    "Russia": "RU", "Russie": "RU", "Russland": "RU",
    "Turkey": "TR", "Turquie": "TR", "Türkei": "TR",
    "Macedonia": "MK", "Vatican": "VA", "Vatican City": "VA",
    # Elsewhere
    "Maroc": "MA", "Marokko": "MA",
    "Algérie": "DZ", "Algerien": "DZ",
    "Tunisie": "TN", "Tunesien": "TN",
    "Égypte": "EG", "Ägypten": "EG",
    "Sénégal": "SN",
    "Ivory Coast": "CI", "Elfenbeinküste": "CI", "Cote d'Ivoire": "CI",
    "Cameroun": "CM", "Kamerun": "CM",
    "Afrique du Sud": "ZA", "Südafrika": "ZA",
    "Liban": "LB", "Libanon": "LB",
    "Israël": "IL",
    "Arabie saoudite": "SA", "Saudi-Arabien": "SA",
    "UAE": "AE", "Émirats arabes unis": "AE", "Vereinigte Arabische Emirate": "AE",
    "Chine": "CN", "Japon": "JP", "Inde": "IN", "Indien": "IN",
    "Corée du Sud": "KR", "Südkorea": "KR",
    "Singapour": "SG", "Singapur": "SG",
    "Australie": "AU", "Australien": "AU",
    "Nouvelle-Zélande": "NZ", "Neuseeland": "NZ",
    "Kanada": "CA",
    "Mexique": "MX", "Mexiko": "MX", "México": "MX",
    "Brésil": "BR", "Brasilien": "BR", "Brasil": "BR",
    "Argentine": "AR", "Argentinien": "AR",
    "Chili": "CL", "Colombie": "CO", "Kolumbien": "CO", "Pérou": "PE",
}  # fmt: skip

_INITIALS = re.compile(r"^(?:\w )+\w$")


def _key(value: str) -> str:
    """Folded lookup key; "U S A" and "USA" meet."""
    key = fold(value)
    return key.replace(" ", "") if _INITIALS.match(key) else key


@cache
def _index() -> dict[str, str]:
    """Folded alpha-2, alpha-3, names, official and common names, then aliases -> alpha-2."""
    index: dict[str, str] = {}
    for country in pycountry.countries:
        code = str(country.alpha_2)
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            if name:
                index.setdefault(_key(str(name)), code)
    for alias, code in _ALIASES.items():
        index.setdefault(_key(alias), code)
    return index


@lru_cache(maxsize=4096)
def normalize_country(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 for a code or a name ("FRANCE", "Allemagne", "USA" -> "US");
    None when unknown: an exact folded match or nothing, never a guess."""
    if not value:
        return None
    return _index().get(_key(value))
