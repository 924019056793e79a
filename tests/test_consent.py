"""Opt-out and consent per contact point: from sources, by command, in exports and in the
payload sinks get; and interaction retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from hub.cli.main import main
from hub.routing.delivery import _with_opt_out
from hub.service.runtime import Hub
from hub.service.sync import run_sync
from hub.store.model import Interaction, PointPreference
from hub_social.meta import consent_of

OUTLOOK = (
    "First Name,Last Name,E-mail Address,Mobile Phone,Company,Email Opt Out\n"
    "Ada,King,ada.king@example.org,06 11 22 33 44,Analytical SARL,TRUE\n"
    "Alan,Moore,alan.moore@example.org,06 55 66 77 88,Analytical SARL,FALSE\n"
)
LEGACY = (
    "Nom;Prénom;Email;Portable;Ne pas appeler\n"
    "KING;Ada;ada.king@example.org;06 11 22 33 44;Oui\n"
)
CALLS = (
    "id,date,type,direction,phone\n"
    "old,2020-01-02 10:00,call,inbound,06 55 66 77 88\n"
    "new,{recent},call,inbound,06 55 66 77 88\n"
)


class Store:
    def __init__(self, root: Path, db_url: str, retention: int | None = None) -> None:
        recent = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
        (root / "outlook.csv").write_text(OUTLOOK, encoding="utf-8")
        (root / "legacy.csv").write_text(LEGACY, encoding="utf-8")
        (root / "calls.csv").write_text(CALLS.format(recent=recent), encoding="utf-8")
        lines = ["[hub]", f"database_url = {json.dumps(db_url)}", 'default_region = "FR"']
        if retention is not None:
            lines.append(f"interaction_retention_days = {retention}")
        lines += ["", "[[connectors]]", 'name = "outlook"', 'kind = "csv"',
                  "[connectors.settings]", f'paths = ["{root / "outlook.csv"}"]', "",
                  "[[connectors]]", 'name = "legacy"', 'kind = "csv"',
                  "[connectors.settings]", f'paths = ["{root / "legacy.csv"}"]',
                  "[connectors.settings.mapping]", '"Nom" = "person.family_name"',
                  '"Prénom" = "person.given_name"', '"Email" = "person.emails"',
                  '"Portable" = "person.phones.mobile"',
                  '"Ne pas appeler" = "person.opt_out.phone"', "",
                  "[[connectors]]", 'name = "calls"', 'kind = "activities"',
                  "[connectors.settings]", f'paths = ["{root / "calls.csv"}"]', ""]
        self.config = root / "crmhub.toml"
        self.config.write_text("\n".join(lines), encoding="utf-8")
        self.cli("db", "upgrade")

    def cli(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, [*args, "--config", str(self.config)])
        assert result.exit_code == code, (result.output, result.exception)
        return result

    def sync(self, *names: str) -> None:
        hub = Hub.open(self.config)
        try:
            for name in names:
                assert run_sync(hub, name).ok
        finally:
            hub.close()

    def export(self) -> dict[str, dict[str, Any]]:
        rows = [json.loads(line) for line in
                self.cli("export", "contacts", "--format", "jsonl").stdout.splitlines()]
        return {row["full_name"]: row for row in rows}


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Store:
    return Store(tmp_path, db_url)


def test_an_unsubscribe_column_opts_the_address_out_and_the_export_says_so(
        store: Store) -> None:
    store.sync("outlook")
    rows = store.export()
    assert rows["Ada King"]["opt_out"] == ["ada.king@example.org"]
    assert rows["Alan Moore"]["opt_out"] == []  # FALSE says nothing
    csv_text = store.cli("export", "contacts", "--format", "csv").stdout
    assert "opt_out" in csv_text.splitlines()[0]


def test_a_mapped_do_not_call_column_opts_the_phone_out_with_its_source(
        store: Store, tmp_path: Path) -> None:
    store.sync("outlook", "legacy")
    assert sorted(store.export()["Ada King"]["opt_out"]) == ["+33611223344",
                                                              "ada.king@example.org"]
    out = tmp_path / "ada.json"
    store.cli("person", "export", "--email", "ada.king@example.org", "--out", str(out))
    [held] = json.loads(out.read_text(encoding="utf-8"))["contacts"]
    said = {p["value"]: (p["status"], p["source"]) for p in held["consent"]}
    assert said == {"ada.king@example.org": ("opt_out", "outlook"),
                    "+33611223344": ("opt_out", "legacy")}


def test_opt_out_and_consent_by_command_are_kept_and_a_wrong_point_is_refused(
        store: Store) -> None:
    store.sync("outlook")
    alan = store.export()["Alan Moore"]["id"]
    store.cli("contacts", "set", str(alan), "--opt-out", "email")
    assert store.export()["Alan Moore"]["opt_out"] == ["alan.moore@example.org"]
    store.cli("contacts", "set", str(alan), "--consent", "alan.moore@example.org")
    assert store.export()["Alan Moore"]["opt_out"] == []  # the latest statement holds
    refused = store.cli("contacts", "set", str(alan), "--opt-out", "nobody@example.org",
                        code=2)
    assert "has no email" in refused.output


def test_sinks_get_the_opt_out_of_the_contact_they_are_told_about(store: Store) -> None:
    store.sync("outlook")
    hub = Hub.open(store.config)
    with hub.pipeline.sessions() as session:
        event = _with_opt_out(session, {"type": "contact.assigned", "payload": {
            "contact_id": 1, "contact": {"name": "Ada King", "email": "Ada.King@example.org",
                                         "phone": "+33611223344"}}})
    hub.close()
    assert event["payload"]["contact"]["opt_out"] == ["Ada.King@example.org"]


def test_meta_consent_boxes_speak_for_email_phone_or_both() -> None:
    lead = {"custom_disclaimer_responses": [
        {"checkbox_key": "newsletter_optin", "is_checked": "1"},
        {"checkbox_key": "call_me", "is_checked": ""}]}
    assert consent_of(lead) == {"email": True, "phone": False}
    assert consent_of({"custom_disclaimer_responses": [
        {"checkbox_key": "marketing", "is_checked": "1"}]}) == {"email": True, "phone": True}
    assert consent_of({}) == {}


def test_interaction_retention_purges_old_interactions_and_status_shows_the_run(
        tmp_path: Path, db_url: str) -> None:
    store = Store(tmp_path, db_url, retention=365)
    store.sync("outlook", "calls")
    assert "no purge has run yet" in store.cli("status").stdout
    dry = json.loads(store.cli("retention", "run", "--dry-run", "--json").stdout)
    assert dry["interactions"] == 1
    hub = Hub.open(store.config)
    with hub.pipeline.sessions() as session:
        assert session.scalar(select(func.count(Interaction.id))) == 2  # nothing went
    hub.close()
    done = json.loads(store.cli("retention", "run", "--json").stdout)
    assert done["interactions"] == 1
    hub = Hub.open(store.config)
    with hub.pipeline.sessions() as session:
        assert list(session.scalars(select(Interaction.external_id))) == ["new"]
        assert session.scalar(select(func.count(PointPreference.id))) == 1
    hub.close()
    assert "last purge" in store.cli("status").stdout and "1 interactions" in \
        store.cli("status").stdout


def test_interactions_are_kept_when_no_retention_is_set(store: Store) -> None:
    store.sync("outlook", "calls")
    done = json.loads(store.cli("retention", "run", "--json").stdout)
    assert done["interactions"] == 0 and done["interaction_retention_days"] is None
