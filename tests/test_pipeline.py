"""The pipeline: identity, idempotency, atomic cursor, quarantine, snapshots (both engines)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from hub.config import ConnectorConfig, HubConfig, HubSection, MatchSection
from hub.connectors import Batch, Rejected, SnapshotEnd
from hub.export import export_contacts, without_ids
from hub.ingest.pipeline import Pipeline
from hub.records import Observation
from hub.store.model import (
    Company,
    Contact,
    Interaction,
    InteractionContact,
    MergeEvent,
    OutboxEvent,
    QuarantineItem,
    SharedPoint,
    SourceRecord,
    SyncState,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SRC = ConnectorConfig(name="src", kind="csv")
OTHER = ConnectorConfig(name="other", kind="csv")


def person(ext: str, **fields: Any) -> Observation:
    fields.setdefault("emails", [])
    fields["emails"] = [e if isinstance(e, dict) else {"value": e} for e in fields["emails"]]
    fields["phones"] = [p if isinstance(p, dict) else {"value": p}
                        for p in fields.get("phones", [])]
    return Observation(kind="person", external_id=ext, observed_at=T0, person=fields)


@pytest.fixture
def pipeline(engine: Engine) -> Pipeline:
    config = HubConfig(hub=HubSection(default_region="FR", own_domains=["acme.fr"],
                                      own_numbers=["+33 1 45 00 00 00"]),
                       match=MatchSection(identifiers=["customer_number"]))
    return Pipeline(engine, config)


def live_contacts(pipeline: Pipeline) -> list[dict[str, Any]]:
    with pipeline.sessions() as session:
        return list(export_contacts(session))


def count(pipeline: Pipeline, model: Any, *where: Any) -> int:
    with pipeline.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_same_email_with_case_dots_and_plus_tag_is_one_contact(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([person("1", given_name="Alice", family_name="Martin",
                                       emails=["alice.martin@gmail.com"])]))
    pipeline.ingest(OTHER, Batch([person("a", full_name="ALICE MARTIN",
                                         emails=["AliceMartin+crm@googlemail.com"])]))
    contacts = live_contacts(pipeline)
    assert len(contacts) == 1
    assert {s["connector"] for s in contacts[0]["sources"]} == {"src", "other"}
    assert len(contacts[0]["emails"]) == 1


def test_same_phone_in_two_formats_with_agreeing_names_is_one_contact(
        pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([person("1", given_name="bruno", family_name="LEFÈVRE",
                                       emails=["bruno@lefevre-conseil.fr"],
                                       phones=["01 45 67 89 10"])]))
    pipeline.ingest(OTHER, Batch([person("x", given_name="Bruno", family_name="Lefevre",
                                         emails=["b.lefevre@example.org"],
                                         phones=["+33 1 45 67 89 10"])]))
    contacts = live_contacts(pipeline)
    assert len(contacts) == 1
    assert contacts[0]["phones"][0]["value"] == "+33145678910"
    assert {e["value"] for e in contacts[0]["emails"]} == {"bruno@lefevre-conseil.fr",
                                                           "b.lefevre@example.org"}


def test_phone_on_two_people_with_different_names_becomes_shared(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([
        person("c", given_name="Claire", family_name="Moreau", emails=["claire@moreau.fr"],
               phones=["+33 1 40 00 00 00"]),
        person("p", given_name="Paul", family_name="Moreau", emails=["paul@moreau.fr"],
               phones=["+33 1 40 00 00 00"]),
        person("q", given_name="Quentin", family_name="Moreau", phones=["01 40 00 00 00"]),
    ]))
    assert len(live_contacts(pipeline)) == 3
    assert count(pipeline, SharedPoint, SharedPoint.value == "+33140000000") == 1


def test_siblings_sharing_switchboard_and_role_address_stay_two(pipeline: Pipeline) -> None:
    shared = [{"value": "+33 1 40 00 00 00", "label": "Main"}]
    pipeline.ingest(SRC, Batch([
        person("c", given_name="Claire", family_name="Moreau",
               emails=["contact@moreau-freres.fr"], phones=[*shared, "06 11 22 33 44"]),
        person("p", given_name="Paul", family_name="Moreau",
               emails=["contact@moreau-freres.fr"], phones=[*shared, "06 55 66 77 88"]),
    ]))
    contacts = live_contacts(pipeline)
    assert len(contacts) == 2
    # The role address leads to the company, not to a person.
    assert {c["company"]["domains"][0] for c in contacts} == {"moreau-freres.fr"}


def test_same_name_at_different_companies_stays_two(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([
        person("1", given_name="Jean", family_name="Dupont",
               emails=["jean.dupont@acme-industrie.fr"], company={"name": "Acme Industrie SAS"}),
        person("2", given_name="Jean", family_name="Dupont",
               emails=["j.dupont@boulangerie-durand.fr"],
               company={"name": "Boulangerie Durand SARL"}),
    ]))
    contacts = live_contacts(pipeline)
    assert len(contacts) == 2
    assert sorted(c["company"]["name"] for c in contacts) == [
        "Acme Industrie SAS", "Boulangerie Durand SARL"]


def test_social_handle_from_different_urls_is_one_contact(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([person("1", full_name="Theo Grant",
                                       handles={"linkedin":
                                                "https://www.linkedin.com/in/theogrant"})]))
    pipeline.ingest(OTHER, Batch([person("v", full_name="Theo Grant",
                                         handles={"url": "https://linkedin.com/in/TheoGrant/"})]))
    contacts = live_contacts(pipeline)
    assert len(contacts) == 1
    assert contacts[0]["handles"] == {"linkedin": "theogrant"}


def test_configured_identifier_links_records(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([person("1", full_name="Ann Lee",
                                       identifiers={"customer_number": "C-1"})]))
    pipeline.ingest(OTHER, Batch([person("z", full_name="Ann Lee-Smith",
                                         identifiers={"customer_number": "C-1"})]))
    assert len(live_contacts(pipeline)) == 1


def test_reingesting_the_same_batch_changes_nothing(pipeline: Pipeline) -> None:
    batch = Batch([person("1", given_name="Ada", family_name="Lovelace",
                          emails=["ada@example.com"], company={"name": "Analytical Ltd"}),
                   person("2", full_name="Bob Stone", phones=["06 12 34 56 78"])],
                  cursor={"n": 2})
    first = pipeline.ingest(SRC, batch)
    before = [without_ids(c) for c in live_contacts(pipeline)]
    events = count(pipeline, OutboxEvent)
    second = pipeline.ingest(SRC, batch)
    assert (first.created, second.created, second.unchanged) == (2, 0, 2)
    assert [without_ids(c) for c in live_contacts(pipeline)] == before
    assert count(pipeline, OutboxEvent) == events


def test_cursor_commits_with_its_records_and_not_without(pipeline: Pipeline,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline.ingest(SRC, Batch([person("1", full_name="A One", emails=["a@one.io"])],
                               cursor={"page": 1}))

    def crash(self: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr("hub.ingest.batch.BatchRun._outbox", crash)
    with pytest.raises(RuntimeError):
        pipeline.ingest(SRC, Batch([person("2", full_name="B Two", emails=["b@two.io"])],
                                   cursor={"page": 2}))
    with pipeline.sessions() as session:
        state = session.get(SyncState, "src")
        assert state is not None and state.cursor == {"page": 1}
    assert count(pipeline, SourceRecord) == 1


def test_unidentifiable_record_is_quarantined_and_the_rest_commit(pipeline: Pipeline) -> None:
    stats = pipeline.ingest(SRC, Batch(
        [person("empty", title="CEO"), person("ok", full_name="Real Person")],
        rejected=[Rejected(reason="row has 9 cells, header has 5", payload="a,b,c",
                           location="f.csv:3")]))
    assert stats.quarantined == 2
    assert len(live_contacts(pipeline)) == 1
    with pipeline.sessions() as session:
        reasons = sorted(session.scalars(select(QuarantineItem.reason)))
    assert "carries nothing that identifies a person" in reasons[0]
    assert reasons[1] == "row has 9 cells, header has 5"


def test_the_same_rejected_input_is_quarantined_once(pipeline: Pipeline) -> None:
    batch = Batch([person("empty", title="CEO")])
    pipeline.ingest(SRC, batch)
    pipeline.ingest(SRC, Batch([person("empty", title="CEO")]))
    assert count(pipeline, QuarantineItem) == 1


def test_our_own_people_never_become_contacts(pipeline: Pipeline) -> None:
    stats = pipeline.ingest(SRC, Batch([person("me", full_name="Sales Rep",
                                               emails=["rep@acme.fr"])]))
    assert stats.skipped_own == 1
    assert live_contacts(pipeline) == []


def test_invalid_phone_and_impossible_birthday_are_kept_raw_and_flagged(
        pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([person("1", full_name="Odd Data", phones=["12"],
                                       birthday="1984-02-30")]))
    [contact] = live_contacts(pipeline)
    assert contact["phones"][0]["value"] == "12"
    assert contact["birthday"] is None
    with pipeline.sessions() as session:
        flags = session.scalars(select(Contact.flags)).one()
    assert "birthday_invalid:1984-02-30" in flags and "phone_invalid:12" in flags


def test_record_reaching_two_contacts_merges_them_with_a_logged_reason(
        pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([person("1", full_name="Kim Wu", emails=["kim@wu.io"]),
                                person("2", full_name="Kim Wu", emails=["kim@home.net"])]))
    assert len(live_contacts(pipeline)) == 2
    pipeline.ingest(OTHER, Batch([person("b", full_name="Kim Wu",
                                         emails=["kim@wu.io", "kim@home.net"])]))
    [contact] = live_contacts(pipeline)
    assert len(contact["sources"]) == 3
    assert len(contact["merged_from"]) == 1
    with pipeline.sessions() as session:
        merge = session.scalars(select(MergeEvent)).one()
        assert merge.decided_by == "auto" and merge.reason.startswith("same email")
        assert merge.comparison["levels"]["email"] == "exact"
        assert merge.score >= 0.95
        assert merge.snapshot["source_records"]


def test_tombstone_removes_the_source_and_then_the_contact(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([person("1", full_name="Gone Soon", emails=["g@s.io"])]))
    stats = pipeline.ingest(SRC, Batch([Observation(kind="person", external_id="1",
                                                    observed_at=T0, deleted=True)]))
    assert stats.deleted == 1
    assert live_contacts(pipeline) == []
    assert count(pipeline, Contact, Contact.deleted_at.is_not(None)) == 1


def test_snapshot_end_tombstones_rows_missing_from_the_new_snapshot(pipeline: Pipeline) -> None:
    rows = [person(str(i), full_name=f"P{i} Q", emails=[f"p{i}@x.io"]) for i in range(10)]
    pipeline.ingest(SRC, Batch(rows, scope="f.csv", token="v1",
                               snapshot_end=SnapshotEnd("f.csv", "v1", 0.2)))
    stats = pipeline.ingest(SRC, Batch(rows[:9], scope="f.csv", token="v2",
                                       snapshot_end=SnapshotEnd("f.csv", "v2", 0.2)))
    assert stats.deleted == 1 and stats.unchanged == 9
    assert len(live_contacts(pipeline)) == 9


def test_mass_delete_beyond_the_ratio_is_held(pipeline: Pipeline) -> None:
    rows = [person(str(i), full_name=f"P{i} Q", emails=[f"p{i}@x.io"]) for i in range(10)]
    pipeline.ingest(SRC, Batch(rows, scope="f.csv", token="v1",
                               snapshot_end=SnapshotEnd("f.csv", "v1", 0.2)))
    stats = pipeline.ingest(SRC, Batch(rows[:5], scope="f.csv", token="v2",
                                       snapshot_end=SnapshotEnd("f.csv", "v2", 0.2)))
    assert stats.deleted == 0 and stats.held and "50%" in stats.held
    assert len(live_contacts(pipeline)) == 10
    with pipeline.sessions() as session:
        state = session.get(SyncState, "src")
        assert state is not None and state.held == stats.held


@pytest.mark.parametrize(("gone", "held"), [(2, False), (3, True)],
                         ids=["at-the-ratio", "above-the-ratio"])
def test_a_delete_is_held_only_when_more_than_the_ratio_disappears(
        pipeline: Pipeline, gone: int, held: bool) -> None:
    rows = [person(str(i), full_name=f"P{i} Q", emails=[f"p{i}@x.io"]) for i in range(10)]
    pipeline.ingest(SRC, Batch(rows, scope="f.csv", token="v1",
                               snapshot_end=SnapshotEnd("f.csv", "v1", 0.2)))
    stats = pipeline.ingest(SRC, Batch(rows[gone:], scope="f.csv", token="v2",
                                       snapshot_end=SnapshotEnd("f.csv", "v2", 0.2)))
    assert (stats.deleted, bool(stats.held)) == ((0, True) if held else (gone, False))
    assert len(live_contacts(pipeline)) == (10 if held else 10 - gone)


def test_a_record_that_fails_to_store_is_quarantined_and_the_rest_of_its_batch_stored(
        pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.ingest.persons import PersonPass

    values = PersonPass._record_values

    def failing(self: PersonPass, person: Any, *args: Any) -> dict[str, Any]:
        if person.item.external_id == "bad":
            raise RuntimeError("disk says no")
        return values(self, person, *args)

    monkeypatch.setattr(PersonPass, "_record_values", failing)
    rows = [person(ext, full_name=f"{ext.title()} Person", emails=[f"{ext}@x.io"])
            for ext in ("a", "b", "bad", "c", "d")]
    stats = pipeline.ingest(SRC, Batch(rows))
    assert (stats.created, stats.quarantined) == (4, 1)
    assert sorted(c["full_name"] for c in live_contacts(pipeline)) == [
        "A Person", "B Person", "C Person", "D Person"]
    with pipeline.sessions() as session:
        [item] = session.scalars(select(QuarantineItem)).all()
        stored = set(session.scalars(select(SourceRecord.external_id)))
    assert (item.external_id, item.reason) == ("bad", "could not be stored: "
                                                      "RuntimeError: disk says no")
    assert stored == {"a", "b", "c", "d"}


def test_interaction_links_known_and_new_participants_but_not_us(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([person("1", full_name="Ada Lovelace",
                                       emails=["ada@example.com"])]))
    call = Observation(kind="interaction", external_id="m1", observed_at=T0, interaction={
        "channel": "email", "direction": "inbound", "occurred_at": T0, "subject": "Hello",
        "participants": [{"email": "Ada@Example.com", "role": "from"},
                         {"email": "rep@acme.fr", "role": "to"},
                         {"email": "newbie@startup.io", "name": "New Bie", "role": "cc"}]})
    pipeline.ingest(OTHER, Batch([call]))
    pipeline.ingest(OTHER, Batch([call]))
    contacts = {c["full_name"]: c for c in live_contacts(pipeline)}
    assert set(contacts) == {"Ada Lovelace", "New Bie"}
    assert contacts["Ada Lovelace"]["interactions"]["count"] == 1
    assert count(pipeline, Interaction) == 1
    assert count(pipeline, InteractionContact) == 2


def test_company_found_by_domain_then_by_name_and_country(pipeline: Pipeline) -> None:
    uk = {"country": "United Kingdom"}
    pipeline.ingest(SRC, Batch([
        person("1", full_name="A B", emails=["a@contoso.com"], company={"name": "Contoso Ltd"},
               address=uk),
        person("2", full_name="C D", emails=["c@contoso.com"]),  # by domain
        person("3", full_name="E F", emails=["e@gmail.com"], company={"name": "CONTOSO, Ltd."},
               address={"country": "GB"}),  # by name + the same country
        person("4", full_name="G H", emails=["g@gmail.com"], company={"name": "Contoso Ltd"},
               address={"country": "Germany"}),  # same name, another country
    ]))
    with pipeline.sessions() as session:
        companies = sorted(session.execute(select(Company.name_key, Company.country)).all())
    assert companies == [("contoso", "DE"), ("contoso", "GB")]
    rows = {c["full_name"]: c["company"]["id"] for c in live_contacts(pipeline)}
    assert rows["A B"] == rows["C D"] == rows["E F"] != rows["G H"]


def test_free_mail_never_makes_a_company(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([person("1", full_name="Solo Dev", emails=["solo@gmail.com"])]))
    assert count(pipeline, Company) == 0


def test_outbox_gets_created_updated_and_merged_events(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([person("1", full_name="Eve Adams", emails=["eve@a.io"])]))
    pipeline.ingest(SRC, Batch([person("1", full_name="Eve Adams", title="CTO",
                                       emails=["eve@a.io"])]))
    with pipeline.sessions() as session:
        kinds = list(session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)))
    assert kinds == ["contact.created", "contact.updated"]


def test_an_enrichment_plugin_rewrites_observations_before_normalisation(
        engine: Engine) -> None:
    from hub import hookimpl
    from hub.plugins import HubPlugins

    class Upper:
        @hookimpl
        def crmhub_enrich_observation(self, observation: Observation) -> Observation:
            assert observation.person is not None
            person = observation.person.model_copy(update={"tags": ["enriched"]})
            return observation.model_copy(update={"person": person})

    plugins = HubPlugins.load(entry_points=False, extra=[("upper", Upper())])
    pipeline = Pipeline(engine, HubConfig(), plugins)
    pipeline.ingest(SRC, Batch([person("1", full_name="Tag Me", emails=["t@m.io"])]))
    assert live_contacts(pipeline)[0]["tags"] == ["enriched"]


def test_nul_bytes_in_input_never_break_the_batch(pipeline: Pipeline) -> None:
    stats = pipeline.ingest(SRC, Batch(
        [person("bad\x00id", full_name="Nul\x00 Byte", emails=["n@b.io"]),
         person("ok", full_name="Fine Person", emails=["f@p.io"])],
        rejected=[Rejected(reason="binary", payload="\x00\x01\x02", location="x.csv:1")]))
    assert stats.quarantined == 2
    assert [c["full_name"] for c in live_contacts(pipeline)] == ["Fine Person"]
    with pipeline.sessions() as session:
        reasons = sorted(session.scalars(select(QuarantineItem.reason)))
    assert reasons == ["binary", "external id contains a NUL byte"]


def test_values_longer_than_their_columns_are_cut_and_flagged_not_fatal(
        pipeline: Pipeline) -> None:
    stats = pipeline.ingest(SRC, Batch([
        person("1", full_name="Long Title", emails=["l@t.io"], title="Chief " * 200,
               address={"country": "Nouvelle-Calédonie du Sud"}),
        person("2", full_name="Next Person", emails=["n@p.io"])]))
    assert stats.quarantined == 0 and stats.created == 2
    with pipeline.sessions() as session:
        contact = session.scalars(select(Contact).order_by(Contact.id)).first()
        assert contact is not None and len(contact.title or "") == 300
        assert contact.country is None
        assert contact.address["country"] == "Nouvelle-Calédonie du Sud"
        assert "truncated:title" in contact.flags
        assert "country_unknown:Nouvelle-Calédonie du Sud" in contact.flags


def test_a_quarantined_edit_keeps_the_previous_version_in_the_snapshot(
        pipeline: Pipeline) -> None:
    rows = [person(str(i), full_name=f"P{i} Q", emails=[f"p{i}@x.io"]) for i in range(10)]
    pipeline.ingest(SRC, Batch(rows, scope="f.csv", token="v1",
                               snapshot_end=SnapshotEnd("f.csv", "v1", 0.5)))
    broken = [*rows[:9], person("9", title="no name any more")]
    stats = pipeline.ingest(SRC, Batch(broken, scope="f.csv", token="v2",
                                       snapshot_end=SnapshotEnd("f.csv", "v2", 0.5)))
    assert stats.quarantined == 1 and stats.deleted == 0
    assert "P9 Q" in {c["full_name"] for c in live_contacts(pipeline)}
    unparsed = Rejected(reason="bad row", payload="x", external_id="8", location="f.csv:9")
    stats = pipeline.ingest(SRC, Batch(rows[:8], rejected=[unparsed], scope="f.csv",
                                       token="v3", snapshot_end=SnapshotEnd("f.csv", "v3", 0.5)))
    assert stats.deleted == 1  # row 9 is really gone; row 8 is only unreadable
    assert "P8 Q" in {c["full_name"] for c in live_contacts(pipeline)}


def test_a_repeated_tombstone_changes_nothing(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([person("1", full_name="Gone Soon", emails=["g@s.io"])]))
    gone = Batch([Observation(kind="person", external_id="1", observed_at=T0, deleted=True)])
    pipeline.ingest(SRC, gone)
    events = count(pipeline, OutboxEvent)
    again = pipeline.ingest(SRC, gone)
    assert (again.deleted, again.unchanged) == (0, 1)
    assert count(pipeline, OutboxEvent) == events


def test_a_changed_policy_makes_records_changed_on_the_next_read(engine: Engine) -> None:
    batch = Batch([person("1", full_name="Ann Lee", phones=["0470123456"])])
    Pipeline(engine, HubConfig(hub=HubSection(default_region="FR"))).ingest(SRC, batch)
    again = Pipeline(engine, HubConfig(hub=HubSection(default_region="FR"))).ingest(SRC, batch)
    assert again.unchanged == 1
    belgian = Pipeline(engine, HubConfig(hub=HubSection(default_region="BE")))
    assert belgian.ingest(SRC, batch).updated == 1
    assert live_contacts(belgian)[0]["phones"][0]["value"] == "+32470123456"


def test_a_shared_number_never_links_an_interaction_participant(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([
        person("c", given_name="Claire", family_name="Moreau", phones=["+33 1 40 00 00 00"]),
        person("p", given_name="Paul", family_name="Moreau", phones=["+33 1 40 00 00 00"])]))
    call = Observation(kind="interaction", external_id="call1", observed_at=T0, interaction={
        "channel": "call", "direction": "inbound", "occurred_at": T0,
        "participants": [{"phone": "01 40 00 00 00", "role": "from"}]})
    pipeline.ingest(OTHER, Batch([call]))
    claire = next(c for c in live_contacts(pipeline) if c["full_name"] == "Claire Moreau")
    assert claire["interactions"]["count"] == 0


def test_a_mass_delete_hold_stays_until_the_snapshot_is_whole_again(
        pipeline: Pipeline) -> None:
    rows = [person(str(i), full_name=f"P{i} Q", emails=[f"p{i}@x.io"]) for i in range(10)]
    pipeline.ingest(SRC, Batch(rows, scope="f.csv", token="v1",
                               snapshot_end=SnapshotEnd("f.csv", "v1", 0.2)))
    pipeline.ingest(SRC, Batch(rows[:4], scope="f.csv", token="v2",
                               snapshot_end=SnapshotEnd("f.csv", "v2", 0.2)))
    pipeline.ingest(SRC, Batch([], cursor={"unchanged": True}))  # a later, empty run
    with pipeline.sessions() as session:
        state = session.get(SyncState, "src")
        assert state is not None and state.held and "f.csv" in state.held
    pipeline.ingest(SRC, Batch(rows, scope="f.csv", token="v3",
                               snapshot_end=SnapshotEnd("f.csv", "v3", 0.2)))
    with pipeline.sessions() as session:
        state = session.get(SyncState, "src")
        assert state is not None and state.held is None


def test_a_prepared_batch_survives_the_trip_to_the_writer_process(engine: Engine) -> None:
    import pickle

    pipeline = Pipeline(engine, HubConfig(hub=HubSection(default_region="FR")))
    batch = Batch([person("1", full_name="Ada Lovelace", emails=["ada@example.com"],
                          phones=["06 12 34 56 78"], custom={"n": 1})], cursor={"n": 1})
    prepared = pipeline.preparer.prepare(SRC, batch)
    assert prepared.batch.observations == []  # carried once, by the items
    copy = pickle.loads(pickle.dumps(prepared))
    assert copy.items[0].observation == prepared.items[0].observation
    assert copy.items[0].canon == prepared.items[0].canon
    assert copy.items[0].digest == prepared.items[0].digest
    assert pipeline.ingest(SRC, copy).created == 1
    assert live_contacts(pipeline)[0]["phones"][0]["value"] == "+33612345678"


def _people(n: int) -> Batch:
    return Batch([person(f"p{i}", given_name="Ada", family_name=f"Lovelace{i}",
                         emails=[f"ada{i}@example.org"],
                         phones=[f"+33 6 12 34 {i // 100:02d} {i % 100:02d}"])
                  for i in range(n)], cursor=None)


def test_an_unanalysed_store_gets_planner_statistics_at_the_first_batch_then_on_doubling(
        pipeline: Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    pipeline.ingest(SRC, _people(30))
    assert not pipeline.has_statistics()
    with caplog.at_level("INFO", logger="hub.ingest.statistics"):
        pipeline.analyze_if_grown(30)
        assert pipeline.has_statistics()
        pipeline.analyze_if_grown(1000)  # analysed already, not 5,000 records yet
        pipeline.analyze_if_grown(4000)  # 5,030 written in this process
    refreshed = [r.getMessage() for r in caplog.records if "planner statistics" in r.message]
    assert refreshed == ["planner statistics refreshed after 30 records",
                         "planner statistics refreshed after 5030 records"]


def test_with_statistics_sqlite_reads_a_batchs_points_through_the_contact_index(
        tmp_path: Any) -> None:
    from sqlalchemy import event

    from hub.routing.facts import load_facts
    from hub.store.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade(engine)
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(default_region="FR")))
    pipeline.ingest(SRC, _people(200))
    pipeline.analyze_if_grown(200)
    seen: list[tuple[str, Any]] = []

    def remember(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM contact_points" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    with pipeline.sessions() as session:
        ids = list(session.scalars(select(Contact.id).order_by(Contact.id).limit(20)))
        facts = load_facts(session, ids)
    event.remove(engine, "before_cursor_execute", remember)
    assert all(facts[i]["contact.emails"] for i in ids)  # the query found their points
    assert seen
    with engine.connect() as connection:
        for statement, parameters in seen:
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters))
            assert "ix_contact_points_contact_id" in plan, plan
    engine.dispose()


def test_a_record_repeated_in_one_batch_ends_as_its_last_version(pipeline: Pipeline) -> None:
    """A tombstone after a live version deletes the record; a live version after a
    tombstone keeps it (persons as calls and companies: the last one wins)."""
    gone = Observation(kind="person", external_id="1", observed_at=T0, deleted=True)
    pipeline.ingest(SRC, Batch([person("1", full_name="Ada Lovelace", emails=["ada@x.org"]),
                                gone]))
    assert live_contacts(pipeline) == []
    pipeline.ingest(SRC, Batch([person("2", full_name="Alan Turing", emails=["alan@x.org"])]))
    back = Observation(kind="person", external_id="2", observed_at=T0, deleted=True)
    pipeline.ingest(SRC, Batch([back, person("2", full_name="Alan M. Turing",
                                             emails=["alan@x.org"])]))
    assert [c["full_name"] for c in live_contacts(pipeline)] == ["Alan M. Turing"]
