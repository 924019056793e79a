"""The crash-safety tests' shared means: a seeded CSV of people with duplicates, merges
and unidentifiable rows (``write_input``), its config, ``crmhub`` run as a subprocess, and
the comparisons of two databases (exports without ids and clock times, table census).
Used by tests/test_crash_safety.py, tests/test_db_outage.py, tests/test_concurrent_writers.py
and tests/test_http_faults.py.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from hub.export import without_ids
from hub.store.model import (
    Company,
    Contact,
    ContactPoint,
    MatchKey,
    MergeEvent,
    OutboxEvent,
    QuarantineItem,
    SharedPoint,
    SourceRecord,
    SyncState,
)

BATCH_SIZE = 500
CONNECTOR = "bulk"
RUN_TIMEOUT = 300  # seconds for one CLI call before the test gives up

# -- the seeded input -------------------------------------------------------------------

GIVEN = ["Jean", "Marie", "Pierre", "Sophie", "Luc", "Camille", "Hélène", "François",
         "Nathalie", "Julien", "Chloé", "Thomas", "Élodie", "Nicolas", "Céline", "Antoine",
         "Isabelle", "Mathieu", "Aurélie", "Sébastien", "Léa", "Hugo", "Inès", "Noël"]
FAMILY = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
          "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Fontaine",
          "Rousseau", "Vincent", "Müller", "Faure", "André", "Mercier", "Blanc", "Guérin"]
CITIES = ["Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Lille", "Bordeaux", "Rennes"]
FREEMAIL = ["gmail.com", "orange.fr", "free.fr", "laposte.net", "yahoo.fr"]
HEADER = ["ref", "prenom", "nom", "email", "mobile", "societe", "ville"]
MAPPING = {"ref": "external_id", "prenom": "person.given_name", "nom": "person.family_name",
           "email": "person.emails", "mobile": "person.phones.mobile",
           "societe": "person.company.name", "ville": "person.address.city"}


@dataclass
class Person:
    given: str
    family: str
    email: str
    mobile: str  # 9 national digits after the 0: "6xxxxxxxx"
    company: str
    city: str
    phone_only: bool = False  # a row with only its phone came before any with both
    both: bool = True  # a row with its e-mail and its phone was written


@dataclass
class Generated:
    rows: int = 0
    good: int = 0
    bad: int = 0
    people: int = 0
    contacts: int = 0  # people, plus the split ones never bridged (two contacts each)


def _ascii(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return folded.lower().replace(" ", "")


def _phone(national: str, style: int) -> str:
    """One French mobile in one of the notations people type."""
    digits = "0" + national
    pairs = " ".join(digits[i:i + 2] for i in range(0, 10, 2))
    return [pairs, "+33" + national, pairs.replace(" ", "."), digits,
            f"+33 {national[0]} {pairs[3:]}"][style]


def write_input(path: Path, rows: int, seed: int) -> Generated:
    """A deterministic CSV of ``rows`` data rows; returns what a perfect import holds."""
    rng = random.Random(seed)
    trades = ["Conseil", "Industrie", "Logistique", "Services", "Bâtiment"]
    companies = [(f"{rng.choice(FAMILY)} {rng.choice(trades)} {n}", f"societe{n}.fr")
                 for n in range(300)]
    mobiles = iter(rng.sample(range(10_000_000, 39_000_000), rows))  # 069x: overseas
    people: list[Person] = []
    split: list[Person] = []  # seen as two halves, not yet bridged
    out = Generated()

    def new_person() -> Person:
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        company, domain = rng.choice(companies)
        n = len(people)
        if rng.random() < 0.3:
            domain, company = rng.choice(FREEMAIL), ""
        email = f"{_ascii(given)}.{_ascii(family)}.{n}@{domain}"
        person = Person(given, family, email, f"6{next(mobiles)}", company, rng.choice(CITIES))
        people.append(person)
        return person

    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        for n in range(rows):
            ref = f"R{n:06d}"
            roll = rng.random()
            if roll < 0.004:  # identifies nobody: quarantined
                writer.writerow([ref, "", "", "", "", rng.choice(companies)[0],
                                 rng.choice(CITIES)])
                out.bad += 1
                continue
            out.good += 1
            if roll < 0.20 and people:  # an earlier person again, written differently
                p = rng.choice(people)
                if rng.random() < 0.5:
                    email = rng.choice([p.email.upper(), p.email.capitalize(),
                                        p.email.title()])
                    phone = _phone(p.mobile, rng.randrange(5)) if rng.random() < 0.5 else ""
                else:
                    email, phone = "", _phone(p.mobile, rng.randrange(5))
                p.both = p.both or bool(email and phone)
                p.phone_only = p.phone_only or (not email and not p.both)
                writer.writerow([ref, p.given, p.family, email, phone, p.company, p.city])
            elif roll < 0.23:  # a new person seen in halves: first the e-mail only
                p = new_person()
                p.both = False
                split.append(p)
                writer.writerow([ref, p.given, p.family, p.email, "", p.company, p.city])
            elif roll < 0.26 and split:  # the other half, then later the bridge
                p = split[-1]
                p.phone_only = p.phone_only or not p.both
                writer.writerow([ref, p.given, p.family, "", _phone(p.mobile, 0), p.company,
                                 p.city])
            elif roll < 0.28 and split:  # bridges the two halves: one merge
                p = split.pop(rng.randrange(len(split)))
                p.both = True
                writer.writerow([ref, p.given, p.family, p.email, _phone(p.mobile, 1),
                                 p.company, p.city])
            else:
                p = new_person()
                writer.writerow([ref, p.given, p.family, p.email,
                                 _phone(p.mobile, rng.randrange(5)), p.company, p.city])
    out.rows, out.people = rows, len(people)
    out.contacts = sum(2 if p.phone_only and not p.both else 1 for p in people)
    return out


# -- running crmhub -----------------------------------------------------------------------


def write_config(directory: Path, db_url: str, data: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    mapping = "\n".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in MAPPING.items())
    config = directory / "crmhub.toml"
    config.write_text(f"""\
[hub]
database_url = {json.dumps(db_url)}
default_region = "FR"
batch_size = {BATCH_SIZE}
log_level = "WARNING"
log_format = "json"

[[connectors]]
name = "{CONNECTOR}"
kind = "csv"

[connectors.settings]
paths = [{json.dumps(str(data))}]
mode = "snapshot"
batch_size = {BATCH_SIZE}

[connectors.settings.mapping]
{mapping}
""", encoding="utf-8")
    return config


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("CRMHUB_") or k == "CRMHUB_TEST_PG"}


def crmhub(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One CLI call to completion; fails the test on a non-zero exit."""
    done = subprocess.run([sys.executable, "-m", "hub.cli", *args, "--config", str(config)],
                          capture_output=True, text=True, env=_env(), timeout=RUN_TIMEOUT)
    assert done.returncode == 0, (f"crmhub {' '.join(args)} exited {done.returncode}\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def start_sync(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``crmhub sync`` in a session of its own, so that its producer dies with it."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "sync", CONNECTOR, "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the sync and its forked producer; reap the sync and wait for the group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the producer is reaped by init; zombies are inert
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)


def export(config: Path, out: Path) -> list[dict[str, Any]]:
    crmhub(config, "export", "contacts", "--format", "jsonl", "--output", str(out))
    with out.open(encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def comparable(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(without_ids(row), sort_keys=True, ensure_ascii=False)
                  for row in rows)


# -- reading the database directly ------------------------------------------------------


@contextlib.contextmanager
def connect(db_url: str) -> Iterator[Any]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def count(connection: Any, model: Any, *where: Any) -> int:
    return int(connection.scalar(select(func.count()).select_from(model).where(*where)))


def census(db_url: str, connector: str = CONNECTOR) -> dict[str, Any]:
    """Row counts of everything a replayed batch could double."""
    with connect(db_url) as c:
        return {
            "contacts": count(c, Contact),
            "live_contacts": count(c, Contact, Contact.merged_into_id.is_(None),
                                   Contact.deleted_at.is_(None)),
            "contact_points": count(c, ContactPoint),
            "match_keys": count(c, MatchKey),
            "shared_points": count(c, SharedPoint),
            "merge_events": count(c, MergeEvent),
            "companies": count(c, Company),
            "source_records": count(c, SourceRecord),
            "live_source_records": count(c, SourceRecord, SourceRecord.deleted_at.is_(None)),
            "quarantine_open": count(c, QuarantineItem, QuarantineItem.status == "open"),
            "quarantine_all": count(c, QuarantineItem),
            "outbox": dict(sorted(Counter(dict(c.execute(
                select(OutboxEvent.type, func.count()).group_by(OutboxEvent.type)).all()))
                .items())),
            "records_counter": c.scalar(select(SyncState.records)
                                        .where(SyncState.connector == connector)),
        }


def progress(db_url: str, data: Path) -> tuple[int, int | None, bool]:
    """(source records, rows in the cursor, file done) as a killed run left them."""
    with connect(db_url) as c:
        records = count(c, SourceRecord)
        cursor = c.scalar(select(SyncState.cursor).where(SyncState.connector == CONNECTOR))
    if isinstance(cursor, str):
        cursor = json.loads(cursor)
    state = ((cursor or {}).get("files") or {}).get(str(data))
    if state is None:
        return records, None, False
    return records, int(state["rows"]), bool(state["done"])


def duplicate_points(db_url: str) -> list[tuple[str, str, int]]:
    """Normalised e-mails and phones held by more than one live contact."""
    with connect(db_url) as c:
        return [tuple(r) for r in c.execute(
            select(ContactPoint.kind, ContactPoint.value,
                   func.count(func.distinct(ContactPoint.contact_id)))
            .join(Contact, Contact.id == ContactPoint.contact_id)
            .where(Contact.merged_into_id.is_(None), Contact.deleted_at.is_(None))
            .group_by(ContactPoint.kind, ContactPoint.value)
            .having(func.count(func.distinct(ContactPoint.contact_id)) > 1)).all()]


# -- the test ---------------------------------------------------------------------------
