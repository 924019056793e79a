"""The people and the four exports of benchmarks/crm_like.py (seeded, Faker).

A French company's contacts: mostly French people (Faker's fr_FR locale), some British,
German and Spanish ones, working at companies with a domain and a switchboard. Each person
is written to some of four exports, each with the habits of its kind:

* ``google.csv``: a salesperson's Google Contacts (current format): private and work
  e-mails, the mobile in international notation, birthdays often without a year
  (``--04-02``), nicknames;
* ``outlook.csv``: the company's Outlook address book (61 columns): work e-mail, mobile,
  the business phone being a direct line, the company's switchboard or an assistant's line
  shared by the people the assistant works for, ``M/D/YYYY`` birthdays;
* ``linkedin.csv``: LinkedIn's Connections.csv: profile URL, rarely an e-mail, the current
  company and position;
* ``legacy.csv``: an old French CRM (``;``, cp1252, upper-case family names, accents
  sometimes lost, given and family names sometimes swapped, dotted phone notation, the
  switchboard as "Tél"), often from before a job change: the previous company and work
  address, the same mobile.

The hard negatives, listed with their kind in ``Dataset.relations`` (two people who must
stay apart): namesakes at other companies, namesakes at one company, relatives at one firm
(same family name, same firm, same home town), and two executives sharing an assistant's
phone. Each record carries its own id (``ID`` / ``Code``) so that the benchmark maps it back
to its person; the connectors read it as their ``id_column``, the matcher never sees it.
"""

from __future__ import annotations

import csv
import datetime as dt
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

import phonenumbers
from faker import Faker

LOCALES = (("fr_FR", "FR", 0.7), ("en_GB", "GB", 0.1), ("de_DE", "DE", 0.1),
           ("es_ES", "ES", 0.1))
# (country, mobile prefix after the calling code, digits that follow)
MOBILE = {"FR": ("33", ("6", "7"), 8), "GB": ("44", ("74", "75", "77", "78", "79"), 8),
          "DE": ("49", ("151", "160", "170", "176"), 7), "ES": ("34", ("6",), 8)}
LANDLINE = {"FR": ("33", ("1", "2", "3", "4", "5"), 8), "GB": ("44", ("20",), 8),
            "DE": ("49", ("30", "89"), 7), "ES": ("34", ("91", "93"), 7)}
FREE_MAIL = {"FR": ("gmail.com", "orange.fr", "free.fr", "laposte.net", "hotmail.fr"),
             "GB": ("gmail.com", "outlook.com", "yahoo.co.uk"),
             "DE": ("gmail.com", "web.de", "gmx.de"), "ES": ("gmail.com", "hotmail.es")}
NICKNAMES = {
    "Alexandre": "Alex", "Alexandra": "Alex", "Christophe": "Chris", "Frédéric": "Fred",
    "Stéphanie": "Steph", "Catherine": "Cathy", "Philippe": "Phil", "Nicolas": "Nico",
    "Maximilien": "Max", "Maxime": "Max", "Guillaume": "Guillaume", "Emmanuel": "Manu",
    "Jean-Baptiste": "JB", "Dominique": "Dom", "Benjamin": "Ben", "Valentin": "Val",
    "William": "Bill", "Robert": "Bob", "Elizabeth": "Liz", "Katherine": "Kate",
    "Thomas": "Tom", "Michael": "Mike", "Daniel": "Dan", "James": "Jim", "Samuel": "Sam",
    "Margaret": "Maggie", "Jennifer": "Jenny", "Alexander": "Alex", "Christopher": "Chris",
    "Francisco": "Paco", "José": "Pepe", "Johannes": "Hannes", "Wolfgang": "Wolf",
}
PREFIX = {"google": "g", "outlook": "o", "linkedin": "n", "legacy": "c"}
RELATION_KINDS = ("namesake, other company", "namesake, same company",
                  "relatives at one firm", "shared assistant's phone")


@dataclass
class Company:
    name: str
    domain: str
    country: str
    switchboard: str  # E.164
    city: str
    postcode: str


@dataclass
class Person:
    pid: int
    locale: str
    country: str
    given: str
    family: str
    mobile: str  # E.164
    company: Company
    work_email: str
    title: str
    city: str
    postcode: str
    birthday: dt.date | None
    private_email: str | None = None
    direct_line: str | None = None
    assistant_line: str | None = None  # shared with the assistant's other executive
    previous: Company | None = None  # before a job change
    previous_email: str | None = None
    linkedin: str = ""


@dataclass
class Record:
    """One exported row: its id, the true person, the source, and what a peer is given."""

    rec_id: str
    pid: int
    source: str
    peer: dict[str, str | None]


@dataclass
class Dataset:
    people: list[Person]
    records: list[Record]
    relations: list[tuple[int, int, str]]  # (pid, pid, kind): must stay apart
    files: dict[str, Path] = field(default_factory=dict)


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


def slug(text: str) -> str:
    return "".join(c for c in fold(text).lower() if c.isalnum())


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = Random(seed)
        self.fakers = {}
        for locale, _, _ in LOCALES:
            faker = Faker(locale)
            faker.seed_instance(seed)
            self.fakers[locale] = faker
        self.used_numbers: set[str] = set()
        self.used_emails: set[str] = set()
        self.used_handles: set[str] = set()

    # --- identifiers ---------------------------------------------------------------------

    def number(self, table: dict[str, tuple[str, tuple[str, ...], int]], country: str) -> str:
        code, prefixes, digits = table[country]
        while True:
            national = self.rng.choice(prefixes) + "".join(
                str(self.rng.randrange(10)) for _ in range(digits))
            e164 = f"+{code}{national}"
            if e164 in self.used_numbers:
                continue
            if phonenumbers.is_valid_number(phonenumbers.parse(e164)):
                self.used_numbers.add(e164)
                return e164

    def email(self, local: str, domain: str) -> str:
        local = ".".join(part for part in (slug(p) for p in local.split(".")) if part)
        candidate, n = f"{local}@{domain}", 1
        while candidate in self.used_emails:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self.used_emails.add(candidate)
        return candidate

    def handle(self, given: str, family: str) -> str:
        base = f"{slug(given)}-{slug(family)}"
        candidate = base
        while candidate in self.used_handles:
            candidate = f"{base}-{self.rng.randrange(16**6):06x}"
        self.used_handles.add(candidate)
        return f"https://www.linkedin.com/in/{candidate}"

    # --- people --------------------------------------------------------------------------

    def locale(self) -> tuple[str, str]:
        roll, acc = self.rng.random(), 0.0
        for locale, country, share in LOCALES:
            acc += share
            if roll < acc:
                return locale, country
        return LOCALES[0][0], LOCALES[0][1]

    def company(self) -> Company:
        locale, country = self.locale()
        faker = self.fakers[locale]
        name = faker.company()
        base = slug(name.split()[0]) or "societe"
        tld = {"FR": "fr", "GB": "co.uk", "DE": "de", "ES": "es"}[country]
        domain = f"{base}{self.rng.randrange(100)}.{tld}"
        return Company(name, domain, country, self.number(LANDLINE, country), faker.city(),
                       faker.postcode())

    def birthday(self) -> dt.date | None:
        if self.rng.random() < 0.4:
            return None
        return dt.date(1950, 1, 1) + dt.timedelta(days=self.rng.randrange(365 * 50))

    def person(self, pid: int, company: Company, given: str | None = None,
               family: str | None = None, locale: str | None = None,
               home: tuple[str, str] | None = None) -> Person:
        if locale is None:
            locale, country = self.locale()
        else:
            country = next(c for loc, c, _ in LOCALES if loc == locale)
        faker = self.fakers[locale]
        given = given or (faker.first_name_male() if self.rng.random() < 0.5
                          else faker.first_name_female())
        family = family or faker.last_name()
        city, postcode = home or (faker.city(), faker.postcode())
        person = Person(
            pid=pid, locale=locale, country=country, given=given, family=family,
            mobile=self.number(MOBILE, country), company=company,
            work_email=self.email(f"{given}.{family}", company.domain),
            title=faker.job()[:60], city=city, postcode=postcode, birthday=self.birthday(),
            linkedin=self.handle(given, family))
        if self.rng.random() < 0.6:
            person.private_email = self.email(
                f"{given}.{family}" if self.rng.random() < 0.7 else f"{given[0]}{family}",
                self.rng.choice(FREE_MAIL[country]))
        if self.rng.random() < 0.4:
            person.direct_line = self.number(LANDLINE, company.country)
        return person


def generate(persons: int, seed: int) -> tuple[list[Person], list[tuple[int, int, str]]]:
    """``persons`` people (hard negatives included) and the pairs that must stay apart."""
    gen = Generator(seed)
    rng = gen.rng
    companies = [gen.company() for _ in range(max(persons // 8, 4))]
    people: list[Person] = []
    relations: list[tuple[int, int, str]] = []

    def add(person: Person) -> Person:
        people.append(person)
        return person

    while len(people) < persons:
        pid = len(people)
        roll = rng.random()
        base = people[rng.randrange(len(people))] if people else None
        if base is not None and roll < 0.04:  # a namesake elsewhere
            other = rng.choice([c for c in companies if c is not base.company])
            twin = add(gen.person(pid, other, base.given, base.family, base.locale))
            relations.append((base.pid, twin.pid, RELATION_KINDS[0]))
        elif base is not None and roll < 0.055:  # a namesake at the same company
            twin = add(gen.person(pid, base.company, base.given, base.family, base.locale))
            relations.append((base.pid, twin.pid, RELATION_KINDS[1]))
        elif base is not None and roll < 0.085:  # a relative at the same firm
            relative = add(gen.person(pid, base.company, family=base.family,
                                      locale=base.locale, home=(base.city, base.postcode)))
            relations.append((base.pid, relative.pid, RELATION_KINDS[2]))
        elif base is not None and roll < 0.105 and base.assistant_line is None:
            boss = add(gen.person(pid, base.company))
            line = gen.number(LANDLINE, base.company.country)
            base.assistant_line = boss.assistant_line = line
            relations.append((base.pid, boss.pid, RELATION_KINDS[3]))
        else:
            add(gen.person(pid, rng.choice(companies)))
    for person in people:  # job changes: the legacy CRM knew them at their previous firm
        if rng.random() < 0.2:
            person.previous = rng.choice([c for c in companies if c is not person.company])
            person.previous_email = gen.email(f"{person.given}.{person.family}",
                                              person.previous.domain)
    return people, relations


# --- notations -------------------------------------------------------------------------


def phone_notation(rng: Random, e164: str, styles: tuple[str, ...]) -> str:
    number = phonenumbers.parse(e164)
    style = rng.choice(styles)
    if style == "e164":
        return e164
    if style == "international":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    if number.country_code != 33:  # a foreign number written nationally loses its country
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if style == "dotted":
        return national.replace(" ", ".")
    if style == "compact":
        return national.replace(" ", "")
    if style == "paren":
        return "+33 (0)" + national[1:]
    return national


def given_variant(rng: Random, given: str, nickname_rate: float) -> str:
    if rng.random() < nickname_rate and given in NICKNAMES:
        return NICKNAMES[given]
    return given


def email_variant(rng: Random, email: str) -> str:
    if rng.random() < 0.2:
        local, domain = email.split("@")
        return f"{local.title()}@{domain.capitalize()}"
    return email


def peer_phone(value: str) -> str | None:
    """What a peer user does to phones: digits, the trunk 0 or country code dropped."""
    digits = "".join(c for c in value if c.isdigit())
    return digits[-9:] if len(digits) >= 9 else None


def peer_view(given: str, family: str, email: str | None, phone: str | None,
              birthday: str | None, city: str | None, postcode: str | None,
              company: str | None) -> dict[str, str | None]:
    """The common schema the peers get, cleaned as their tutorials advise (lower case,
    accents folded, empty as null), from the values as exported."""

    def clean(text: str | None) -> str | None:
        text = fold(text or "").lower().strip()
        return " ".join(text.split()) or None

    return {"first_name": clean(given), "surname": clean(family),
            "email": (email or "").lower().strip() or None,
            "phone": peer_phone(phone) if phone else None,
            "dob": birthday, "city": clean(city), "postcode": clean(postcode),
            "company": clean(company)}


# --- the exports -----------------------------------------------------------------------

GOOGLE_HEADER = (
    "First Name", "Middle Name", "Last Name", "Phonetic First Name", "Phonetic Middle Name",
    "Phonetic Last Name", "Name Prefix", "Name Suffix", "Nickname", "File As",
    "Organization Name", "Organization Title", "Organization Department", "Birthday",
    "Notes", "Photo", "Labels", "E-mail 1 - Label", "E-mail 1 - Value", "E-mail 2 - Label",
    "E-mail 2 - Value", "Phone 1 - Label", "Phone 1 - Value", "Phone 2 - Label",
    "Phone 2 - Value", "Address 1 - Label", "Address 1 - Formatted", "Address 1 - Street",
    "Address 1 - City", "Address 1 - PO Box", "Address 1 - Region",
    "Address 1 - Postal Code", "Address 1 - Country", "Address 1 - Extended Address", "ID",
)
LINKEDIN_HEADER = ("First Name", "Last Name", "URL", "Email Address", "Company", "Position",
                   "Connected On", "ID")
LEGACY_HEADER = ("Code", "Civilité", "Nom", "Prénom", "Société", "Fonction", "Tél",
                 "Portable", "Email", "CP", "Ville", "Date de naissance")
LEGACY_MAPPING = {
    "Nom": "person.family_name", "Prénom": "person.given_name",
    "Société": "person.company.name", "Fonction": "person.title", "Tél": "person.phones.work",
    "Portable": "person.phones.mobile", "Email": "person.emails", "CP": "person.address.postcode",
    "Ville": "person.address.city", "Date de naissance": "person.birthday",
}


def export(people: list[Person], directory: Path, seed: int,
           outlook_header: tuple[str, ...]) -> tuple[list[Record], dict[str, Path]]:
    rng = Random(seed + 1)
    records: list[Record] = []
    rows: dict[str, list[dict[str, str]]] = {"google": [], "outlook": [], "linkedin": [],
                                             "legacy": []}

    def record(source: str, person: Person, row: dict[str, str],
               peer: dict[str, str | None]) -> None:
        rec_id = f"{PREFIX[source]}{len(rows[source]):05d}"
        row["Code" if source == "legacy" else "ID"] = rec_id
        rows[source].append(row)
        records.append(Record(rec_id, person.pid, source, peer))

    for p in people:
        # Everyone is in at least one export; most in two or three.
        shares = {"google": 0.45, "outlook": 0.55, "linkedin": 0.4, "legacy": 0.35}
        chosen = [s for s, share in shares.items() if rng.random() < share] or \
            [rng.choice(list(shares))]
        for source in chosen:
            writer: Callable[[Person], tuple[dict[str, str], dict[str, str | None]]] = {
                "google": lambda p: google_row(rng, p), "outlook": lambda p: outlook_row(rng, p),
                "linkedin": lambda p: linkedin_row(rng, p),
                "legacy": lambda p: legacy_row(rng, p)}[source]
            row, peer = writer(p)
            record(source, p, row, peer)

    files = {}
    for source, header in (("google", GOOGLE_HEADER), ("outlook", (*outlook_header, "ID")),
                           ("linkedin", LINKEDIN_HEADER), ("legacy", LEGACY_HEADER)):
        path = directory / f"{source}.csv"
        options: dict[str, Any] = {"encoding": "utf-8", "newline": ""}
        delimiter = ","
        if source == "legacy":
            options["encoding"], delimiter = "cp1252", ";"
        with path.open("w", **options) as handle:
            if source == "linkedin":  # the export's preamble before the header
                handle.write("Notes:\n\"When exporting your connection data, you may notice "
                             "that some of the email addresses are missing.\"\n\n")
            out = csv.DictWriter(handle, fieldnames=list(header), delimiter=delimiter,
                                 extrasaction="raise", restval="")
            out.writeheader()
            out.writerows(rows[source])
        files[source] = path
    return records, files


def google_row(rng: Random, p: Person) -> tuple[dict[str, str], dict[str, str | None]]:
    given = given_variant(rng, p.given, 0.25)
    row = {"First Name": given, "Last Name": p.family, "Labels": "* myContacts"}
    emails = []
    if p.private_email:
        emails.append(("* Home", p.private_email))
    if rng.random() < 0.5:
        emails.append(("Work", email_variant(rng, p.work_email)))
    for n, (label, value) in enumerate(emails[:2], start=1):
        row[f"E-mail {n} - Label"], row[f"E-mail {n} - Value"] = label, value
    phone = phone_notation(rng, p.mobile, ("international", "e164", "national"))
    row["Phone 1 - Label"], row["Phone 1 - Value"] = "Mobile", phone
    birthday = None
    if p.birthday:
        birthday = p.birthday.isoformat() if rng.random() < 0.4 else p.birthday.strftime("--%m-%d")
        row["Birthday"] = birthday
    if rng.random() < 0.6:
        row["Organization Name"], row["Organization Title"] = p.company.name, p.title
    if rng.random() < 0.5:
        row["Address 1 - Label"], row["Address 1 - City"] = "Home", p.city
        row["Address 1 - Postal Code"] = p.postcode
    return row, peer_view(given, p.family, emails[0][1] if emails else None, phone,
                          birthday if birthday and not birthday.startswith("--") else None,
                          row.get("Address 1 - City"), row.get("Address 1 - Postal Code"),
                          row.get("Organization Name"))


def outlook_row(rng: Random, p: Person) -> tuple[dict[str, str], dict[str, str | None]]:
    styles = ("national", "dotted", "compact", "international")
    row = {"First Name": p.given, "Last Name": p.family, "Company": p.company.name,
           "Job Title": p.title, "E-mail Address": email_variant(rng, p.work_email),
           "Business City": p.company.city, "Business Postal Code": p.company.postcode}
    if rng.random() < 0.85:
        row["Mobile Phone"] = phone_notation(rng, p.mobile, styles)
    business = p.assistant_line or (p.direct_line if p.direct_line and rng.random() < 0.7
                                    else p.company.switchboard)
    row["Business Phone"] = phone_notation(rng, business, styles)
    if p.birthday and rng.random() < 0.5:
        row["Birthday"] = f"{p.birthday.month}/{p.birthday.day}/{p.birthday.year}"
    return row, peer_view(p.given, p.family, row["E-mail Address"],
                          row.get("Mobile Phone") or row["Business Phone"],
                          p.birthday.isoformat() if "Birthday" in row and p.birthday else None,
                          None, None, p.company.name)


def linkedin_row(rng: Random, p: Person) -> tuple[dict[str, str], dict[str, str | None]]:
    family = p.family.upper() if rng.random() < 0.1 else p.family
    row = {"First Name": given_variant(rng, p.given, 0.15), "Last Name": family,
           "URL": p.linkedin, "Company": p.company.name, "Position": p.title,
           "Connected On": (dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3600)))
           .strftime("%d %b %Y")}
    if rng.random() < 0.2:
        row["Email Address"] = p.private_email or p.work_email
    return row, peer_view(row["First Name"], family, row.get("Email Address"), None, None,
                          None, None, p.company.name)


def legacy_row(rng: Random, p: Person) -> tuple[dict[str, str], dict[str, str | None]]:
    company = p.previous or p.company
    email = p.previous_email if p.previous else p.work_email
    given = p.given if rng.random() < 0.6 else fold(p.given)
    family = fold(p.family).upper() if rng.random() < 0.7 else p.family.upper()
    if rng.random() < 0.05:  # typed into the wrong fields
        given, family = family, given
    styles = ("dotted", "national", "compact", "paren")
    row = {"Civilité": rng.choice(("M.", "Mme", "")), "Nom": family, "Prénom": given,
           "Société": company.name.upper(), "Fonction": p.title,
           "Tél": phone_notation(rng, company.switchboard, styles),
           "Email": email if rng.random() < 0.8 else "",
           "CP": p.postcode if rng.random() < 0.6 else "",
           "Ville": p.city.upper() if rng.random() < 0.6 else ""}
    if rng.random() < 0.8:
        row["Portable"] = phone_notation(rng, p.mobile, styles)
    if p.birthday and rng.random() < 0.5:
        row["Date de naissance"] = p.birthday.strftime("%d/%m/%Y")
    for key in ("Société", "Fonction", "Ville", "Nom", "Prénom"):  # the file is cp1252
        row[key] = row[key].encode("cp1252", "replace").decode("cp1252")
    return row, peer_view(given, family, row["Email"] or None,
                          row.get("Portable") or row["Tél"],
                          p.birthday.isoformat() if "Date de naissance" in row and p.birthday
                          else None, row["Ville"] or None, row["CP"] or None, company.name)


def build(persons: int, seed: int, directory: Path, outlook_header: tuple[str, ...]) -> Dataset:
    people, relations = generate(persons, seed)
    records, files = export(people, directory, seed, outlook_header)
    return Dataset(people, records, relations, files)
