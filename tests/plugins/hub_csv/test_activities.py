"""The ``activities`` kind: an activity history read into interactions, then linked, scored
and moved through the lifecycle by the core (both engines)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select

from hub.config import ConnectorConfig, HubConfig, HubSection
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.records import Observation
from hub.store.db import session_factory
from hub.store.model import Contact, Interaction, InteractionContact, SourceRecord
from hub.testing import ConnectorContract, ConnectorFactory
from hub_csv import ActivitiesConnector
from hub_csv.activity_fields import seconds
from hub_csv.settings import ActivitySettings
from tests.plugins.hub_csv.support import (
    SAMPLES,
    CsvChanges,
    connector,
    observations,
    rejected,
    run,
)
from tests.routing.support import routing_from

HEADER = "Activity ID,Date,Type,Direction,Duration,Subject,Email,Phone,Contact\n"


def read(tmp_path: Path, text: str, **settings: Any) -> tuple[list[Observation], list[Any]]:
    path = tmp_path / "activities.csv"
    path.write_text(text, encoding="utf-8")
    batches = run(connector(ActivitiesConnector, paths=[str(path)], **settings))
    return observations(batches), rejected(batches)


def by_id(found: list[Observation]) -> dict[str, Any]:
    return {o.external_id: o.interaction for o in found}


def test_the_sample_history_gives_each_row_its_channel_direction_duration_and_people() -> None:
    batches = run(connector(ActivitiesConnector, paths=[str(SAMPLES / "activities.csv")],
                            date_order="dmy", timezone="Europe/Paris"))
    assert rejected(batches) == []
    rows = by_id(observations(batches))
    assert sorted(rows) == ["ACT-1001", "ACT-1002", "ACT-1003", "ACT-1004", "ACT-1005"]
    mail, call, meeting, missed = (rows[f"ACT-100{n}"] for n in (1, 2, 3, 4))
    assert (mail.channel, mail.direction, mail.subject) == ("email", "inbound",
                                                           "Catalogue 2027?")
    assert [(p.email, p.role) for p in mail.participants] == [
        ("alice.martin@gmail.com", "from"), ("alice.martin@acme.fr", "to")]
    # 03/11/2026 14:40 in Paris (UTC+1 in November), day first; 6:35 is minutes:seconds
    assert call.occurred_at == datetime(2026, 11, 3, 13, 40, tzinfo=UTC)
    assert (call.channel, call.direction, call.duration_s, call.status) == (
        "call", "outbound", 395, "completed")
    assert [(p.phone, p.role) for p in call.participants] == [
        ("+33 6 12 34 56 78", "to"), ("201", "from")]
    # two people in one meeting, their names paired in order; no direction: outbound
    assert [(p.email, p.name) for p in meeting.participants[:2]] == [
        ("claire.moreau@free.fr", "Claire Moreau"), ("paul.moreau@gmail.com", "Paul Moreau")]
    assert (meeting.direction, meeting.duration_s) == ("outbound", 4500)
    # an inbound call: the lead calls (from), the extension takes it (to)
    assert [(p.phone, p.role) for p in missed.participants] == [
        ("01 45 67 89 10", "from"), ("202", "to")]


def test_dates_are_read_in_the_configured_order_and_zone_and_iso_offsets_win(
        tmp_path: Path) -> None:
    text = HEADER + ("1,3/5/2024 2:30 PM,Call,,,,,+1 212 555 0100,\n"
                     "2,2024-03-05T14:30:00+01:00,Call,,,,,+1 212 555 0100,\n"
                     "3,2024-03-05,Call,,,,,+1 212 555 0100,\n")
    rows = by_id(read(tmp_path, text, date_order="mdy", timezone="America/New_York")[0])
    assert rows["1"].occurred_at == datetime(2024, 3, 5, 19, 30, tzinfo=UTC)
    assert rows["2"].occurred_at == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    assert rows["3"].occurred_at == datetime(2024, 3, 5, 5, 0, tzinfo=UTC)
    # auto: ISO as such, anything else day first, in UTC unless told
    rows = by_id(read(tmp_path, HEADER + "1,05/03/2024 14:30,Call,,,,,+1 212 555 0100,\n")[0])
    assert rows["1"].occurred_at == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)


def test_a_row_that_cannot_be_an_activity_is_quarantined_with_why_and_the_rest_goes_on(
        tmp_path: Path) -> None:
    text = HEADER + (
        "1,2024-03-05 10:00,Lunch,,,,a@x.org,,\n"
        "2,,Call,,,,a@x.org,,\n"
        "3,the day after,Call,,,,a@x.org,,\n"
        "4,2024-03-05 10:00,Call,,a while,,a@x.org,,\n"
        "5,2024-03-05 10:00,Call,,,,,,Nobody\n"
        "6,2024-03-05 10:00,Call,Sideways,,,a@x.org,,\n"
        "7,2024-03-05 10:00,Call,In,90,,a@x.org,,\n")
    found, refused = read(tmp_path, text)
    assert [o.external_id for o in found] == ["7"]
    assert by_id(found)["7"].duration_s == 90
    reasons = {r.external_id: r.reason for r in refused}
    assert reasons["1"].startswith("'Lunch' is not a known activity type")
    assert 'channels = { "Lunch" = "meeting" }' in reasons["1"]
    assert reasons["2"] == "the row has no date: an activity needs the time it happened"
    assert "'the day after' is not a date and time" in reasons["3"]
    assert "set `date_order`" in reasons["3"]
    assert "'a while' is not a duration" in reasons["4"]
    assert reasons["5"].startswith("no participant's e-mail or phone")
    assert "'Sideways' is not a direction" in reasons["6"]
    assert all(r.location and r.location.endswith(f":{n + 1}")
               for n, r in enumerate(refused, start=1))


def test_the_files_own_words_name_channels_and_directions_and_a_call_log_sets_its_channel(
        tmp_path: Path) -> None:
    text = HEADER + ("1,2024-03-05 10:00,Appel sortant,Émis,,,,+33 6 12 34 56 78,\n"
                     "2,2024-03-05 11:00,,,,,,+33 6 12 34 56 78,\n")
    rows = by_id(read(tmp_path, text, channels={"appel SORTANT": "call"},
                      directions={"émis": "outbound"}, channel="sms", direction="inbound")[0])
    assert (rows["1"].channel, rows["1"].direction) == ("call", "outbound")
    assert (rows["2"].channel, rows["2"].direction) == ("sms", "inbound")
    found, refused = read(tmp_path, HEADER + "2,2024-03-05 11:00,,,,,,+33 6 12 34 56 78,\n")
    assert found == [] and "set `channel`" in refused[0].reason


def test_a_mapping_names_other_columns_and_a_column_in_minutes_counts_minutes(
        tmp_path: Path) -> None:
    text = ("Réf;Quand;Heure;Canal;Durée (min);Objet;Courriel;Commercial\n"
            "R1;05/03/2024;14:30;Rendez-vous;45;Démo;c.moreau@free.fr;bruno.petit@acme.fr\n")
    mapping = {"Réf": "external_id", "Quand": "occurred_at", "Heure": "time",
               "Canal": "channel", "Durée (min)": "duration", "Objet": "subject",
               "Courriel": "participants.email", "Commercial": "agent.email"}
    found, refused = read(tmp_path, text, mapping=mapping, timezone="Europe/Paris")
    assert refused == []
    [row] = found
    assert row.external_id == "R1"
    meeting = row.interaction
    assert meeting is not None
    assert (meeting.channel, meeting.duration_s, meeting.subject) == ("meeting", 2700, "Démo")
    assert meeting.occurred_at == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    assert [(p.email, p.role) for p in meeting.participants] == [
        ("c.moreau@free.fr", "to"), ("bruno.petit@acme.fr", "from")]
    [row] = read(tmp_path, text, mapping=mapping, duration_unit="seconds")[0]
    assert row.interaction is not None and row.interaction.duration_s == 45


def test_durations_read_seconds_clocks_and_units() -> None:
    assert [seconds(text, minutes=False) for text in
            ("125", "2:05", "1:02:05", "5 min", "1h 20m", "90s", "1,5 min")] == [
        125, 125, 3725, 300, 4800, 90, 90]
    assert seconds("2", minutes=True) == 120
    with pytest.raises(ValueError, match="negative"):
        seconds("-3", minutes=False)


def test_settings_refuse_a_mapping_without_a_date_or_a_person_and_unknown_zones() -> None:
    def error(**settings: Any) -> str:
        with pytest.raises(ValidationError) as caught:
            ActivitySettings.model_validate({"paths": ["a.csv"], **settings})
        return str(caught.value)

    assert "needs a column for `occurred_at`" in error(mapping={"E": "participants.email"})
    assert "participants.email` or `participants.phone`" in error(mapping={"D": "occurred_at"})
    assert "unknown target 'person.emails'" in error(mapping={"D": "person.emails"})
    assert "Europe/Paris" in error(timezone="Paris")
    assert "Input should be" in error(channels={"Lunch": "food"})


def test_rows_without_an_id_keep_their_content_key_on_every_read_and_repeats_are_numbered(
        tmp_path: Path) -> None:
    header = "Date,Type,Subject,Email\n"
    row = "2024-03-05 10:00,Call,Hello,a@x.org\n"
    other = "2024-03-05 10:00,Call,Hello,b@x.org\n"
    first = [o.external_id for o in read(tmp_path, header + row + other + row)[0]]
    again = [o.external_id for o in read(tmp_path, header + other + row + row)[0]]
    assert len(set(first)) == 3 and first[2] == first[0] + "#2"
    assert sorted(first) == sorted(again)


SCORING = """
[[activity]]
name = "calls"
channel = "call"
window = "30d"
points = 8

[lifecycle]
stages = ["lead", "prospect", "customer", "lost"]


[[lifecycle.transitions]]
name = "wrote to us"
to = "prospect"
on = "interaction"
channel = "email"
direction = "inbound"
"""
NOW = datetime(2024, 3, 10, 9, 0, tzinfo=UTC)


def test_a_history_synced_links_its_contacts_scores_them_moves_them_and_forgets_removed_rows(
        tmp_path: Path, engine: Engine) -> None:
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(own_domains=["acme.fr"],
                                                         default_region="FR")),
                        clock=lambda: NOW)
    pipeline.routing = routing_from(tmp_path, None, SCORING)
    people = ConnectorConfig(name="contacts", kind="csv", route_new_contacts=False)
    pipeline.ingest(people, Batch([
        Observation(kind="person", external_id=str(n), observed_at=NOW - timedelta(days=9),
                    person={"full_name": name, "emails": [{"value": email}],
                            "phones": [{"value": phone}]})
        for n, (name, email, phone) in enumerate([
            ("Ada Lovelace", "ada@x.org", "06 12 34 56 78"),
            ("Alan Turing", "alan@x.org", "06 98 76 54 32")])]))
    path = tmp_path / "history.csv"
    rows = ["A1,2024-03-05 10:00,Email,In,,Question,ada@x.org; zoe@y.org,,sales@acme.fr",
            "A2,2024-03-06 10:00,Call,Out,120,,,+33 6 98 76 54 32,alan@acme.fr",
            "A3,2024-03-07 10:00,Call,Out,60,,,06 98 76 54 32,alan@acme.fr"]
    header = "ID,Date,Type,Direction,Duration,Subject,Email,Phone,Owner email\n"
    history = ConnectorConfig(name="history", kind="activities")
    source = connector(ActivitiesConnector, paths=[str(path)], max_delete_ratio=0.5)
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    for batch in run(source):
        pipeline.ingest(history, batch)

    with session_factory(engine)() as session:
        contacts = {c.full_name: c for c in session.scalars(select(Contact))}
        # our people made none; Zoé, whom nobody knew, is someone now
        assert set(contacts) == {"Ada Lovelace", "Alan Turing", None}
        ada, alan = contacts["Ada Lovelace"], contacts["Alan Turing"]
        links = {(i.external_id, link.contact_id) for i, link in session.execute(
            select(Interaction, InteractionContact).join(
                InteractionContact, InteractionContact.interaction_id == Interaction.id))}
        zoe = contacts[None]
        assert links == {("A1", ada.id), ("A1", zoe.id), ("A2", alan.id), ("A3", alan.id)}
        assert (ada.stage, ada.score) == ("prospect", 0)
        assert (alan.stage, alan.score) == ("lead", 16)

    path.write_text(header + "\n".join(rows[:2]) + "\n", encoding="utf-8")  # A3 removed
    source = connector(ActivitiesConnector, paths=[str(path)], max_delete_ratio=0.5)
    for batch in run(source):
        pipeline.ingest(history, batch)
    with session_factory(engine)() as session:
        deleted = {i.external_id: i.deleted_at is not None
                   for i in session.scalars(select(Interaction))}
        assert deleted == {"A1": False, "A2": False, "A3": True}
        # the file's new snapshot deletes its rows, not the people its rows named
        participant = session.scalars(select(SourceRecord).where(
            SourceRecord.external_id == "participant:email:zoe@y.org")).one()
        assert participant.deleted_at is None and participant.contact_id == zoe.id
        assert session.get(Contact, alan.id).score == 8  # type: ignore[union-attr]


class TestActivitiesContract(ConnectorContract):
    @pytest.fixture
    def connector_factory(self, tmp_path: Path) -> ConnectorFactory:
        shutil.copy(SAMPLES / "activities.csv", tmp_path / "activities.csv")
        return lambda: connector(ActivitiesConnector, paths=[tmp_path / "activities.csv"],
                                 date_order="dmy", batch_size=2)

    @pytest.fixture
    def source_changes(self, tmp_path: Path, connector_factory: ConnectorFactory) -> CsvChanges:
        return CsvChanges(tmp_path / "activities.csv", connector_factory,
                          {"Activity ID": "ACT-2001", "Date": "01/12/2026 10:00",
                           "Type": "Call", "Email": "ada@analytical.org"}, "Subject")
