"""The matcher end to end through the pipeline: hard cases, review, unmerge, splits, batch."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, update

from hub.cli.main import main
from hub.config import ConnectorConfig, HubConfig, HubSection, MatchSection
from hub.connectors import Batch
from hub.export import export_contacts, without_ids
from hub.ingest.pipeline import Pipeline
from hub.match.batch import load_store, rededuplicate, train
from hub.match.compare import Profile
from hub.match.engine import ProbabilisticResolver
from hub.match.review import (
    ReviewError,
    list_candidates,
    merge_candidate,
    reject_candidate,
    split_record,
    unmerge,
)
from hub.records import Observation
from hub.store.model import (
    Contact,
    MatchCandidate,
    MatchKey,
    MatchModel,
    MatchRejection,
    MergeEvent,
    SharedPoint,
    SourceRecord,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 2, tzinfo=UTC)
A = ConnectorConfig(name="crm-a", kind="csv")
B = ConnectorConfig(name="crm-b", kind="csv")


def person(ext: str, **fields: Any) -> Observation:
    fields["emails"] = [{"value": e} for e in fields.get("emails", [])]
    fields["phones"] = [{"value": p} for p in fields.get("phones", [])]
    return Observation(kind="person", external_id=ext, observed_at=T0, person=fields)


@pytest.fixture
def pipeline(engine: Engine) -> Pipeline:
    config = HubConfig(hub=HubSection(default_region="FR"),
                       match=MatchSection(identifiers=["customer_number"]))
    return Pipeline(engine, config)


def contacts(pipeline: Pipeline) -> list[dict[str, Any]]:
    with pipeline.sessions() as session:
        return list(export_contacts(session))


def ingest_pair(pipeline: Pipeline, left: Observation, right: Observation) -> int:
    """Ingest two records from two connectors; the number of live contacts after."""
    pipeline.ingest(A, Batch([left]))
    pipeline.ingest(B, Batch([right]))
    return len(contacts(pipeline))


def open_reviews(pipeline: Pipeline) -> int:
    with pipeline.sessions() as session:
        return session.scalar(select(func.count()).select_from(MatchCandidate)
                              .where(MatchCandidate.status == "open")) or 0


# -- the classic hard positives ----------------------------------------------------------


@pytest.mark.parametrize(("left", "right"), [
    ({"given_name": "Anna", "family_name": "Keller", "emails": ["Anna.Keller@Example.com"]},
     {"given_name": "Anna", "family_name": "Keller", "emails": ["anna.keller+crm@example.com"]}),
    ({"given_name": "Jean", "family_name": "Roux", "phones": ["06 12 34 56 78"],
      "company": {"name": "Roux SA"}},
     {"given_name": "Jean", "family_name": "Roux", "phones": ["+33 6 12 34 56 78"],
      "company": {"name": "Roux SA"}}),
    ({"given_name": "Hélène", "family_name": "Lefèvre", "birthday": "1980-05-02",
      "address": {"postcode": "69002", "city": "Lyon"}},
     {"given_name": "Helene", "family_name": "Lefevre", "birthday": "1980-05-02",
      "address": {"postcode": "69002", "city": "Lyon"}}),
    ({"given_name": "Martin", "family_name": "Paul", "emails": ["mp@firm.fr"]},
     {"given_name": "Paul", "family_name": "Martin", "emails": ["mp@firm.fr"]}),
    ({"given_name": "Katharina", "family_name": "Schmidt", "birthday": "1975-11-30",
      "address": {"street": "12 Rosenweg", "postcode": "10115", "city": "Berlin"}},
     {"given_name": "Katharine", "family_name": "Schmidt", "birthday": "1975-11-30",
      "address": {"street": "12 Rosenweg", "postcode": "10115", "city": "Berlin"}}),
    ({"given_name": "Claire", "family_name": "Dubois", "emails": ["claire@dubois.net"]},
     {"given_name": "Claire", "family_name": "Martin", "emails": ["claire@dubois.net"]}),
], ids=["email-case-dots-plus", "phone-formats", "accents", "swapped-names", "typo",
        "married-name-same-email"])
def test_same_person_in_two_sources_becomes_one_contact(
        pipeline: Pipeline, left: dict[str, Any], right: dict[str, Any]) -> None:
    assert ingest_pair(pipeline, person("1", **left), person("2", **right)) == 1


def test_swapped_names_are_recorded_in_the_merge_evidence(pipeline: Pipeline) -> None:
    pipeline.ingest(A, Batch([person("1", given_name="Martin", family_name="Paul",
                                     emails=["mp@firm.fr"]),
                              person("2", given_name="Paul", family_name="Martin",
                                     phones=["0611223344"])]))
    assert len(contacts(pipeline)) == 2  # the names alone are not enough: review
    assert open_reviews(pipeline) == 1
    pipeline.ingest(B, Batch([person("x", given_name="Paul", family_name="Martin",
                                     emails=["mp@firm.fr"], phones=["0611223344"])]))
    assert len(contacts(pipeline)) == 1
    with pipeline.sessions() as session:
        merge = session.scalars(select(MergeEvent)).one()
        assert merge.decided_by == "auto" and merge.score >= 0.95
    model = ProbabilisticResolver(MatchSection()).model
    scored = model.score(Profile.of({"given_key": "martin", "family_key": "paul"}),
                         Profile.of({"given_key": "paul", "family_key": "martin"}))
    assert scored.swapped and scored.levels == {"given": "exact", "family": "exact"}


# -- the hard negatives ------------------------------------------------------------------


def test_same_name_at_different_companies_stays_two_people(pipeline: Pipeline) -> None:
    n = ingest_pair(
        pipeline,
        person("1", given_name="Jean", family_name="Dupont", emails=["jean@acme-indus.fr"],
               company={"name": "Acme Industrie"}, address={"city": "Lyon"}),
        person("2", given_name="Jean", family_name="Dupont",
               emails=["j.dupont@boulangerie.fr"], company={"name": "Boulangerie Durand"},
               address={"city": "Lyon"}))
    assert n == 2


def test_siblings_sharing_a_switchboard_and_a_role_address_stay_apart(
        pipeline: Pipeline) -> None:
    shared = {"family_name": "Moreau", "emails": ["contact@moreau-freres.fr"],
              "phones": ["04 78 00 00 00"], "company": {"name": "Moreau Frères"},
              "address": {"street": "3 rue Neuve", "postcode": "69001", "city": "Lyon"}}
    n = ingest_pair(pipeline, person("1", given_name="Claire", **shared),
                    person("2", given_name="Paul", **shared))
    assert n == 2
    with pipeline.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MergeEvent)) == 0


def test_parent_and_child_with_same_name_and_address_are_never_auto_merged(
        pipeline: Pipeline) -> None:
    home = {"given_name": "Louis", "family_name": "Bernard",
            "address": {"street": "8 allée des Pins", "postcode": "33000",
                        "city": "Bordeaux"}, "phones": ["05 56 00 11 22"]}
    n = ingest_pair(pipeline, person("1", birthday="1950-04-12", **home),
                    person("2", birthday="1982-09-30", **home))
    assert n == 2
    with pipeline.sessions() as session:
        [candidate] = session.scalars(select(MatchCandidate)).all()
        assert candidate.comparison["veto"] == "different birth dates"


@pytest.mark.parametrize("shared", [{"identifiers": {"customer_number": "C-42"}},
                                     {"handles": {"linkedin": "louis-bernard-33"}}],
                         ids=["identifier", "handle"])
def test_one_person_with_two_birth_dates_merges_on_a_shared_identifier_or_handle(
        pipeline: Pipeline, shared: dict[str, Any]) -> None:
    # A birth date mistyped in one source: the customer number or the profile says it is
    # one man, where a parent and a child at one address share neither.
    home = {"given_name": "Louis", "family_name": "Bernard",
            "address": {"street": "8 allée des Pins", "postcode": "33000",
                        "city": "Bordeaux"}, **shared}
    n = ingest_pair(pipeline, person("1", birthday="1950-04-12", **home),
                    person("2", birthday="1982-09-30", **home))
    assert n == 1 and open_reviews(pipeline) == 0


OFFICE = {"company": {"name": "Méndez y Martínez S.L.U."},
          "address": {"street": "Calle Mayor 3", "postcode": "07001", "city": "Palma"}}


@pytest.mark.parametrize(("left", "right"), [
    ({"given_name": "Mónica", "family_name": "Santiago",
      "emails": ["monica_santiago@mendezymartinez.com"], **OFFICE},
     {"given_name": "Verónica", "family_name": "Vega", "phones": ["+34 654 40 92 83"],
      **OFFICE}),
    ({"given_name": "Stéphane", "family_name": "Leroy",
      "emails": ["stephane.leroy@mendezymartinez.com"], **OFFICE},
     {"given_name": "Stéphane", "family_name": "David",
      "emails": ["stephane.david@mendezymartinez.com"], **OFFICE}),
    ({"given_name": "Jessica", "family_name": "Fitzgerald", "phones": ["+44 121 456 8281"],
      "address": {"street": "31 Victoria Road", "postcode": "OX1 2JD", "city": "Oxford"}},
     {"given_name": "Jessica", "family_name": "Barnes", "phones": ["+44 7518 400315"],
      "address": {"street": "84 Victoria Road", "postcode": "OX1 2JD", "city": "Oxford"}}),
], ids=["colleagues-similar-given-names", "colleagues-same-given-name", "neighbours"])
def test_a_shared_workplace_or_street_does_not_outweigh_different_names(
        pipeline: Pipeline, left: dict[str, Any], right: dict[str, Any]) -> None:
    # The company, street, postcode and city are one fact for colleagues (and neighbours
    # share all but the house number): they are scored once, as one place.
    assert ingest_pair(pipeline, person("1", **left), person("2", **right)) == 2
    assert open_reviews(pipeline) == 0


def test_namesakes_with_two_work_addresses_at_one_company_are_two_people_not_a_review(
        pipeline: Pipeline) -> None:
    # Two addresses at one company domain are evidence of two colleagues, not a typo: the
    # pair is neither merged nor put before a reviewer.
    n = ingest_pair(pipeline,
                    person("1", given_name="Jean", family_name="Martin",
                           emails=["jean.martin@acme-indus.fr"], **OFFICE),
                    person("2", given_name="Jean", family_name="Martin",
                           emails=["jean.martin2@acme-indus.fr"], **OFFICE))
    assert n == 2
    assert open_reviews(pipeline) == 0


def test_a_number_shared_by_different_given_names_is_capped_with_its_reason(
        pipeline: Pipeline) -> None:
    shared = {"family_name": "Moreau", "phones": ["04 78 00 00 00"]}
    ingest_pair(pipeline, person("1", given_name="Claire", **shared),
                person("2", given_name="Paul", **shared))
    with pipeline.sessions() as session:
        point = session.scalars(select(SharedPoint)).one()
        assert (point.kind, point.value) == ("phone", "+33478000000")
        assert "names differ" in point.reason


def test_a_key_shared_by_more_records_than_the_cap_stops_producing_candidates(
        engine: Engine) -> None:
    pipeline = Pipeline(engine, HubConfig(match=MatchSection(key_cap=3)))
    rows = [person(str(i), given_name=f"Person{i}x", family_name="Same",
                   address={"postcode": "75001"}) for i in range(5)]
    pipeline.ingest(A, Batch(rows))
    with pipeline.sessions() as session:
        capped = {(p.kind, p.value): p.reason for p in session.scalars(select(SharedPoint))}
    assert any(kind == "fi" for kind, _ in capped)
    assert all("too common" in reason for reason in capped.values())


def scored_pairs(pipeline: Pipeline,
                 monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The (given, given) names of every pair the matcher scores from now on."""
    assert isinstance(pipeline.resolver, ProbabilisticResolver)
    model = pipeline.resolver.model
    scored: list[tuple[str, str]] = []
    score = model.score

    def counting(a: Profile, b: Profile) -> Any:
        scored.append((a.given, b.given))
        return score(a, b)

    monkeypatch.setattr(model, "score", counting)
    return scored


def test_a_capped_key_finds_no_candidate_for_a_later_record(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = Pipeline(engine, HubConfig(match=MatchSection(key_cap=3)))
    assert isinstance(pipeline.resolver, ProbabilisticResolver)
    givens = ["Paul", "Pierre", "Pascal", "Patrick", "Philippe"]
    pipeline.ingest(A, Batch([person(str(i), given_name=g, family_name="Same")
                              for i, g in enumerate(givens)]))  # one key: "same|p"
    with pipeline.sessions() as session:
        assert session.scalar(select(SharedPoint.reason).where(
            SharedPoint.kind == "fi", SharedPoint.value == "same|p")) == \
            "too common: more than 3 records share it"
    scored = scored_pairs(pipeline, monkeypatch)
    # A typo of Paul: only the family name and initial, the capped key, link the two.
    pipeline.ingest(B, Batch([person("again", given_name="Pual", family_name="Same")]))
    assert scored == [] and len(contacts(pipeline)) == 6


def test_a_record_sharing_an_identity_key_is_scored_before_namesakes_past_the_candidate_limit(
        engine: Engine) -> None:
    pipeline = Pipeline(engine, HubConfig(match=MatchSection(max_candidates=1)))
    def namesake(district: int) -> dict[str, Any]:
        return {"given_name": "Jean", "family_name": "Dupont",
                "address": {"postcode": f"6900{district}", "city": "Lyon"}}

    pipeline.ingest(A, Batch([person("first", emails=["jean.dupont@free.fr"], **namesake(1))]))
    pipeline.ingest(A, Batch([person(f"other{i}", phones=[f"06 11 22 33 4{i}"], **namesake(i))
                              for i in range(2, 5)]))
    assert len(contacts(pipeline)) == 4  # the same name in the same town: review, not merge
    # "again" shares more name keys (its postcode) with other2 than with first, but first
    # shares its e-mail: first is the one candidate scored.
    pipeline.ingest(B, Batch([person("again", emails=["Jean.Dupont@free.fr"],
                                     **namesake(2))]))
    with pipeline.sessions() as session:
        first, again = (session.scalars(select(SourceRecord.contact_id).where(
            SourceRecord.external_id == ext)).one() for ext in ("first", "again"))
    assert first == again and len(contacts(pipeline)) == 4


def test_records_stored_without_a_match_profile_are_matched_from_their_body(
        pipeline: Pipeline) -> None:
    pipeline.ingest(A, Batch([person("1", given_name="Anna", family_name="Keller",
                                     emails=["anna.keller@example.com"])]))
    with pipeline.sessions.begin() as session:
        [stored] = session.scalars(select(SourceRecord)).all()
        assert stored.match_profile is not None and stored.match_profile[1:3] == [
            "anna", "keller"]
        stored.match_profile = None  # as stored before revision 0004
    assert isinstance(pipeline.resolver, ProbabilisticResolver)
    pipeline.resolver.cache.entries.clear()  # as after a restart
    pipeline.ingest(B, Batch([person("2", given_name="Anna", family_name="Keller",
                                     emails=["Anna.Keller+crm@example.com"])]))
    assert len(contacts(pipeline)) == 1


def test_a_namesake_linked_by_one_name_key_with_another_given_name_is_not_scored(
        pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    scored = scored_pairs(pipeline, monkeypatch)
    pipeline.ingest(A, Batch([person("1", given_name="Jean", family_name="Martin",
                                     emails=["jean@martin.fr"])]))
    pipeline.ingest(A, Batch([person("2", given_name="Julie", family_name="Martin",
                                     emails=["julie@martin-co.fr"])]))
    assert scored == []  # linked by "martin|j" alone, and Julie is plainly not Jean
    pipeline.ingest(A, Batch([person("3", given_name="Jaen", family_name="Martin",
                                     emails=["jaen@martin.org"])]))
    assert ("jaen", "jean") in scored  # a typo of Jean: scored


def test_a_namesake_with_another_given_name_is_not_even_loaded(
        pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.match.engine as engine_module

    pipeline.ingest(A, Batch([person("1", given_name="Jean", family_name="Martin",
                                     emails=["jean@martin.fr"])]))
    with pipeline.sessions() as session:
        givens = dict(session.execute(select(MatchKey.kind, MatchKey.given)).all())
    assert givens["fi"] == "jean" and givens["email"] is None  # family-name kinds only
    loaded: list[int] = []
    live = engine_module.live_contacts

    def spying(session: Any, ids: Any) -> Any:
        loaded.extend(ids)
        return live(session, ids)

    monkeypatch.setattr(engine_module, "live_contacts", spying)
    pipeline.ingest(A, Batch([person("2", given_name="Julie", family_name="Martin",
                                     emails=["julie@martin-co.fr"])]))
    assert loaded == []  # "martin|j" found Jean's record, and its key said "jean"
    pipeline.ingest(A, Batch([person("3", given_name="Jaen", family_name="Martin",
                                     emails=["jaen@martin.org"])]))
    assert len(set(loaded)) == 1  # a typo of Jean: loaded (and scored)


def test_keys_stored_without_a_given_name_still_keep_namesakes_unscored(
        pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(pipeline.resolver, ProbabilisticResolver)
    pipeline.ingest(A, Batch([person("1", given_name="Jean", family_name="Martin",
                                     emails=["jean@martin.fr"])]))
    with pipeline.sessions.begin() as session:
        session.execute(update(MatchKey).values(given=None))  # as stored before 0005
    scored = scored_pairs(pipeline, monkeypatch)
    pipeline.ingest(A, Batch([person("2", given_name="Julie", family_name="Martin",
                                     emails=["julie@martin-co.fr"])]))
    assert scored == [] and len(contacts(pipeline)) == 2


def test_a_record_matching_two_namesakes_never_joins_them_when_they_conflict(
        pipeline: Pipeline) -> None:
    aurelie = {"given_name": "Aurélie", "family_name": "Richard",
               "company": {"name": "Thomas Services"}, "address": {"city": "Lyon"}}
    pipeline.ingest(A, Batch([person("a", emails=["aurelie.richard.2860@societe260.fr"],
                                     phones=["06 34 09 83 38"], **aurelie),
                              person("b", emails=["aurelie.richard.6884@societe260.fr"],
                                     phones=["06 24 82 39 62"], **aurelie)]))
    assert len(contacts(pipeline)) == 2  # two work addresses at one domain: two people
    # The phone of the first, nothing of the second: it joins the first and also scores
    # high against the second (same name, same company) -- the bridge must not hold.
    pipeline.ingest(B, Batch([person("c", phones=["+33 6 34 09 83 38"], **aurelie)]))
    pipeline.ingest(B, Batch([person("d", emails=["Aurelie.Richard.2860@societe260.fr"],
                                     **aurelie)]))
    with pipeline.sessions() as session:
        owner = dict(session.execute(select(SourceRecord.external_id,
                                            SourceRecord.contact_id)).all())
        assert session.scalar(select(func.count()).select_from(MergeEvent)) == 0
    assert owner["a"] == owner["c"] == owner["d"] != owner["b"]
    assert len(contacts(pipeline)) == 2


# -- review queue ------------------------------------------------------------------------


def unsure_pair(pipeline: Pipeline) -> int:
    """Two records the matcher cannot decide on: the same name and nothing else in common."""
    ingest_pair(pipeline,
                person("1", given_name="Jean", family_name="Dupont", emails=["jd@a-co.fr"]),
                person("2", given_name="Jean", family_name="Dupont", phones=["0611223344"]))
    with pipeline.sessions() as session:
        [row] = list_candidates(session)
        return int(row["id"])


def test_unsure_pair_goes_to_review_and_a_user_merge_joins_them(pipeline: Pipeline) -> None:
    candidate = unsure_pair(pipeline)
    assert len(contacts(pipeline)) == 2
    with pipeline.sessions.begin() as session:
        decision = merge_candidate(session, candidate, by="alice", now=NOW)
    assert len(contacts(pipeline)) == 1
    with pipeline.sessions() as session:
        event = session.get(MergeEvent, decision.merge_id)
        assert event is not None and event.decided_by == "user"
        assert session.get(MatchCandidate, candidate).status == "merged"  # type: ignore[union-attr]


def test_a_merged_review_item_still_shows_the_two_contacts_it_joined(
        pipeline: Pipeline) -> None:
    candidate = unsure_pair(pipeline)
    with pipeline.sessions() as session:
        [proposed] = list_candidates(session)
    pair = (proposed["left_contact"], proposed["right_contact"])
    with pipeline.sessions.begin() as session:
        decision = merge_candidate(session, candidate, by="alice", now=NOW)
    with pipeline.sessions() as session:
        [merged] = list_candidates(session, status="all")
    assert (merged["left_contact"], merged["right_contact"]) == pair
    assert merged["contact_now"] == [decision.survivor_id] * 2


def test_rejection_is_remembered_and_the_pair_is_never_proposed_again(
        pipeline: Pipeline) -> None:
    candidate = unsure_pair(pipeline)
    with pipeline.sessions.begin() as session:
        reject_candidate(session, candidate, by="alice", now=NOW)
    # Both records change; a third record that links them strongly arrives.
    pipeline.ingest(A, Batch([person("1", given_name="Jean", family_name="Dupont",
                                     emails=["jd@a-co.fr"], title="CEO")]))
    pipeline.ingest(B, Batch([person("2", given_name="Jean", family_name="Dupont",
                                     phones=["0611223344"], title="CTO")]))
    pipeline.ingest(B, Batch([person("3", given_name="Jean", family_name="Dupont",
                                     emails=["jd@a-co.fr"], phones=["0611223344"])]))
    assert len(contacts(pipeline)) == 2
    assert open_reviews(pipeline) == 0
    with pipeline.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MatchRejection)) == 1


def test_rejecting_twice_or_an_unknown_candidate_is_refused(pipeline: Pipeline) -> None:
    candidate = unsure_pair(pipeline)
    with pipeline.sessions.begin() as session:
        reject_candidate(session, candidate, by="alice", now=NOW)
    with pipeline.sessions.begin() as session, pytest.raises(ReviewError, match="rejected"):
        reject_candidate(session, candidate, by="alice", now=NOW)
    with pipeline.sessions.begin() as session, pytest.raises(ReviewError, match="no review"):
        merge_candidate(session, 999, by="alice", now=NOW)


# -- unmerge and splits ------------------------------------------------------------------


def keys_follow_their_records(pipeline: Pipeline) -> bool:
    """Every stored match key names its source record's contact (merges move them by
    record), and there are keys to check."""
    with pipeline.sessions() as session:
        pairs = session.execute(select(MatchKey.contact_id, SourceRecord.contact_id).join(
            SourceRecord, SourceRecord.id == MatchKey.source_record_id)).all()
    return bool(pairs) and all(key == record for key, record in pairs)


def test_unmerge_restores_exactly_the_state_before_the_merge(pipeline: Pipeline) -> None:
    pipeline.ingest(A, Batch([person("1", given_name="Kim", family_name="Wu",
                                     emails=["kim@wu.io"], title="Engineer"),
                              person("2", given_name="Kim", family_name="Wu",
                                     emails=["kim@home.net"], phones=["0612345678"])]))
    before = sorted((without_ids(r) for r in contacts(pipeline)), key=str)
    pipeline.ingest(B, Batch([person("b", given_name="Kim", family_name="Wu",
                                     emails=["kim@wu.io", "kim@home.net"])]))
    assert len(contacts(pipeline)) == 1
    assert keys_follow_their_records(pipeline)
    with pipeline.sessions() as session:
        merge = session.scalars(select(MergeEvent)).one()
        survivor, merged = merge.survivor_id, merge.merged_id
    with pipeline.sessions.begin() as session:
        unmerge(session, merge.id, by="alice", now=NOW)
    assert keys_follow_their_records(pipeline)
    rows = contacts(pipeline)
    assert len(rows) == 2
    restored = next(r for r in rows if r["id"] == merged)
    assert [s["external_id"] for s in restored["sources"]] == ["2"]
    # The bridging record stays with the survivor; without it, both are as before.
    with pipeline.sessions.begin() as session:
        record = session.scalars(select(SourceRecord).where(
            SourceRecord.external_id == "b")).one()
        assert record.contact_id == survivor
    pipeline.ingest(B, Batch([Observation(kind="person", external_id="b", observed_at=T0,
                                          deleted=True)]))
    after = sorted((without_ids(r) for r in contacts(pipeline)), key=str)
    assert after == before
    with pipeline.sessions.begin() as session, pytest.raises(ReviewError, match="undone"):
        unmerge(session, merge.id, by="alice", now=NOW)


def test_a_record_that_no_longer_matches_is_split_off_and_the_split_logged(
        pipeline: Pipeline) -> None:
    pipeline.ingest(A, Batch([person("1", given_name="Eva", family_name="Lind",
                                     emails=["eva@lind.se"])]))
    pipeline.ingest(B, Batch([person("2", given_name="Eva", family_name="Lind",
                                     emails=["eva@lind.se"])]))
    assert len(contacts(pipeline)) == 1
    # The second source re-used its row for someone else entirely.
    pipeline.ingest(B, Batch([person("2", given_name="Oskar", family_name="Berg",
                                     emails=["oskar@berg.se"])]))
    rows = contacts(pipeline)
    assert sorted(r["full_name"] for r in rows) == ["Eva Lind", "Oskar Berg"]
    with pipeline.sessions() as session:
        split = session.scalars(select(MergeEvent).where(MergeEvent.action == "split")).one()
        assert "no longer matches" in (split.reason or "")


def test_a_contact_a_user_merged_is_never_split_automatically(pipeline: Pipeline) -> None:
    candidate = unsure_pair(pipeline)
    with pipeline.sessions.begin() as session:
        merge_candidate(session, candidate, by="alice", now=NOW)
    pipeline.ingest(B, Batch([person("2", given_name="Zoe", family_name="Quinn",
                                     phones=["0799887766"])]))
    assert len(contacts(pipeline)) == 1


# -- batch: training, re-deduplication, agreement with streaming --------------------------


GIVEN = ["Anna", "Louis", "Emma", "Hugo", "Chloé", "Jules", "Léa", "Adam", "Inès", "Gabriel",
         "Manon", "Lucas", "Jade", "Nathan", "Camille", "Théo", "Sarah", "Tom", "Lina", "Noah"]
FAMILY = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
          "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David",
          "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier"]


def generated(n: int, seed: int) -> list[Observation]:
    """People with e-mails, phones, birthdays and addresses; ~25% re-entered with noise."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        base = {"given_name": given, "family_name": family,
                "birthday": f"19{rng.randint(40, 99)}-{rng.randint(1, 12):02d}-"
                            f"{rng.randint(1, 28):02d}",
                "emails": [f"{given.lower()}.{family.lower()}{i}@mail{i % 7}.fr"],
                "phones": [f"06{rng.randint(10_000_000, 99_999_999)}"],
                "address": {"postcode": f"{rng.randint(10, 95)}0{rng.randint(0, 9)}0",
                            "city": rng.choice(["Paris", "Lyon", "Lille", "Nantes"])}}
        out.append(person(f"p{i}", **base))
        if rng.random() < 0.25:
            noisy = dict(base)
            if rng.random() < 0.5:
                noisy["emails"] = [base["emails"][0].upper()]
                noisy["phones"] = []
            else:
                noisy["given_name"] = given[:-1] + "e" if len(given) > 3 else given
                noisy["emails"] = []
            out.append(person(f"d{i}", **noisy))
    rng.shuffle(out)
    return out


def test_streaming_and_batch_agree_on_a_generated_set(engine: Engine) -> None:
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(default_region="FR")))
    observations = generated(400, seed=7)
    for start in range(0, len(observations), 50):
        pipeline.ingest(A, Batch(observations[start:start + 50]))
    resolver = pipeline.resolver
    assert isinstance(resolver, ProbabilisticResolver)
    with pipeline.sessions.begin() as session:
        report = rededuplicate(session, resolver, NOW, apply=False)
    assert report.records == len(observations)
    assert report.agreement["f1"] >= 0.995
    assert len(contacts(pipeline)) < len(observations)  # duplicates were found


def test_training_stores_a_model_the_resolver_then_uses(engine: Engine) -> None:
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(default_region="FR")))
    pipeline.ingest(A, Batch(generated(300, seed=3)))
    resolver = pipeline.resolver
    assert isinstance(resolver, ProbabilisticResolver)
    with pipeline.sessions.begin() as session:
        report = train(session, resolver, NOW, random_pairs=5000)
    assert report.model_id is not None and report.candidate_pairs > 0
    assert 0 < report.prior < 1 and 0.05 <= report.duplicates <= 5
    # Exact names are far likelier among matches than among random pairs.
    assert report.m["family"]["exact"] > 10 * report.u["family"]["exact"]
    with pipeline.sessions() as session:
        model = resolver.refresh(session)
        assert model.trained and resolver.model_id == session.scalar(
            select(func.max(MatchModel.id)))
        # Names the set never holds (no term frequency): the trained m/u and duplicates
        # give the weight, over the minimum population of 1,000 records.
        twin = Profile.of({"given_key": "zoltan", "family_key": "quaglia"})
        expected = math.log2(report.duplicates / 1000) + sum(
            math.log2(report.m[name]["exact"] / report.u[name]["exact"])
            for name in ("given", "family"))
        scored = model.score(twin, twin)
        assert scored.weight == pytest.approx(expected, abs=0.01)
        assert scored.probability == pytest.approx(1 / (1 + 2 ** -expected), rel=0.01)


def test_batch_run_merges_what_streaming_left_apart_and_queues_the_unsure(
        engine: Engine) -> None:
    strict = Pipeline(engine, HubConfig(match=MatchSection(auto_merge=1.0, review=1.0)))
    strict.ingest(A, Batch([person("1", given_name="Ada", family_name="King",
                                   emails=["ada@king.io"]),
                            person("2", given_name="Ada", family_name="King",
                                   emails=["ada@king.io"])]))
    assert len(contacts(strict)) == 2
    normal = Pipeline(engine, HubConfig())
    resolver = normal.resolver
    assert isinstance(resolver, ProbabilisticResolver)
    with normal.sessions.begin() as session:
        report = rededuplicate(session, resolver, NOW)
    assert len(report.merges) == 1
    assert len(contacts(normal)) == 1
    with normal.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contact)
                              .where(Contact.merged_into_id.is_not(None))) == 1


def test_contacts_show_and_explain_after_an_unmerge_say_it_was_undone(
        pipeline: Pipeline, db_url: str, tmp_path: Path) -> None:
    """`contacts show` crashed on the unmerged event's datetime; --json wrote it with a
    space instead of ISO 8601."""
    pipeline.ingest(A, Batch([person("1", given_name="Kim", family_name="Wu",
                                     emails=["kim@wu.io"]),
                              person("2", given_name="Kim", family_name="Wu",
                                     emails=["kim@home.net"])]))
    pipeline.ingest(B, Batch([person("b", given_name="Kim", family_name="Wu",
                                     emails=["kim@wu.io", "kim@home.net"])]))
    with pipeline.sessions.begin() as session:
        merge = session.scalars(select(MergeEvent)).one()
        unmerge(session, merge.id, by="alice", now=NOW)
    config = tmp_path / "crmhub.toml"
    config.write_text("[hub]\n", encoding="utf-8")

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, [*args, "--config", str(config)],
                                    env={"CRMHUB_DATABASE_URL": db_url})
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    shown = json.loads(run("contacts", "show", str(merge.survivor_id), "--json"))
    (event,) = shown["merges"]
    assert event["undone_at"] == NOW.isoformat()
    assert '"undone_at": "' in run("contacts", "show", str(merge.survivor_id))
    assert f"(undone {NOW.isoformat()})" in run("contacts", "explain", str(merge.survivor_id))


def test_a_record_joined_without_a_merge_can_be_split_off_and_stays_apart(
        pipeline: Pipeline) -> None:
    """A record that joined an existing contact leaves no merge to undo: split it."""
    pipeline.ingest(A, Batch([person("1", given_name="Jean", family_name="Dupont",
                                     emails=["jean.dupont@gmail.com"])]))
    pipeline.ingest(B, Batch([person("b", given_name="Jean", family_name="Dupont",
                                     emails=["jean.dupont@gmail.com"], title="Plumber")]))
    [joined] = contacts(pipeline)
    assert len(joined["sources"]) == 2
    with pipeline.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MergeEvent)) == 0
        record = session.scalars(select(SourceRecord.id).where(
            SourceRecord.external_id == "b")).one()

    with pipeline.sessions.begin() as session:
        event = split_record(session, record, by="alice", now=NOW)

    rows = {r["id"]: r for r in contacts(pipeline)}
    assert set(rows) == {event.survivor_id, event.merged_id}
    assert [s["external_id"] for s in rows[event.merged_id]["sources"]] == ["b"]
    assert rows[event.merged_id]["title"] == "Plumber" and rows[event.survivor_id]["title"] is None
    assert keys_follow_their_records(pipeline)
    # The next sync of either record does not join them again.
    pipeline.ingest(B, Batch([person("b", given_name="Jean", family_name="Dupont",
                                     emails=["jean.dupont@gmail.com"], title="Plumber, MD")]))
    assert len(contacts(pipeline)) == 2
    with pipeline.sessions.begin() as session, pytest.raises(ReviewError, match="alone"):
        split_record(session, record, by="alice", now=NOW)


def test_a_review_item_whose_merge_was_undone_reads_unmerged(pipeline: Pipeline) -> None:
    candidate = unsure_pair(pipeline)
    with pipeline.sessions.begin() as session:
        decision = merge_candidate(session, candidate, by="alice", now=NOW)
    assert decision.merge_id is not None
    with pipeline.sessions.begin() as session:
        unmerge(session, decision.merge_id, by="bob", now=NOW)
    with pipeline.sessions() as session:
        [row] = list_candidates(session, status="all")
    assert (row["status"], row["decided_by"]) == ("unmerged", "bob")


# -- the review queue after merges ----------------------------------------------------------


def three_jean_duponts(engine: Engine) -> tuple[Pipeline, dict[str, int]]:
    """Three Jean Duponts the matcher cannot decide on: each pair goes to review (the
    review threshold lowered so that the two with different e-mails and birth dates do
    too)."""
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(default_region="FR"),
                                          match=MatchSection(review=0.01)))
    pipeline.ingest(A, Batch([person("1", given_name="Jean", family_name="Dupont",
                                     emails=["jd@a-co.fr"], birthday="1970-01-01")]))
    pipeline.ingest(B, Batch([person("2", given_name="Jean", family_name="Dupont",
                                     phones=["0611223344"])]))
    pipeline.ingest(ConnectorConfig(name="crm-c", kind="csv"), Batch([person(
        "3", given_name="Jean", family_name="Dupont", emails=["jean@dupont.net"],
        birthday="1971-05-05")]))
    with pipeline.sessions() as session:
        items = list_candidates(session)
        records = dict(session.execute(select(SourceRecord.external_id, SourceRecord.id)).all())
    assert len(items) == 3
    return pipeline, {f"{a}-{b}": next(i["id"] for i in items if {
        i["left_record"], i["right_record"]} == {records[a], records[b]})
        for a, b in (("1", "2"), ("1", "3"), ("2", "3"))}


def test_merging_a_review_item_closes_only_the_items_it_settled(engine: Engine) -> None:
    pipeline, items = three_jean_duponts(engine)
    with pipeline.sessions.begin() as session:
        merge_candidate(session, items["1-2"], by="alice", now=NOW)
    with pipeline.sessions() as session:
        status = {k: session.get(MatchCandidate, v).status  # type: ignore[union-attr]
                  for k, v in items.items()}
    # 1-3 and 2-3 still point at a third contact: they stay open, one decision each
    assert status == {"1-2": "merged", "1-3": "open", "2-3": "open"}
    with pipeline.sessions.begin() as session:
        merge_candidate(session, items["1-3"], by="alice", now=NOW)
    with pipeline.sessions() as session:
        settled = session.get(MatchCandidate, items["2-3"])
        assert settled is not None and settled.status == "merged"
        assert settled.decided_by == "auto"
        assert "both records are in contact" in settled.comparison["closed"]


def test_items_a_batch_run_settled_close_themselves_with_the_reason(engine: Engine) -> None:
    queued = Pipeline(engine, HubConfig(match=MatchSection(auto_merge=1.0, review=0.01)))
    queued.ingest(A, Batch([person("1", given_name="Ada", family_name="King",
                                   emails=["ada@king.io"]),
                            person("2", given_name="Ada", family_name="King",
                                   emails=["ada@king.io"])]))
    assert open_reviews(queued) == 1
    normal = Pipeline(engine, HubConfig())
    assert isinstance(normal.resolver, ProbabilisticResolver)
    with normal.sessions.begin() as session:
        rededuplicate(session, normal.resolver, NOW)
    assert len(contacts(normal)) == 1
    assert open_reviews(normal) == 0
    with normal.sessions() as session:
        [item] = session.scalars(select(MatchCandidate))
    assert item.status == "merged" and "crmhub match run" in item.comparison["closed"]


def test_a_batch_merge_is_logged_with_its_score_and_levels(engine: Engine) -> None:
    strict = Pipeline(engine, HubConfig(match=MatchSection(auto_merge=1.0, review=1.0)))
    strict.ingest(A, Batch([person("1", given_name="Ada", family_name="King",
                                   emails=["ada@king.io"]),
                            person("2", given_name="Ada", family_name="King",
                                   emails=["ada@king.io"])]))
    normal = Pipeline(engine, HubConfig())
    assert isinstance(normal.resolver, ProbabilisticResolver)
    with normal.sessions.begin() as session:
        rededuplicate(session, normal.resolver, NOW)
    with normal.sessions() as session:
        [event] = session.scalars(select(MergeEvent))
    assert 0.9 < event.score < 1.0
    assert event.comparison["levels"]["email"] == "exact"
    assert event.comparison["rule"] == "batch re-deduplication"


def test_the_batch_run_scores_a_duplicate_with_given_and_family_names_swapped(
        engine: Engine) -> None:
    strict = Pipeline(engine, HubConfig(match=MatchSection(auto_merge=1.0, review=1.0)))
    strict.ingest(A, Batch([
        person("1", given_name="Martin", family_name="Paul", birthday="1975-11-30",
               address={"street": "12 rue Vendôme", "postcode": "69006", "city": "Lyon"}),
        person("2", given_name="Paul", family_name="Martin", birthday="1975-11-30",
               address={"street": "12 rue Vendôme", "postcode": "69006", "city": "Lyon"})]))
    assert len(contacts(strict)) == 2
    normal = Pipeline(engine, HubConfig())
    assert isinstance(normal.resolver, ProbabilisticResolver)
    with normal.sessions.begin() as session:
        report = rededuplicate(session, normal.resolver, NOW)
    assert len(report.merges) == 1 and len(contacts(normal)) == 1
    with normal.sessions() as session:
        [event] = session.scalars(select(MergeEvent))
    assert event.comparison.get("swapped_names") is True


def test_the_batch_run_weighs_nothing_on_a_number_capped_as_a_switchboard(
        pipeline: Pipeline) -> None:
    switchboard = "04 72 00 00 00"
    pipeline.ingest(A, Batch([
        person("1", given_name="Paul", family_name="Moreau", phones=[switchboard]),
        person("2", given_name="Anne", family_name="Moreau", phones=[switchboard])]))
    resolver = pipeline.resolver
    assert isinstance(resolver, ProbabilisticResolver)
    with pipeline.sessions() as session:
        capped = session.scalars(select(SharedPoint.value).where(
            SharedPoint.kind == "phone")).all()
        store = load_store(session, resolver)
    assert capped == ["+33472000000"]  # two different given names: a switchboard
    assert all(not profile.phones for profile in store.profiles.values())


def test_training_estimates_the_duplicate_rate_of_a_set_whose_rate_is_known(
        engine: Engine) -> None:
    """A quarter of 1,000 people re-entered with noise: 0.4 duplicates per record (each
    re-entered pair counts for both its records). The EM used to take every candidate
    pair for a match and report several times that."""
    observations = generated(1000, seed=5)
    pairs = sum(1 for o in observations if o.external_id.startswith("d"))
    truth = 2 * pairs / len(observations)
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(default_region="FR")))
    pipeline.ingest(A, Batch(observations))
    resolver = pipeline.resolver
    assert isinstance(resolver, ProbabilisticResolver)
    with pipeline.sessions.begin() as session:
        report = train(session, resolver, NOW, random_pairs=20000, store=False)
    assert 0.35 < truth < 0.45
    assert report.duplicates == pytest.approx(truth, rel=0.2)
