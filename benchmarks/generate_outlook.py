#!/usr/bin/env python3
"""Write a seeded, reproducible new-Outlook (61-column) contact export for benchmarks.

    python benchmarks/generate_outlook.py --rows 100000 --out benchmarks/out/outlook.csv

The same --seed, --rows and --dup-rate give the same bytes. Rows are streamed to disk: only
a bounded sample of earlier people (to duplicate), the companies being filled and the set
of company domains are in memory, so a million rows need tens of megabytes.

Who is in the file:
- people of five countries (FR, DE, GB, ES, IT; a French company's address book), with
  accented names, at companies with legal forms (SAS, GmbH, Ltd, S.L., S.r.l., BV...) and
  work e-mail addresses at the company's domain, or private people with free-mail
  addresses (gmail.com, orange.fr, web.de...);
- valid, distinct mobile and landline numbers (phone_numbers.py), French ones in
  national or international notation, foreign ones always international (the benchmark
  config's default region is FR, as a French company's would be);
- job titles, departments, business or home addresses, some birthdays (Outlook's M/D/YYYY),
  notes with commas, quotes and line breaks, company switchboards and faxes shared by
  colleagues, role addresses (contact@...) as second e-mails.

About --dup-rate of the rows repeat an earlier person, varied as real duplicates are (case,
accents, e-mail case/+tag/Gmail dots, phone notation, a missing field, the company's legal
form). Every row still carries an e-mail or a personal number of that person, and distinct
people share no e-mail or personal number, so a perfect deterministic matcher finds exactly
the "distinct persons" printed at the end (also written to --stats as JSON).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from random import Random

from outlook_pools import (
    BRAND_HEADS,
    BRAND_TAILS,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    EMAIL_TAGS,
    FOREIGN_FORMS,
    FOREIGN_QUALIFIERS,
    GMAIL_DOMAINS,
    HEADER,
    POOLS,
    WEB_PREFIXES,
    Country,
)
from phone_numbers import (
    STYLES_FOREIGN,
    STYLES_FR,
    Phone,
    PhoneSpace,
    check_phones,
    phone_shapes,
)

GENERATOR_VERSION = 1  # bump when a change alters the bytes written for a given seed
COL = {name: index for index, name in enumerate(HEADER)}
C_GIVEN, C_MIDDLE, C_FAMILY, C_TITLE = (COL[n] for n in
                                        ("First Name", "Middle Name", "Last Name", "Title"))
C_EMAILS = (COL["E-mail Address"], COL["E-mail 2 Address"], COL["E-mail 3 Address"])
C_MOBILE, C_BUSINESS, C_HOME = COL["Mobile Phone"], COL["Business Phone"], COL["Home Phone"]
C_MAIN, C_FAX = COL["Company Main Phone"], COL["Business Fax"]
PERSONAL_PHONES = frozenset({C_MOBILE, C_BUSINESS, C_HOME})  # identify one person
C_JOB, C_DEPT, C_COMPANY = COL["Job Title"], COL["Department"], COL["Company"]
C_BSTREET, C_BCITY, C_BSTATE, C_BPOST, C_BCOUNTRY = (COL[f"Business {n}"] for n in (
    "Street", "City", "State", "Postal Code", "Country/Region"))
C_HSTREET = COL["Home Street"]  # the home block has the same layout as the business one
C_WEB, C_BIRTHDAY, C_NOTES = COL["Web Page"], COL["Birthday"], COL["Notes"]
WIDTH = len(HEADER)

RESERVOIR = 20_000  # earlier people a duplicate is drawn from (uniform sample, Algorithm R)
OPEN_COMPANIES = 48  # companies being filled at once, so colleagues are spread out
ROLE_LOCALS = ("contact", "info", "accueil", "sales", "office")

# --- text helpers (cached: the inputs come from small pools) ----------------------------

_ASCII = str.maketrans({"ß": "ss", "œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ı": "i",
                        "ø": "o", "Ø": "O", "ł": "l"})
_plain_cache: dict[str, str] = {}
_slug_cache: dict[str, str] = {}


def plain(text: str) -> str:
    """The text without accents, as typed on a keyboard without them ("Lefèvre" -> "Lefevre")."""
    if text.isascii():
        return text
    cached = _plain_cache.get(text)
    if cached is None:
        decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII))
        cached = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        _plain_cache[text] = cached
    return cached


def slug(text: str) -> str:
    """E-mail local part / domain label of a name: "D'Almeida" -> "dalmeida"."""
    cached = _slug_cache.get(text)
    if cached is None:
        cached = plain(text).lower().replace("'", "").replace(" ", "").replace(".", "")
        _slug_cache[text] = cached
    return cached


# Work address conventions; a company uses one of them for everybody.
WORK_FORMATS: tuple[Callable[[str, str], str], ...] = (
    lambda first, last: f"{first}.{last}",
    lambda first, last: f"{first}.{last}",
    lambda first, last: f"{first}.{last}",
    lambda first, last: f"{first[0]}.{last}",
    lambda first, last: f"{first[0]}{last}",
    lambda first, last: f"{first}{last}",
    lambda first, last: f"{last}.{first}",
    lambda first, last: f"{first}_{last}",
    lambda first, last: first,
    lambda first, last: f"{last}{first[0]}",
)
# Free-mail addresses end with the person's serial number, which keeps them distinct.
FREE_FORMATS = ("{f}.{l}{n}", "{f}{l}{n}", "{i}{l}{n}", "{l}.{f}{n}", "{f}_{l}{n}",
                "{f}.{l}.{n}", "{f}{n}")


class Company:
    __slots__ = ("city", "country", "country_name", "domain", "fax", "form", "locals",
                 "main_phone", "name", "pool", "postcode", "remaining", "state", "street",
                 "website", "work_format")

    name: str
    form: str  # legal form, "" when the export leaves it out
    country: str
    pool: Country
    domain: str
    website: str
    street: str
    city: str
    state: str
    postcode: str
    country_name: str
    main_phone: Phone | None  # the switchboard, shared by colleagues
    fax: Phone | None
    work_format: Callable[[str, str], str]
    remaining: int  # people still to place at this company

    def __init__(self) -> None:
        self.locals: set[str] | None = set()  # local parts in use; None once closed

    @property
    def display(self) -> str:
        return f"{self.name} {self.form}" if self.form else self.name


class Person:
    __slots__ = ("birthday", "business_address", "company", "country", "department", "emails",
                 "family", "given", "home", "job", "middle", "notes", "phones", "salutation",
                 "serial", "website")

    given: str
    middle: str
    family: str
    salutation: str
    country: str
    emails: list[str]
    phones: list[tuple[int, Phone, int]]  # (column, number, notation)
    company: Company | None
    business_address: bool
    home: tuple[str, str, str, str, str] | None  # street, city, state, postcode, country
    job: str
    department: str
    website: str
    birthday: str
    notes: str
    serial: int  # which distinct person: the ground truth of a row


def local_part(email: str) -> str:
    """The local part as it identifies someone: "Info+pro@x.fr" -> "info"."""
    return email.partition("@")[0].lower().partition("+")[0]


def identified(emails: Sequence[str], phones: Sequence[tuple[int, Phone, int]]) -> bool:
    """Whether a row still names one person: a personal e-mail or a personal number."""
    return any(local_part(e) not in ROLE_LOCALS for e in emails) or any(
        column in PERSONAL_PHONES for column, _, _ in phones)


def capitalised(email: str) -> str:
    """"jean.dupont@acme.fr" -> "Jean.Dupont@acme.fr", as some people type it."""
    local, _, domain = email.partition("@")
    return ".".join(word.capitalize() for word in local.split(".")) + "@" + domain


def other_form(form: str) -> str:
    """The legal form spelled another way: "SAS" -> "S.A.S.", "S.r.l." -> "SRL"."""
    if "." in form:
        return form.replace(".", "").replace(" ", "").upper()
    if form.isalpha() and form.isupper() and len(form) <= 4:
        return ".".join(form) + "."
    return form.upper()


class Generator:
    """Rows of one file; every random choice comes from one Random(seed), in file order."""

    def __init__(self, seed: int, dup_rate: float) -> None:
        self.rng = Random(seed)
        self.random = self.rng.random
        self.dup_rate = dup_rate
        self.pools = [POOLS[c] for c in COUNTRIES]
        self.cumulative = [sum(COUNTRY_WEIGHTS[: i + 1]) for i in range(len(COUNTRIES))]
        shapes = phone_shapes()
        self.mobiles = {c: PhoneSpace(shapes[c, "mobile"], self.rng) for c in COUNTRIES}
        self.fixed = {c: PhoneSpace(shapes[c, "fixed"], self.rng) for c in COUNTRIES}
        self.open: list[Company] = []
        self.domains: set[str] = set()
        self.reservoir: list[Person] = []
        self.persons = 0
        self.duplicates = 0

    # -- small helpers ----------------------------------------------------------------

    def pick(self, items: Sequence[str]) -> str:
        return items[int(self.random() * len(items))]

    def country(self) -> int:
        r = self.random()
        for index, bound in enumerate(self.cumulative):
            if r < bound:
                return index
        return len(self.cumulative) - 1

    def style(self, country: str) -> int:
        styles = STYLES_FR if country == "FR" else STYLES_FOREIGN
        return styles[int(self.random() * len(styles))]

    def other_style(self, country: str, style: int) -> int:
        while (new := self.style(country)) == style:
            pass
        return new

    def street(self, pool: Country) -> str:
        number = str(1 + int(self.random() * self.random() * 180))
        name = self.pick(pool.streets)
        if pool.street_number_first:
            line = f"{number} {name}" if self.random() > 0.08 else f"{number} bis {name}"
        else:
            line = f"{name} {number}" if self.random() > 0.3 else f"{name}, {number}"
        if self.random() < 0.04:  # a second street line: a line break inside the cell
            line += "\r\n" + self.pick(("Bâtiment B", "2. OG", "Unit 4", "3º B", "Scala C"))
        return line

    # -- companies --------------------------------------------------------------------

    def new_company(self) -> Company:
        rng, random, pick = self.rng, self.random, self.pick
        company = Company()
        index = self.country()
        pool = self.pools[index]
        company.country, company.pool = COUNTRIES[index], pool
        r = random()
        if r < 0.45:
            family, activity = pick(pool.family), pick(pool.activities)
            first = random() < pool.activity_first
            company.name = f"{activity} {family}" if first else f"{family} {activity}"
        elif r < 0.58:  # "Martin & Fils", "Smith & Jones", "Gruppo Rossi"
            family = pick(pool.family)
            company.name = pick(pool.family_firms).format(f=family, g=pick(pool.family))
        else:
            brand = pick(BRAND_HEADS) + pick(BRAND_TAILS)
            company.name = brand if random() < 0.6 else f"{brand} {pick(pool.activities)}"
        if r > 0.88:  # a foreign subsidiary: "Altivia Europe BV"
            company.name = f"{company.name.split()[0]} {pick(FOREIGN_QUALIFIERS)}"
            company.form = pick(FOREIGN_FORMS)
        else:
            company.form = pick(pool.legal_forms) if random() < 0.75 else ""
        words = [slug(word) for word in company.name.replace("&", " ").split()]
        label = ("-" if random() < 0.5 else "").join(word for word in words if word)
        city, state, postcodes = pool.cities[int(random() * len(pool.cities))]
        domain = label + pick(pool.tlds)
        if domain in self.domains:
            domain = f"{label}-{slug(city).replace('-', '')}{pick(pool.tlds)}"
            while domain in self.domains:
                domain = f"{label}{rng.randrange(2, 10_000)}{pick(pool.tlds)}"
        self.domains.add(domain)
        company.domain = domain
        company.website = pick(WEB_PREFIXES) + domain if random() < 0.8 else ""
        company.street = self.street(pool)
        company.city, company.postcode = city, pick(postcodes)
        company.state = state if random() < 0.5 else ""
        company.country_name = pick(pool.country_names)
        fixed = self.fixed[company.country]
        company.main_phone = fixed.take() if random() < 0.7 else None
        company.fax = fixed.take() if random() < 0.15 else None
        company.work_format = WORK_FORMATS[int(random() * len(WORK_FORMATS))]
        r = random()
        company.remaining = (1 if r < 0.35 else rng.randint(2, 4) if r < 0.65
                             else rng.randint(5, 15) if r < 0.88 else rng.randint(16, 60))
        return company

    def company_slot(self) -> Company:
        if len(self.open) < OPEN_COMPANIES:
            self.open.append(self.new_company())
        index = int(self.random() * len(self.open))
        company = self.open[index]
        company.remaining -= 1
        if company.remaining <= 0:
            company.locals = None  # closed: its colleagues' addresses are not needed any more
            self.open[index] = self.new_company()
        return company

    # -- people -----------------------------------------------------------------------

    def free_mail(self, pool: Country, first: str, last: str, serial: int) -> str:
        local = self.pick(FREE_FORMATS).format(f=first, l=last, i=first[0], n=serial + 1)
        return f"{local}@{self.pick(pool.free_mail)}"

    def new_person(self, serial: int) -> Person:
        random, pick = self.random, self.pick
        person = Person()
        person.serial = serial
        company = self.company_slot() if random() < 0.74 else None
        person.company = company
        if company is not None and random() < 0.85:
            country, pool = company.country, company.pool
        else:
            index = self.country()
            country, pool = COUNTRIES[index], self.pools[index]
        person.country = country
        names = pool.female if random() < 0.5 else pool.male
        person.given = pick(names)
        person.middle = pick(names) if country in ("DE", "GB") and random() < 0.06 else ""
        person.family = pick(pool.family)
        if country == "ES" and random() < 0.35:
            person.family = f"{person.family} {pick(pool.family)}"
        salutations = pool.salutations_f if names is pool.female else pool.salutations_m
        person.salutation = pick(salutations) if random() < 0.12 else ""
        first, last = slug(person.given), slug(person.family.split()[0])
        emails: list[str] = []
        phones: list[tuple[int, Phone, int]] = []
        person.home, person.department, person.website = None, "", ""
        person.business_address = False
        if company is not None:
            person.job = pick(company.pool.job_titles) if random() < 0.85 else ""
            if random() < 0.12:
                person.department = pick(company.pool.departments)
            if random() < 0.93 and company.locals is not None:
                local = base = company.work_format(first, last)
                n = 1
                while local in company.locals:  # two Jean Martin: jean.martin2@
                    n += 1
                    local = f"{base}{n}"
                company.locals.add(local)
                emails.append(f"{local}@{company.domain}")
            if random() < 0.08:
                emails.append(self.free_mail(pool, first, last, serial))
            known = bool(emails)
            if random() < 0.05:
                emails.append(f"{pick(ROLE_LOCALS)}@{company.domain}")
            if random() < 0.55:
                direct = self.fixed[company.country].take()
                phones.append((C_BUSINESS, direct, self.style(company.country)))
                known = True
            if random() < 0.55:
                phones.append((C_MOBILE, self.mobiles[country].take(), self.style(country)))
                known = True
            if company.main_phone is not None and random() < 0.3:
                phones.append((C_MAIN, company.main_phone, self.style(company.country)))
            if company.fax is not None and random() < 0.3:
                phones.append((C_FAX, company.fax, self.style(company.country)))
            person.website = company.website if random() < 0.25 else ""
            person.business_address = random() < 0.65
        else:
            person.job = pick(pool.job_titles) if random() < 0.08 else ""
            if random() < 0.9:
                emails.append(self.free_mail(pool, first, last, serial))
            known = bool(emails)
            if random() < 0.75:
                phones.append((C_MOBILE, self.mobiles[country].take(), self.style(country)))
                known = True
            if random() < 0.2:
                phones.append((C_HOME, self.fixed[country].take(), self.style(country)))
                known = True
            if random() < 0.45:
                city, state, postcodes = pool.cities[int(random() * len(pool.cities))]
                person.home = (self.street(pool), city, state if random() < 0.3 else "",
                               pick(postcodes), pick(pool.country_names))
        if not known:  # neither a personal e-mail nor a personal number yet
            phones.append((C_MOBILE, self.mobiles[country].take(), self.style(country)))
        if emails and random() < 0.1:  # Outlook keeps the case it was typed in
            emails[0] = capitalised(emails[0])
        person.emails, person.phones = emails, phones
        person.birthday = (f"{int(random() * 12) + 1}/{int(random() * 28) + 1}/"
                           f"{1950 + int(random() * 54)}") if random() < 0.1 else ""
        person.notes = pick(pool.notes) if random() < 0.04 else ""
        return person

    # -- rows -------------------------------------------------------------------------

    def render(self, p: Person, given: str, middle: str, family: str, emails: Sequence[str],
               phones: Sequence[tuple[int, Phone, int]], company: str, drop: str,
               strip: bool) -> list[str]:
        """One Outlook row of `p` with the given variations; `drop` names a left-out field,
        `strip` drops the accents of names, company and address."""
        row = [""] * WIDTH
        row[C_GIVEN], row[C_MIDDLE], row[C_FAMILY] = given, middle, family
        if drop != "salutation":
            row[C_TITLE] = p.salutation
        for column, email in zip(C_EMAILS, emails, strict=False):
            row[column] = email
        for column, phone, style in phones:
            row[column] = phone.format(style)
        row[C_COMPANY] = company
        if drop != "job":
            row[C_JOB], row[C_DEPT] = p.job, p.department
        c = p.company
        if drop != "address":
            if c is not None and p.business_address:
                row[C_BSTREET], row[C_BCITY], row[C_BSTATE], row[C_BPOST], row[C_BCOUNTRY] = (
                    c.street, c.city, c.state, c.postcode, c.country_name)
                if strip:
                    row[C_BSTREET], row[C_BCITY] = plain(c.street), plain(c.city)
            if p.home is not None:
                row[C_HSTREET:C_HSTREET + 5] = [plain(v) for v in p.home] if strip else p.home
        if drop != "website":
            row[C_WEB] = p.website
        if drop != "birthday":
            row[C_BIRTHDAY] = p.birthday
        if drop != "notes":
            row[C_NOTES] = p.notes
        return row

    def original(self, p: Person) -> list[str]:
        company = p.company.display if p.company is not None else ""
        return self.render(p, p.given, p.middle, p.family, p.emails, p.phones, company, "",
                           False)

    def vary_email(self, email: str) -> str:
        local, _, domain = email.partition("@")
        r = self.random()
        if domain.lower() in GMAIL_DOMAINS and r < 0.6:  # Gmail ignores dots
            if "." in local:
                local = local.replace(".", "")
            else:
                cut = 1 + int(self.random() * (len(local) - 1))
                local = f"{local[:cut]}.{local[cut:]}"
            if self.random() < 0.3:
                domain = "googlemail.com" if domain.lower() == "gmail.com" else "gmail.com"
            return f"{local}@{domain}"
        r = self.random()
        if r < 0.3:
            return f"{local}+{self.pick(EMAIL_TAGS)}@{domain}"
        if r < 0.55:
            return email.upper()
        if r < 0.8:
            return capitalised(email) if email.islower() else email.lower()
        return f"{local}@{domain.upper()}"

    def vary_company(self, company: Company) -> str:
        r = self.random()
        if company.form and r < 0.4:
            return company.name
        if company.form and r < 0.7:
            return f"{company.name} {other_form(company.form)}"
        return company.display.upper()

    def drop_one(self, p: Person, emails: list[str],
                 phones: list[tuple[int, Phone, int]]) -> str:
        """Leave one field out (in place for e-mails and phones); the row stays identified."""
        options = [name for name, present in (
            ("company", p.company is not None), ("job", p.job), ("birthday", p.birthday),
            ("address", p.home is not None or p.business_address), ("website", p.website),
            ("salutation", p.salutation), ("notes", p.notes)) if present]
        if emails and identified(emails[1:], phones):
            options += ("email", "email")
        if len(emails) > 1:
            options.append("email2")
        personal = [i for i, (column, _, _) in enumerate(phones) if column in PERSONAL_PHONES]
        if personal:
            index = personal[int(self.random() * len(personal))]
            if identified(emails, phones[:index] + phones[index + 1:]):
                options += ("phone", "phone")
        if not options:
            return ""
        choice = self.pick(options)
        if choice == "email":
            del emails[0]
        elif choice == "email2":
            del emails[1]
        elif choice == "phone":
            del phones[index]
        return choice

    def duplicate(self, p: Person) -> list[str]:
        random = self.random
        given, middle, family = p.given, p.middle, p.family
        emails, phones = list(p.emails), list(p.phones)
        company = p.company.display if p.company is not None else ""
        drop, strip, changed = "", False, False
        while not changed:
            if random() < 0.35:
                r = random()
                if r < 0.5:
                    family = family.upper()
                elif r < 0.7:
                    given, middle, family = given.upper(), middle.upper(), family.upper()
                elif r < 0.9:
                    given, middle, family = given.lower(), middle.lower(), family.lower()
                else:  # "Mcdonald", "Von Berg"
                    given, middle, family = given.title(), middle.title(), family.title()
                changed = True
            if random() < 0.35 and not (given + family + company).isascii():
                strip = changed = True
            if emails and random() < 0.35:
                emails[0] = self.vary_email(emails[0])
                changed = True
            if phones and random() < 0.45:
                phones = [(column, phone, self.other_style(phone.shape.country, style))
                          for column, phone, style in phones]
                changed = True
            if random() < 0.3 and (dropped := self.drop_one(p, emails, phones)):
                drop, changed = dropped, True
                if dropped == "company":
                    company = ""
            if company and random() < 0.15 and p.company is not None:
                company = self.vary_company(p.company)
                changed = True
        if strip:
            given, middle, family, company = plain(given), plain(middle), plain(family), \
                plain(company)
        return self.render(p, given, middle, family, emails, phones, company, drop, strip)

    def write(self, writerow: Callable[[list[str]], object], rows: int,
              truth: Callable[[int], object] | None = None) -> None:
        """Write `rows` rows; `truth` gets each row's person serial (no random draw)."""
        random, reservoir, dup_rate = self.random, self.reservoir, self.dup_rate
        duplicate, new_person, original = self.duplicate, self.new_person, self.original
        persons = self.persons
        for _ in range(rows):
            if reservoir and random() < dup_rate:
                twin = reservoir[int(random() * len(reservoir))]
                writerow(duplicate(twin))
                if truth is not None:
                    truth(twin.serial)
                continue
            person = new_person(persons)
            persons += 1
            writerow(original(person))
            if truth is not None:
                truth(person.serial)
            if len(reservoir) < RESERVOIR:
                reservoir.append(person)
            else:  # Algorithm R: every earlier person is equally likely to be kept
                slot = int(random() * persons)
                if slot < RESERVOIR:
                    reservoir[slot] = person
        self.duplicates += rows - (persons - self.persons)
        self.persons = persons


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows to write (default 1000)")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--dup-rate", type=float, default=0.2,
                        help="share of rows that repeat an earlier person (default 0.2)")
    parser.add_argument("--stats", type=Path, help="also write the counts here, as JSON")
    parser.add_argument("--truth", type=Path,
                        help="also write each row's person serial here, one per line (the "
                             "ground truth for accuracy checks; the CSV is unchanged)")
    parser.add_argument("--check-phones", type=int, default=0, metavar="N",
                        help="first parse N sample numbers with phonenumbers; exit 1 if any "
                             "is invalid")
    args = parser.parse_args(argv)
    if args.rows < 0 or not 0.0 <= args.dup_rate < 1.0:
        parser.error("--rows must be >= 0 and --dup-rate in [0, 1)")
    if args.check_phones:
        failures = check_phones(args.check_phones, args.seed)
        print(f"phones: {args.check_phones - failures}/{args.check_phones} valid",
              file=sys.stderr)
        if failures:
            return 1

    started = time.perf_counter()
    generator = Generator(args.seed, args.dup_rate)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".part")
    # UTF-8 with BOM and CRLF, like the export Outlook writes (config/samples/outlook.csv).
    with partial.open("w", encoding="utf-8-sig", newline="", buffering=1 << 20) as file:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(HEADER)
        if args.truth:
            with args.truth.open("w", encoding="ascii") as truth:
                generator.write(writer.writerow, args.rows,
                                lambda serial: truth.write(f"{serial}\n"))
        else:
            generator.write(writer.writerow, args.rows)
    os.replace(partial, args.out)
    seconds = time.perf_counter() - started
    size = args.out.stat().st_size
    stats = {"rows": args.rows, "persons": generator.persons,
             "duplicates": generator.duplicates, "seed": args.seed, "dup_rate": args.dup_rate,
             "generator_version": GENERATOR_VERSION, "bytes": size,
             "seconds": round(seconds, 3)}
    if args.stats:
        args.stats.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    print(f"{args.out}: {args.rows:,} rows, {generator.persons:,} distinct persons, "
          f"{generator.duplicates:,} duplicates; {size / 1e6:.1f} MB in {seconds:.2f} s "
          f"({args.rows / max(seconds, 1e-9):,.0f} rows/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
