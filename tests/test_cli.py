"""End to end through the CLI, on the shipped example config and samples (both engines)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session

from hub.cli.main import main
from hub.export import without_ids
from hub.ingest.quarantine import quarantine
from hub.records import Observation
from hub.store.db import make_engine

CONFIG = Path(__file__).parent.parent / "config"
CONNECTORS = ["google-contacts", "outlook-exports", "linkedin", "clients-fr", "vcards",
              "crm-activities"]
DISABLED = ["gmail", "outlook"]  # the example's mailboxes wait for their credentials
EXPORT_KEYS = ["id", "given_name", "family_name", "full_name", "title", "birthday", "emails",
               "phones", "handles", "company", "address", "stage", "score", "owner", "tags",
               "identifiers", "custom", "sources", "interactions", "merged_from", "opt_out"]


class Hub:
    """The example config copied to a temporary directory, driven through the CLI."""

    def __init__(self, root: Path, db_url: str):
        shutil.copytree(CONFIG, root / "config")
        self.config = root / "config" / "crmhub.toml"
        self.env = {"CRMHUB_DATABASE_URL": db_url}
        self.invoke("db", "upgrade")

    def invoke(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, [*args, "--config", str(self.config)], env=self.env)
        assert result.exit_code == code, (result.output, result.exception)
        return result

    def sync_all(self, *flags: str) -> list[dict[str, Any]]:
        return [json.loads(self.invoke("sync", name, "--json", *flags).stdout)
                for name in CONNECTORS]

    def export(self) -> list[dict[str, Any]]:
        out = self.invoke("export", "contacts", "--format", "jsonl").stdout
        return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def hub(tmp_path: Path, db_url: str) -> Hub:
    return Hub(tmp_path, db_url)


def by_name(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["full_name"] == name]


def test_sample_exports_resolve_the_same_people_across_files(hub: Hub) -> None:
    hub.sync_all()
    rows = hub.export()
    connectors = {n: sorted(s["connector"] for s in r["sources"])
                  for n in ("Alice Martin", "Bruno Lefèvre", "Theo Grant")
                  for r in by_name(rows, n)}
    assert connectors == {"Alice Martin": ["google-contacts", "outlook-exports"],
                          "Bruno Lefèvre": ["clients-fr", "outlook-exports"],
                          "Theo Grant": ["linkedin", "vcards"]}
    dupont = by_name(rows, "Jean Dupont")
    assert sorted(r["company"]["name"] for r in dupont) == [
        "Acme Industrie SAS", "Boulangerie Durand SARL"]
    [claire], [paul] = by_name(rows, "Claire Moreau"), by_name(rows, "Paul Moreau")
    assert claire["id"] != paul["id"]
    assert claire["company"]["id"] == paul["company"]["id"]
    assert by_name(rows, "Marc Lambert") == []  # works at acme.fr: one of us


def test_export_objects_have_exactly_the_contract_keys(hub: Hub) -> None:
    hub.sync_all()
    rows = hub.export()
    assert rows and all(list(r) == EXPORT_KEYS for r in rows)
    [bruno] = by_name(hub.export(), "Bruno Lefèvre")
    assert {"value": "+33145678910", "label": "work", "primary": True} in bruno["phones"]
    assert bruno["identifiers"] == {"customer_number": "C-1001"}


def test_syncing_the_same_files_again_changes_nothing(hub: Hub) -> None:
    hub.sync_all()
    before = [without_ids(r) for r in hub.export()]
    again = hub.sync_all()
    forced = hub.sync_all("--full")
    assert sum(r["created"] + r["updated"] + r["deleted"] for r in again + forced) == 0
    assert sum(r["unchanged"] + r["skipped_own"] for r in forced) == \
        sum(r["received"] for r in forced) > 40
    assert [without_ids(r) for r in hub.export()] == before


def test_dry_run_reports_changes_and_writes_nothing(hub: Hub) -> None:
    report = json.loads(hub.invoke("sync", "google-contacts", "--dry-run", "--json").stdout)
    assert report["dry_run"] and report["created"] > 10
    assert hub.export() == []
    status = json.loads(hub.invoke("status", "--json").stdout)
    assert {c["name"]: c["state"] for c in status["connectors"]} == {
        **{name: "never run" for name in CONNECTORS}, **{name: "disabled" for name in DISABLED}}


def test_allow_deletes_applies_a_mass_delete_that_a_plain_sync_holds(hub: Hub) -> None:
    import csv

    first = json.loads(hub.invoke("sync", "google-contacts", "--json").stdout)
    export = hub.config.parent / "samples" / "google.csv"
    with export.open(newline="", encoding="utf-8") as f:
        header, kept = list(csv.reader(f))[:2]
    with export.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, kept])  # 10 of its 11 people gone
    held = json.loads(hub.invoke("sync", "google-contacts", "--json", code=1).stdout)
    assert held["deleted"] == 0 and held["held"].startswith("10 of 11 records")
    assert len(hub.export()) == first["contacts_created"]
    applied = json.loads(hub.invoke("sync", "google-contacts", "--allow-deletes",
                                    "--json").stdout)
    assert applied["deleted"] == 10 and applied["held"] is None
    assert len(hub.export()) == first["contacts_created"] - 10


def test_status_json_reports_each_connector(hub: Hub) -> None:
    hub.sync_all()
    status = json.loads(hub.invoke("status", "--json").stdout)
    assert [c["name"] for c in status["connectors"]] == CONNECTORS + DISABLED
    first = status["connectors"][0]
    assert {"name", "kind", "last_success", "last_error", "records", "lag_s", "state"} <= set(first)
    assert first["state"] == "ok" and first["records"] > 10 and first["lag_s"] >= 0
    assert status["contacts"] == len(hub.export())


def test_explain_shows_where_each_value_came_from(hub: Hub) -> None:
    hub.sync_all()
    [alice] = by_name(hub.export(), "Alice Martin")
    assert {s["connector"] for s in alice["sources"]} == {"google-contacts", "outlook-exports"}
    out = hub.invoke("contacts", "explain", str(alice["id"])).stdout
    # The two sample files tie on their date (one checkout): the more complete Google row
    # wins every field, whichever file was synced last.
    assert "title                        google-contacts:" in out
    assert "(most recent (a tie, to the most complete record))" in out
    # who owns the contact and why, as `assign explain` says it
    assert f"  owner {alice['owner']}: rule " in out
    # the record that joined her: its score, what found it, how each field compared
    assert "  joined: " in out and "found by email" in out and "email exact" in out
    hub.invoke("contacts", "set", str(alice["id"]), "title=Art Director", "stage=customer")
    [alice] = by_name(hub.export(), "Alice Martin")
    assert alice["title"] == "Art Director" and alice["stage"] == "customer"
    data = json.loads(hub.invoke("contacts", "explain", str(alice["id"]), "--json").stdout)
    assert data["provenance"]["title"]["connector"] == "manual"
    assert data["assignment"]["owner"] == data["owner"] == alice["owner"]
    assert data["assignment"]["rule"] and data["assignment"]["strategy"]
    [join] = data["joins"]
    assert join["probability"] > 0.9 and join["levels"]["email"] == "exact"
    assert "email" in join["found_by"]


def test_search_folds_case_and_accents_and_reads_a_phone_in_any_notation(hub: Hub) -> None:
    hub.sync_all()

    def found(text: str) -> list[str]:
        rows = json.loads(hub.invoke("contacts", "list", "--search", text, "--json").stdout)
        return [r["full_name"] for r in rows]

    for text in ("lefèvre", "LEFEVRE", "Bruno Lefevre", "01 45 67 89 10", "+33145678910",
                 "0033 1 45 67 89 10", "67 89 10", "LEFEVRE-CONSEIL.FR"):
        assert found(text) == ["Bruno Lefèvre"], text
    assert found("01 45 67 89 11") == []


def test_best_email_is_the_primary_then_a_work_address_then_not_free_mail() -> None:
    from hub.cli.contacts import best_email
    private = {"value": "zoe@gmail.com", "label": None, "primary": False}
    work = {"value": "zoe@atelier.fr", "label": None, "primary": False}
    labelled = {"value": "z@free.fr", "label": "Work", "primary": False}
    assert best_email([private, work]) == "zoe@atelier.fr"
    assert best_email([private, labelled, work]) == "z@free.fr"
    assert best_email([work, {**private, "primary": True}]) == "zoe@gmail.com"
    assert best_email([]) is None


def test_unknown_connector_and_bad_assignment_are_usage_errors(hub: Hub) -> None:
    assert "no connector named 'nope'" in hub.invoke("sync", "nope", code=2).output
    assert "is not FIELD=VALUE" in hub.invoke("contacts", "set", "1", "title", code=2).output


def write_bad_inputs(folder: Path) -> None:
    folder.mkdir()
    good = "First Name,Last Name,E-mail Address,Mobile Phone\n"
    (folder / "truncated.csv").write_text(
        good + 'Ann,Lee,ann@lee.io,0612345678\nBob,"Unclosed,bob@x.io,06\n', encoding="utf-8")
    (folder / "garbage.csv").write_bytes(bytes(range(256)) * 40)
    (folder / "latin1.csv").write_bytes(
        (good + "Zoé,Lefèvre,zoe@lefevre.fr,0611111111\n").encode("cp1252"))
    (folder / "huge.csv").write_text(
        good + "Big,Field," + "x" * 10_000_000 + ",0600000000\nSam,Ok,sam@ok.io,0622222222\n",
        encoding="utf-8")
    (folder / "wide.csv").write_text(
        good + "Tom,Wide,tom@w.io,0633333333,extra,cells\nUma,Fine,uma@f.io,0644444444\n",
        encoding="utf-8")


def test_bad_files_are_quarantined_with_reasons_and_good_rows_stored(tmp_path: Path,
                                                                    db_url: str) -> None:
    hub = Hub(tmp_path, db_url)
    write_bad_inputs(tmp_path / "bad")
    (hub.config.parent / "conf.d" / "60-bad.toml").write_text(
        '[[connectors]]\nname = "bad"\nkind = "csv"\n[connectors.settings]\n'
        f'paths = ["{tmp_path / "bad"}/*.csv"]\n', encoding="utf-8")
    report = json.loads(hub.invoke("sync", "bad", "--json").stdout)
    assert report["ok"] and report["quarantined"] >= 4
    names = {r["full_name"] for r in hub.export()}
    assert {"Ann Lee", "Zoé Lefèvre", "Sam Ok", "Uma Fine"} <= names
    assert not names & {"Big Field", "Tom Wide"}
    items = json.loads(hub.invoke("quarantine", "list", "--json").stdout)
    reasons = " | ".join(i["reason"] for i in items)
    for location in ("truncated.csv", "garbage.csv", "huge.csv", "wide.csv"):
        assert any(location in (i["location"] or "") for i in items), (location, reasons)
    shown = json.loads(hub.invoke("quarantine", "show", str(items[0]["id"]), "--json").stdout)
    assert shown["reason"] and "payload" in shown


def crm_with_two_quarantined_rows(hub: Hub, tmp_path: Path) -> Callable[[], None]:
    """A mapped file whose two rows are quarantined; returns the fix of its mapping."""
    data = tmp_path / "crm.csv"
    data.write_text("ref;surname;mail\n1;Durand;\n2;Petit;\n", encoding="utf-8")
    conf = hub.config.parent / "conf.d" / "60-crm.toml"
    mapping = '[[connectors]]\nname = "crm"\nkind = "csv"\n[connectors.settings]\n' \
        f'paths = ["{data}"]\nid_column = "ref"\n[connectors.settings.mapping]\n' \
        '"surname" = "person.custom.{}"\n"mail" = "person.emails"\n'
    conf.write_text(mapping.format("surname"), encoding="utf-8")
    hub.invoke("sync", "crm", code=3)  # every row quarantined: done, with a warning
    assert len(json.loads(hub.invoke("quarantine", "list", "--json").stdout)) == 2
    return lambda: conf.write_text(mapping.replace("person.custom.{}", "person.family_name"),
                                   encoding="utf-8")


def test_quarantine_retry_applies_a_fixed_mapping(hub: Hub, tmp_path: Path) -> None:
    crm_with_two_quarantined_rows(hub, tmp_path)()
    result = json.loads(hub.invoke("quarantine", "retry", "--json").stdout)
    assert result["retried"] == 2 and result["still_open"] == 0 and result["stored"] == 2
    assert {"Durand", "Petit"} <= {r["family_name"] for r in hub.export()}
    assert "2 item(s) purged" in hub.invoke("quarantine", "purge").stdout


def test_quarantine_retry_says_how_many_records_it_stored(hub: Hub, tmp_path: Path) -> None:
    crm_with_two_quarantined_rows(hub, tmp_path)()
    out = hub.invoke("quarantine", "retry").stdout
    assert "2 item(s) retried (re-read crm): 2 record(s) stored, 0 still rejected" in out


def test_run_ingests_then_exits_zero_on_sigterm(tmp_path: Path) -> None:
    hub = Hub(tmp_path, f"sqlite:///{tmp_path / 'run.db'}")
    env = {**os.environ, **hub.env, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "run", "--config",
                                 str(hub.config)], env=env, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = json.loads(hub.invoke("status", "--json").stdout)
            if all(c["state"] == "ok" for c in status["connectors"]
                   if c["name"] not in DISABLED):
                break
            time.sleep(0.3)
        else:
            pytest.fail("the daemon did not sync every connector within 60 s")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
    assert len(hub.export()) > 40
    log_lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any(line["msg"] == "crmhub stopped" for line in log_lines)
    assert not any("alice.martin@gmail.com" in json.dumps(line) for line in log_lines)


def test_read_commands_never_create_a_database(tmp_path: Path) -> None:
    config = tmp_path / "crmhub.toml"
    config.write_text(f'[hub]\ndatabase_url = "sqlite:///{tmp_path}/not/here/hub.db"\n')
    result = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 1
    assert "no database at" in result.output and "crmhub db upgrade" in result.output
    assert not (tmp_path / "not").exists()


def test_an_unreachable_database_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "crmhub.toml"
    config.write_text('[hub]\ndatabase_url = "postgresql+psycopg://nobody@127.0.0.1:1/none"\n')
    result = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot use the database: OperationalError")
    assert "Traceback" not in result.output


# -- quarantine output masks personal data unless --reveal ----------------------------------

MASKED_REASON = "invalid phone '+33 6 12 34 56 78' for ada.lovelace@example.com"
MASKED_PAYLOAD = "Ada,Lovelace,ada.lovelace@example.com,612345678"
ZOE = Observation.model_validate({
    "kind": "person", "external_id": "c-7", "observed_at": "2026-01-01T00:00:00Z",
    "raw": {"Nom": "MERCIER", "Note": "rappeler Zoé au 33612345678", "Client": "C-1001"},
    "person": {"given_name": "Zoé", "family_name": "Mercier", "full_name": "Zoé Mercier",
               "birthday": "1985-04-12",
               "emails": [{"value": "zoe@mercier-traiteur.fr", "label": "work"}],
               "phones": [{"value": "612345678"}, {"value": "12"}],
               "handles": {"linkedin": "zoe-mercier"},
               "address": {"street": "12 rue des Lilas", "city": "Lyon"},
               "company": {"name": "Acme Traiteur"}}}).model_dump(mode="json")


def quarantined_hub(tmp_path: Path) -> Hub:
    """A hub whose quarantine holds a rejected CSV row and a rejected observation."""
    hub = Hub(tmp_path, f"sqlite:///{tmp_path / 'quarantine.db'}")
    engine = make_engine(hub.env["CRMHUB_DATABASE_URL"])
    now = datetime(2026, 1, 2, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        quarantine(session, "clients-fr", MASKED_REASON, MASKED_PAYLOAD,
                   "ada.lovelace@example.com", "crm.csv:2", None, now)
        quarantine(session, "clients-fr", "Zoé Mercier: nothing identifies her", None, "c-7",
                   None, ZOE, now)
    engine.dispose()
    return hub


def test_quarantine_list_json_masks_emails_phones_and_names_in_reasons_and_ids(
        tmp_path: Path) -> None:
    hub = quarantined_hub(tmp_path)

    items = json.loads(hub.invoke("quarantine", "list", "--json").stdout)

    created = "2026-01-02T00:00:00+00:00"
    assert items == [
        {"id": 1, "connector": "clients-fr", "external_id": "a***@example.com",
         "location": "crm.csv:2", "reason": "invalid phone '+336******78' for a***@example.com",
         "status": "open", "created_at": created},
        {"id": 2, "connector": "clients-fr", "external_id": "c-7", "location": None,
         "reason": "Z*** M***: nothing identifies her", "status": "open", "created_at": created},
    ]


def test_quarantine_list_table_is_masked_too(tmp_path: Path) -> None:
    hub = quarantined_hub(tmp_path)

    out = hub.invoke("quarantine", "list").stdout

    assert "invalid phone '+336******78' for a***@exampl" in out  # cut at 48 characters
    assert "Z*** M***: nothing identifies her" in out
    assert "lovelace" not in out and "Zoé" not in out and "Mercier" not in out


def test_quarantine_list_reveal_shows_the_stored_values(tmp_path: Path) -> None:
    hub = quarantined_hub(tmp_path)

    items = json.loads(hub.invoke("quarantine", "list", "--json", "--reveal").stdout)

    assert [(i["external_id"], i["reason"]) for i in items] == [
        ("ada.lovelace@example.com", MASKED_REASON),
        ("c-7", "Zoé Mercier: nothing identifies her")]


def test_quarantine_show_masks_the_payload_and_the_observation(tmp_path: Path) -> None:
    hub = quarantined_hub(tmp_path)

    row = json.loads(hub.invoke("quarantine", "show", "1", "--json").stdout)
    zoe = json.loads(hub.invoke("quarantine", "show", "2", "--json").stdout)
    text = hub.invoke("quarantine", "show", "2").stdout

    # A row no observation was made of: its capitalised words (the names) are masked too.
    assert row["payload"] == "A***,L***,a***@example.com,612****78"
    assert row["reason"] == "invalid phone '+336******78' for a***@example.com"
    assert row["observation"] is None
    expected = json.loads(json.dumps(ZOE))
    expected["raw"] = {"Nom": "M***", "Note": "rappeler Z*** au 336******78", "Client": "C-1001"}
    expected["person"].update({
        "given_name": "Z***", "family_name": "M***", "full_name": "Z*** M***",
        "birthday": "1***", "handles": {"linkedin": "z***"}})
    expected["person"]["emails"][0]["value"] = "z***@mercier-traiteur.fr"
    expected["person"]["phones"][0]["value"] = "612****78"
    expected["person"]["phones"][1]["value"] = "1***"
    expected["person"]["address"]["street"] = "1***"
    assert zoe["observation"] == expected
    assert zoe["reason"] == "Z*** M***: nothing identifies her"
    assert json.loads(text) == zoe


def test_quarantine_show_reveal_prints_the_payload_as_stored(tmp_path: Path) -> None:
    hub = quarantined_hub(tmp_path)

    row = json.loads(hub.invoke("quarantine", "show", "1", "--json", "--reveal").stdout)
    zoe = json.loads(hub.invoke("quarantine", "show", "2", "--json", "--reveal").stdout)

    assert (row["payload"], row["reason"]) == (MASKED_PAYLOAD, MASKED_REASON)
    assert zoe["observation"] == ZOE


def test_a_table_cuts_long_cells_but_prints_the_last_column_whole(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`status` used to cut a sink's or a connector's last error at 48 characters."""
    from hub.cli.common import table

    error = "RuntimeError: HTTP 500 from the webhook after 1 attempt; the receiver said no"
    table([{"sink": "s" * 60, "last_error": error}], ["sink", "last_error"])

    header, row = capsys.readouterr().out.splitlines()
    assert row == "s" * 48 + "  " + error
    assert header.split() == ["SINK", "LAST_ERROR"]
