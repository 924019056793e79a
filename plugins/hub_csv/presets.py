"""The export formats recognised by their header: Google, Outlook, LinkedIn.

Each preset reads columns by name, never by position (exports add, drop and reorder
columns between versions). Detection, in order:

* ``linkedin``: ``URL`` with ``Connected On`` (or German ``Verbunden am``);
* ``google_legacy``: ``Given Name`` and ``Family Name`` with ``Group Membership`` or
  ``E-mail 1 - Type``-style groups;
* ``google``: ``First Name`` (or ``Given Name``) with ``Labels``, ``Organization Name`` or
  ``E-mail 1 - Label``-style groups;
* ``outlook``: ``First Name`` and ``Last Name`` with ``E-mail Address``, ``Business Phone``
  or ``Mobile Phone`` (new 61-column Outlook and classic desktop Outlook alike).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from hub_csv.person import PersonBuilder, parse_label, split_multi

Cells = Sequence[str]
PRESETS = ("linkedin", "google_legacy", "google", "outlook")


def fold_header(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


class Columns:
    """Header names (case- and space-insensitive) to cell positions. A name the header
    repeats is found as itself (its first column) and as ``"name (2)"``, ``"name (3)"``
    for the others; :meth:`find_all` gives every column of a name."""

    def __init__(self, header: Sequence[str]) -> None:
        self.names = [fold_header(name) for name in header]
        self._index: dict[str, int] = {}
        self._all: dict[str, list[int]] = {}
        for position, name in enumerate(self.names):
            self._index.setdefault(name, position)
            self._all.setdefault(name, []).append(position)
        for name, positions in self._all.items():
            for n, position in enumerate(positions[1:], start=2):
                self._index.setdefault(f"{name} ({n})", position)

    def __contains__(self, name: str) -> bool:
        return fold_header(name) in self._index

    def find(self, *names: str) -> int | None:
        """The position of the first of ``names`` present in the header."""
        for name in names:
            position = self._index.get(fold_header(name))
            if position is not None:
                return position
        return None

    def find_all(self, *names: str) -> list[int]:
        """Every column of the first of ``names`` present in the header (a repeated one)."""
        for name in names:
            positions = self._all.get(fold_header(name))
            if positions:
                return list(positions)
        return []


def cell(cells: Cells, position: int | None) -> str:
    """The stripped value at ``position`` ('' when the column or the cell is missing)."""
    if position is None or position >= len(cells):
        return ""
    return cells[position].strip()


_GROUP = re.compile(r"^(e-mail|phone|address|website|organization) (\d+) - (.+)$")


def detect(header: Sequence[str]) -> str | None:
    """The preset whose header this is, or ``None``."""
    columns = Columns(header)
    groups = {(m.group(1), m.group(3)) for name in columns.names if (m := _GROUP.match(name))}
    if "url" in columns and ("connected on" in columns or "verbunden am" in columns):
        return "linkedin"
    if (
        "given name" in columns
        and "family name" in columns
        and ("group membership" in columns or any(field == "type" for _, field in groups))
    ):
        return "google_legacy"
    if ("first name" in columns or "given name" in columns) and (
        "labels" in columns
        or "organization name" in columns
        or any(field == "label" for _, field in groups)
    ):
        return "google"
    if (
        "first name" in columns
        and "last name" in columns
        and any(name in columns for name in ("e-mail address", "business phone", "mobile phone"))
    ):
        return "outlook"
    return None


Extract = Callable[[Cells], PersonBuilder]


# Columns an export may carry beside a preset's own (a CRM's account fields added to an
# address-book export): they fill the company's size, industry and revenue.
COMPANY_COLUMNS: dict[str, tuple[str, ...]] = {
    "employees": ("Employees", "Number of Employees", "Company Size", "Headcount",
                  "Effectif", "Nombre de salariés", "Mitarbeiter", "Mitarbeiterzahl"),
    "industry": ("Industry", "Secteur", "Secteur d'activité", "Branche"),
    "revenue": ("Annual Revenue", "Revenue", "Chiffre d'affaires", "Umsatz"),
}


# Unsubscribe and do-not-call columns a CRM's export adds (Salesforce, HubSpot, a legacy
# French CRM): a yes opts the row's e-mails or phones out.
PREFERENCE_COLUMNS: dict[tuple[str, str], tuple[str, ...]] = {
    ("email", "opt_out"): ("Email Opt Out", "Unsubscribed", "Do Not Email", "Opted Out",
                           "Email Opt-Out", "Opt-out", "Désabonné", "Ne pas envoyer d'email"),
    ("phone", "opt_out"): ("Do Not Call", "DoNotCall", "Ne pas appeler", "Opposition "
                           "démarchage", "Bloctel"),
    ("email", "consent"): ("Email Consent", "Marketing Consent", "Consentement email",
                           "Consentement"),
}


def extractor(preset: str, header: Sequence[str]) -> Extract:
    """The function that reads one row of ``preset`` laid out as ``header``."""
    columns = Columns(header)
    if preset in ("google", "google_legacy"):
        read = _google(columns)
    elif preset == "outlook":
        read = _outlook(columns)
    elif preset == "linkedin":
        read = _linkedin(columns)
    else:
        raise ValueError(f"unknown preset {preset!r}")
    extra = {key: position for key, names in COMPANY_COLUMNS.items()
             if (position := columns.find(*names)) is not None}
    stated = {key: position for key, names in PREFERENCE_COLUMNS.items()
              if (position := columns.find(*names)) is not None}
    if not extra and not stated:
        return read

    def with_extra_columns(cells: Cells) -> PersonBuilder:
        person = read(cells)
        for key, position in extra.items():
            if value := cell(cells, position):
                person.company[key] = value
        for (kind, status), position in stated.items():
            person.set_preference(kind, status, cell(cells, position))
        return person

    return with_extra_columns


def _joined(cells: Cells, positions: Sequence[int | None], separator: str = " ") -> str:
    return separator.join(value for p in positions if (value := cell(cells, p)))


# --- Google -----------------------------------------------------------------------------


def _google(columns: Columns) -> Extract:
    """Current Google (``First Name``, ``E-mail 1 - Label``) and legacy (``Given Name``,
    ``E-mail 1 - Type``) share numbered groups: one reader serves both."""
    groups: dict[tuple[str, int], dict[str, int]] = {}
    repeated: dict[tuple[str, int], list[int]] = {}  # a group's value column, repeated
    for position, name in enumerate(columns.names):
        if m := _GROUP.match(name):
            key, field = (m.group(1), int(m.group(2))), m.group(3)
            if field in groups.get(key, {}) and field == "value":
                repeated.setdefault(key, []).append(position)
            groups.setdefault(key, {}).setdefault(field, position)

    def numbered(kind: str) -> list[dict[str, int]]:
        return [fields for (k, _), fields in sorted(groups.items()) if k == kind]

    def values(kind: str) -> list[tuple[dict[str, int], list[int]]]:
        """Each group's fields and every column of its value (a repeated one too)."""
        return [(fields, [fields["value"], *repeated.get(key, [])] if "value" in fields else [])
                for key, fields in sorted(groups.items()) if key[0] == kind]

    addresses = numbered("address")
    websites, organizations = numbered("website"), numbered("organization")
    given = columns.find("First Name", "Given Name")
    middle = columns.find("Middle Name", "Additional Name")
    family = columns.find("Last Name", "Family Name")
    full = columns.find("Name")
    org_name = columns.find("Organization Name")
    org_title = columns.find("Organization Title")
    if org_name is None and organizations:
        org_name, org_title = organizations[0].get("name"), organizations[0].get("title")
    birthday, notes = columns.find("Birthday"), columns.find("Notes")
    labels = columns.find("Labels", "Group Membership")

    def label_of(fields: dict[str, int], cells: Cells) -> tuple[str | None, bool]:
        return parse_label(cell(cells, fields.get("label", fields.get("type"))))

    def extract(cells: Cells) -> PersonBuilder:
        person = PersonBuilder(
            given_name=cell(cells, given) or None,
            family_name=cell(cells, family) or None,
            full_name=cell(cells, full) or _joined(cells, (given, middle, family)) or None,
            title=cell(cells, org_title) or None,
            birthday=cell(cells, birthday) or None,
        )
        for kind, add in (("e-mail", person.add_email), ("phone", person.add_phone)):
            for fields, positions in values(kind):
                label, primary = label_of(fields, cells)
                found = [v for position in positions for v in split_multi(cell(cells, position))]
                for n, value in enumerate(found):
                    add(value, label, primary and n == 0)
        for fields in websites:
            for value in split_multi(cell(cells, fields.get("value"))):
                person.add_url(value)
        for fields in addresses:
            first = {
                key: (split_multi(cell(cells, fields.get(column))) or [""])[0]
                for key, column in (
                    ("street", "street"),
                    ("city", "city"),
                    ("postcode", "postal code"),
                    ("region", "region"),
                    ("country", "country"),
                    ("formatted", "formatted"),
                )
            }
            formatted = first.pop("formatted")
            if not any(first.values()):
                first["street"] = formatted  # only the one-line form was exported
            person.set_address(**first)
        if company := cell(cells, org_name):
            person.company["name"] = company
        if text := cell(cells, notes):
            person.custom["notes"] = text
        # Google's system groups start with "* "; "myContacts" ("My Contacts" in the legacy
        # format) holds every contact, so it says nothing about this one.
        person.add_tags(
            [
                tag.lstrip("* ")
                for tag in split_multi(cell(cells, labels))
                if tag.lstrip("* ").lower().replace(" ", "") != "mycontacts"
            ]
        )
        return person

    return extract


# --- Outlook ----------------------------------------------------------------------------

# (column, label, primary); ``main`` and ``fax`` tell the core these lines are shared.
_OUTLOOK_PHONES = (
    ("Mobile Phone", "mobile", False),
    ("Business Phone", "work", False),
    ("Business Phone 2", "work", False),
    ("Home Phone", "home", False),
    ("Home Phone 2", "home", False),
    ("Primary Phone", None, True),
    ("Company Main Phone", "main", False),
    ("Business Fax", "fax", False),
    ("Home Fax", "fax", False),
    ("Other Fax", "fax", False),
    ("Other Phone", "other", False),
    ("Car Phone", "car", False),
    ("Pager", "pager", False),
    ("Assistant's Phone", "assistant", False),
    ("Callback", "callback", False),
    ("Radio Phone", "radio", False),
    ("ISDN", "isdn", False),
    ("TTY/TDD Phone", "tty", False),
    ("Telex", "telex", False),
)
_NO_DATE = {"0/0/00", "0/0/0000", "00/00/0000", "1/0/00"}  # classic Outlook's "no date"


def _outlook(columns: Columns) -> Extract:
    """New Outlook (61 columns, ``Business Country/Region``) and classic desktop Outlook
    (all quoted, ``"Title","First Name"``, older files ``Business Country``)."""
    given, middle = columns.find("First Name"), columns.find("Middle Name")
    family = columns.find("Last Name")
    email_columns = [position for name in ("E-mail Address", "E-mail 2 Address",
                                           "E-mail 3 Address")
                     for position in columns.find_all(name)]
    phone_columns = [
        (position, label, primary)
        for name, label, primary in _OUTLOOK_PHONES
        if (position := columns.find(name)) is not None
    ]
    addresses = [
        (
            [columns.find(f"{kind} Street{n}") for n in ("", " 2", " 3")],
            columns.find(f"{kind} City"),
            columns.find(f"{kind} Postal Code"),
            columns.find(f"{kind} State"),
            columns.find(f"{kind} Country/Region", f"{kind} Country"),
        )
        for kind in ("Business", "Home", "Other")
    ]
    job_title, company = columns.find("Job Title"), columns.find("Company")
    web_pages = [columns.find("Web Page"), columns.find("Personal Web Page")]
    birthday, notes = columns.find("Birthday"), columns.find("Notes")
    categories = columns.find("Categories")

    def extract(cells: Cells) -> PersonBuilder:
        date = cell(cells, birthday)
        person = PersonBuilder(
            given_name=cell(cells, given) or None,
            family_name=cell(cells, family) or None,
            full_name=_joined(cells, (given, middle, family)) or None,
            title=cell(cells, job_title) or None,
            birthday=None if not date or date in _NO_DATE else date,
        )
        for position in email_columns:
            value = cell(cells, position)
            # An Exchange (X.500) address such as "/o=ExchangeLabs/..." is not an e-mail.
            if value and not value.startswith("/"):
                person.add_email(value, None, not person.emails)
        for position, label, primary in phone_columns:
            if value := cell(cells, position):
                person.add_phone(value, label, primary)
        for streets, city, postcode, region, country in addresses:
            person.set_address(
                street=_joined(cells, streets, ", "),
                city=cell(cells, city),
                postcode=cell(cells, postcode),
                region=cell(cells, region),
                country=cell(cells, country),
            )
        if name := cell(cells, company):
            person.company["name"] = name
        for page in web_pages:
            person.add_url(cell(cells, page))
        if text := cell(cells, notes):
            person.custom["notes"] = text
        person.add_tags(cell(cells, categories).split(";"))
        return person

    return extract


# --- LinkedIn ---------------------------------------------------------------------------


def _linkedin(columns: Columns) -> Extract:
    """Connections.csv, English or German headers."""
    given = columns.find("First Name", "Vorname")
    family = columns.find("Last Name", "Nachname")
    url = columns.find("URL")
    emails = columns.find_all("Email Address", "E-Mail-Adresse", "E-mail Address")
    company = columns.find("Company", "Unternehmen")
    position = columns.find("Position")
    connected = columns.find("Connected On", "Verbunden am")

    def extract(cells: Cells) -> PersonBuilder:
        person = PersonBuilder(
            given_name=cell(cells, given) or None,
            family_name=cell(cells, family) or None,
            full_name=_joined(cells, (given, family)) or None,
            title=cell(cells, position) or None,
        )
        if profile := cell(cells, url):
            person.handles["linkedin"] = profile  # the profile URL as given
        for column in emails:
            person.add_email(cell(cells, column))
        if name := cell(cells, company):
            person.company["name"] = name
        if date := cell(cells, connected):
            person.custom["linkedin_connected_on"] = date
        return person

    return extract
