"""Data-protection requests: a forgotten person stays forgotten across re-syncs, a colleague
sharing their switchboard does not go with them, and the right of access finds a person
held as several contacts."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select, text

from hub.cli.main import main
from hub.logs import configure_logging
from hub.service.runtime import Hub
from hub.service.sync import run_sync
from hub.store.model import (
    Contact,
    Erasure,
    Interaction,
    OutboxEvent,
    SourceRecord,
    Suppression,
)

SALT = "a-test-salt-of-some-length-0123456789"



def csv_text(*rows: tuple[str, ...]) -> str:
    return "".join(",".join(row) + "\n" for row in rows)


GOOGLE = csv_text(
    ("First Name", "Last Name", "E-mail 1 - Label", "E-mail 1 - Value", "Phone 1 - Label",
     "Phone 1 - Value", "Organization Name", "Labels"),
    ("Héloïse", "Vasseur", "* Home", "heloise.vasseur@gmail.com", "Mobile",
     "+33 6 12 34 56 78", "Acme Industrie", "* myContacts"),
    ("Marc", "Tessier", "Work", "marc.tessier@acme-industrie.fr", "Mobile",
     "+33 6 98 76 54 32", "Acme Industrie", "* myContacts"))
OUTLOOK = """First Name,Last Name,E-mail Address,Mobile Phone,Business Phone,Company
Héloïse,Vasseur,h.vasseur@acme-industrie.fr,06 12 34 56 78,01 44 55 66 77,Acme Industrie
Marc,Tessier,marc.tessier@acme-industrie.fr,06 98 76 54 32,01 44 55 66 77,Acme Industrie
"""
LINKEDIN = csv_text(
    ("First Name", "Last Name", "URL", "Email Address", "Company", "Position", "Connected On"),
    ("Héloïse", "Vasseur", "https://www.linkedin.com/in/heloise-vasseur-4242",
     "heloise.vasseur@gmail.com", "Acme Industrie", "Buyer", "12 Mar 2021"))
CALLS = csv_text(
    ("id", "date", "type", "direction", "duration", "subject", "phone", "email"),
    ("c1", "2026-11-02 10:00", "call", "inbound", "120", "Call", "+33 6 12 34 56 78", ""),
    ("c2", "2026-11-03 11:00", "meeting", "outbound", "1800",
     "Meeting with Héloïse Vasseur and Marc", "+33 6 12 34 56 78;+33 6 98 76 54 32", ""),
    ("c3", "2026-11-04 09:00", "email", "inbound", "", "Quote", "",
     "marc.tessier@acme-industrie.fr"))
HELOISE = ("heloise", "vasseur", "hlose", "12 34 56 78", "612345678", "0612345678",
           "linkedin.com/in/heloise")


def write_config(root: Path, db_url: str, salt: bool = True) -> Path:
    for name, body in (("google", GOOGLE), ("outlook", OUTLOOK), ("linkedin", LINKEDIN),
                       ("calls", CALLS)):
        (root / f"{name}.csv").write_text(body, encoding="utf-8")
    lines = ["[hub]", f"database_url = {json.dumps(db_url)}", 'default_region = "FR"',
             'own_domains = ["ourcompany.fr"]', ""]
    if salt:
        lines += ["[privacy]", 'suppression_salt = { env = "TEST_SUPPRESSION_SALT" }', ""]
    for name, kind in (("google", "csv"), ("outlook", "csv"), ("linkedin", "csv"),
                       ("calls", "activities")):
        lines += ["[[connectors]]", f'name = "{name}"', f'kind = "{kind}"',
                  "[connectors.settings]", f'paths = ["{root / (name + ".csv")}"]', ""]
    config = root / "crmhub.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


class Store:
    def __init__(self, root: Path, db_url: str, salt: bool = True) -> None:
        self.config = write_config(root, db_url, salt)
        self.url = db_url
        self.env = {"TEST_SUPPRESSION_SALT": SALT}
        self.cli("db", "upgrade")  # SQLite would upgrade by itself; PostgreSQL does not

    def sync_all(self) -> dict[str, dict[str, Any]]:
        hub = Hub.open(self.config, create=True)
        try:
            return {name: run_sync(hub, name, full=True).as_dict()
                    for name in ("google", "outlook", "linkedin", "calls")}
        finally:
            hub.close()

    def cli(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, [*args, "--config", str(self.config)], env=self.env)
        assert result.exit_code == code, (result.output, result.exception)
        return result

    def dump(self) -> str:
        """Every row of every table as text, lower-cased: where a value could hide."""
        engine = create_engine(self.url.replace("postgresql://", "postgresql+psycopg://"))
        out = []
        with engine.connect() as conn:
            names = [t for t in conn.dialect.get_table_names(conn) if t != "alembic_version"]
            for name in names:
                for row in conn.execute(text(f'SELECT * FROM "{name}"')):
                    out.append(f"{name}: {tuple(row)}")
        engine.dispose()
        return "\n".join(out).lower()


@pytest.fixture
def store(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("TEST_SUPPRESSION_SALT", SALT)
    return Store(tmp_path, db_url)


def test_a_forgotten_person_seen_in_three_sources_stays_forgotten_after_full_resyncs(
        store: Store) -> None:
    store.sync_all()
    before = store.dump()
    assert "heloise.vasseur@gmail.com" in before and "+33612345678" in before
    hub = Hub.open(store.config)
    with hub.pipeline.sessions() as session:
        assert session.scalar(select(func.count(Interaction.id))) == 3
    hub.close()

    dry = json.loads(store.cli("person", "forget", "--email", "heloise.vasseur@gmail.com",
                               "--dry-run", "--json").stdout)
    assert dry["dry_run"] is True and dry["source_records"] == 3
    assert store.dump() == before  # a dry run changes nothing

    done = json.loads(store.cli("person", "forget", "--email", "heloise.vasseur@gmail.com",
                                "--reason", "ticket 4411", "--json").stdout)
    assert done["source_records"] == 3
    assert done["interactions"] == 1  # the call with her alone
    assert done["interaction_seats"] == 1  # the meeting with Marc stays, without her
    assert done["suppressed_identifiers"] >= 3  # two e-mails, her mobile, her profile

    log = io.StringIO()
    configure_logging("DEBUG", json=True, stream=log)
    reports = store.sync_all()  # a full re-read of every source
    assert reports["google"]["skipped"] == {"suppressed (identifiers of forgotten people)": 1}
    assert reports["outlook"]["skipped"]["suppressed (identifiers of forgotten people)"] == 1
    assert reports["linkedin"]["skipped"]["suppressed (identifiers of forgotten people)"] == 1

    after = store.dump()
    for needle in HELOISE:
        assert needle not in after, needle
    assert "marc.tessier@acme-industrie.fr" in after  # her colleague is untouched
    export = store.cli("export", "contacts", "--format", "jsonl").stdout.lower()
    assert "tessier" in export and not any(n in export for n in HELOISE)
    assert not any(n in log.getvalue().lower() for n in HELOISE)
    status = store.cli("status").stdout
    assert "suppressed (identifiers of forgotten people)" in status

    hub = Hub.open(store.config)
    with hub.pipeline.sessions() as session:
        # The meeting is back from the re-read, with Marc only; her call is not.
        meetings = session.scalars(select(Interaction)).all()
        assert sorted(i.external_id for i in meetings) == ["c2", "c3"]
        [meeting] = [i for i in meetings if i.external_id == "c2"]
        assert meeting.subject == "Meeting with [erased] and Marc"
        erasure = session.scalars(select(Erasure)).one()
        assert erasure.reason == "ticket 4411" and erasure.contacts == 1
        erased = session.scalars(select(OutboxEvent)
                                 .where(OutboxEvent.type == "contact.erased")).one()
        assert erased.payload["erasure_id"] == erasure.id
    hub.close()


def test_a_colleague_sharing_the_switchboard_is_not_suppressed_with_her(store: Store) -> None:
    store.sync_all()
    store.cli("person", "forget", "--phone", "06 12 34 56 78")
    hub = Hub.open(store.config)
    with hub.pipeline.sessions() as session:
        kinds = sorted(session.scalars(select(Suppression.kind)))
        assert "phone" in kinds  # her mobile
    hub.close()
    reports = store.sync_all()
    assert reports["outlook"]["skipped"] == {"suppressed (identifiers of forgotten people)": 1}
    hub = Hub.open(store.config)
    with hub.pipeline.sessions() as session:
        [marc] = session.scalars(select(Contact).where(Contact.merged_into_id.is_(None))).all()
        assert marc.family_name == "Tessier"
    hub.close()
    dump = store.dump()
    assert "+33144556677" in dump  # the switchboard stays, on Marc's records


def test_forgetting_needs_the_salt_and_names_the_key_to_set(tmp_path: Path,
                                                            db_url: str) -> None:
    store = Store(tmp_path, db_url, salt=False)
    store.sync_all()
    out = store.cli("person", "forget", "--email", "heloise.vasseur@gmail.com", code=2)
    assert "suppression_salt" in out.output
    assert "heloise" in store.dump()  # nothing went


def test_syncs_refuse_to_run_without_the_salt_once_people_were_forgotten(
        store: Store, tmp_path: Path) -> None:
    store.sync_all()
    store.cli("person", "forget", "--email", "heloise.vasseur@gmail.com")
    unsalted = Store(tmp_path, store.url, salt=False)
    hub = Hub.open(unsalted.config)
    try:
        report = run_sync(hub, "google", full=True)
    finally:
        hub.close()
    assert not report.ok and "suppression_salt" in (report.error or "")
    assert "heloise" not in store.dump()


def test_the_access_document_holds_everything_and_says_when_she_is_two_contacts(
        store: Store, tmp_path: Path) -> None:
    store.sync_all()
    out = tmp_path / "access.json"
    store.cli("person", "export", "--email", "heloise.vasseur@gmail.com", "--out", str(out))
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["held_as"] == 1
    [held] = document["contacts"]
    assert held["golden"]["family_name"] == "Vasseur"
    assert sorted(r["connector"] for r in held["source_records"]) == [
        "google", "linkedin", "outlook"]
    assert all(r["raw"] for r in held["source_records"])  # the payloads as read
    assert sorted(i["external_id"] for i in held["interactions"]) == ["c1", "c2"]
    assert held["consent"] and all(p["status"] is None for p in held["consent"])
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    # Split her in two (the LinkedIn record alone): the document finds both contacts.
    hub = Hub.open(store.config)
    with hub.pipeline.sessions() as session:
        record = session.scalar(select(SourceRecord.id)
                                .where(SourceRecord.connector == "linkedin"))
    hub.close()
    store.cli("split", str(record))
    store.cli("person", "export", "--phone", "+33612345678", "--out", str(out))
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["held_as"] == 2 and "2 separate contacts" in document["note"]
    assert sorted(len(c["source_records"]) for c in document["contacts"]) == [1, 2]
    assert sorted(c["found_by"] for c in document["contacts"]) == [
        "holds the phone number", "shares the e-mail address"]
