"""CRM data's hard negatives: namesakes at one company, shared lines, rows that cannot tell
two people apart (the cases benchmarks/crm_like.py measures at scale)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from hub.config import ConnectorConfig, HubConfig, HubSection, MatchSection
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.match.batch import rededuplicate
from hub.match.compare import Profile, comparators
from hub.match.engine import ProbabilisticResolver
from hub.match.score import Model
from hub.normalize import is_mobile
from hub.store.model import MatchCandidate, SourceRecord
from tests.match.test_matching import NOW, contacts, open_reviews, person

GOOGLE = ConnectorConfig(name="google", kind="csv")
OUTLOOK = ConnectorConfig(name="outlook", kind="csv")
LINKEDIN = ConnectorConfig(name="linkedin", kind="csv")
ACME = {"company": {"name": "Acme Industrie SAS"}}
SWITCHBOARD = "01 44 55 66 77"


def fr_pipeline(engine: Engine, **match: Any) -> Pipeline:
    return Pipeline(engine, HubConfig(hub=HubSection(default_region="FR"),
                                      match=MatchSection(**match)))


def contact_of(pipeline: Pipeline, connector: str, external_id: str) -> int | None:
    with pipeline.sessions() as session:
        return session.scalar(select(SourceRecord.contact_id).where(
            SourceRecord.connector == connector, SourceRecord.external_id == external_id))


def two_jean_martins(pipeline: Pipeline) -> None:
    """Two namesakes at Acme, each with a work address and a mobile of their own."""
    pipeline.ingest(OUTLOOK, Batch([
        person("o1", given_name="Jean", family_name="Martin", phones=["06 11 22 33 44"],
               emails=["jean.martin@acme.fr"], **ACME),
        person("o2", given_name="Jean", family_name="Martin", phones=["06 55 66 77 88"],
               emails=["jean.martin2@acme.fr"], **ACME)]))


def test_mobile_lines_are_told_from_landlines_and_ambiguous_numbers() -> None:
    assert is_mobile("+33612345678")
    assert is_mobile("+447911123456")
    assert not is_mobile("+33144556677")  # a Paris landline
    assert not is_mobile("+12015550123")  # North America: fixed line or mobile
    assert not is_mobile("not a number")


def test_namesakes_at_one_company_sharing_its_switchboard_stay_two_people(
        engine: Engine) -> None:
    # The switchboard typed as each one's work phone is the only number they share; each
    # has a mobile of their own.
    pipeline = fr_pipeline(engine)
    pipeline.ingest(GOOGLE, Batch([person("g1", given_name="Jean", family_name="Martin",
                                          phones=["06 11 22 33 44", SWITCHBOARD], **ACME)]))
    pipeline.ingest(OUTLOOK, Batch([person("o1", given_name="Jean", family_name="Martin",
                                           phones=["06 55 66 77 88", SWITCHBOARD], **ACME)]))
    assert len(contacts(pipeline)) == 2
    assert open_reviews(pipeline) == 0  # two people, not a question for a reviewer


def test_an_assistant_line_shared_by_two_executives_does_not_merge_them(
        engine: Engine) -> None:
    pipeline = fr_pipeline(engine)
    assistant = "01 40 00 00 01"
    pipeline.ingest(OUTLOOK, Batch([
        person("o1", given_name="Maggie", family_name="Dias", phones=["06 19 14 30 87",
                                                                     assistant], **ACME),
        person("o2", given_name="Aurélie", family_name="Marie", phones=["06 67 67 18 77",
                                                                        assistant], **ACME)]))
    assert len(contacts(pipeline)) == 2


def test_a_job_change_with_the_same_mobile_still_merges(engine: Engine) -> None:
    pipeline = fr_pipeline(engine)
    pipeline.ingest(GOOGLE, Batch([person(
        "g1", given_name="Claire", family_name="Morel", phones=["06 11 22 33 44"],
        emails=["claire.morel@old-firm.fr"], company={"name": "Old Firm"})]))
    pipeline.ingest(OUTLOOK, Batch([person(
        "o1", given_name="Claire", family_name="Morel",
        phones=["+33 6 11 22 33 44", "01 40 00 00 02"], emails=["c.morel@new-firm.fr"],
        company={"name": "New Firm"})]))
    assert len(contacts(pipeline)) == 1


def test_the_mobile_veto_is_reported_and_can_be_turned_off() -> None:
    jean = Profile.of({"given_key": "jean", "family_key": "martin",
                       "phones": [{"value": "+33611223344"}, {"value": "+33144556677"}]})
    namesake = Profile.of({"given_key": "jean", "family_key": "martin",
                           "phones": [{"value": "+33655667788"}, {"value": "+33144556677"}]})
    model = Model.default(comparators())
    scored = model.score(jean, namesake)
    assert scored.veto is not None and "different mobile numbers" in scored.veto
    assert scored.distinct and scored.as_dict()["two_people"] is True
    model.vetoes = frozenset({"email_domain"})
    assert model.score(jean, namesake).veto is None


def test_a_row_with_only_a_name_and_the_company_joins_neither_of_two_namesakes_there(
        engine: Engine) -> None:
    pipeline = fr_pipeline(engine)
    two_jean_martins(pipeline)
    assert len(contacts(pipeline)) == 2
    pipeline.ingest(LINKEDIN, Batch([person("n1", given_name="Jean", family_name="Martin",
                                            **ACME)]))
    mine = contact_of(pipeline, "linkedin", "n1")
    assert mine not in (contact_of(pipeline, "outlook", "o1"),
                        contact_of(pipeline, "outlook", "o2"))
    assert len(contacts(pipeline)) == 3
    assert open_reviews(pipeline) == 2  # one question per namesake it may be


def test_a_row_matching_one_namesake_far_better_joins_that_one(engine: Engine) -> None:
    pipeline = fr_pipeline(engine)
    two_jean_martins(pipeline)
    pipeline.ingest(LINKEDIN, Batch([person("n1", given_name="Jean", family_name="Martin",
                                            emails=["jean.martin2@acme.fr"], **ACME)]))
    assert contact_of(pipeline, "linkedin", "n1") == contact_of(pipeline, "outlook", "o2")


def test_the_batch_run_does_not_settle_a_row_between_two_namesakes_either(
        engine: Engine) -> None:
    # Imported with merging off, then `match run` with the defaults.
    off = fr_pipeline(engine, auto_merge=1.0, review=1.0)
    two_jean_martins(off)
    off.ingest(LINKEDIN, Batch([person("n1", given_name="Jean", family_name="Martin",
                                       **ACME)]))
    assert len(contacts(off)) == 3
    normal = fr_pipeline(engine)
    resolver = normal.resolver
    assert isinstance(resolver, ProbabilisticResolver)
    with normal.sessions.begin() as session:
        report = rededuplicate(session, resolver, NOW)
    assert report.merges == []
    assert len(contacts(normal)) == 3
    with normal.sessions() as session:
        record = {r.id: r.external_id for r in session.scalars(select(SourceRecord))}
        queued = {frozenset((record[c.left_record_id], record[c.right_record_id]))
                  for c in session.scalars(select(MatchCandidate)
                                           .where(MatchCandidate.status == "open"))}
    assert queued == {frozenset(("n1", "o1")), frozenset(("n1", "o2"))}


def test_namesakes_at_two_companies_are_not_put_to_a_reviewer(engine: Engine) -> None:
    # Names alone never merge; when something else disagrees (another company), the pair
    # is not a question either, however low the review threshold.
    pipeline = fr_pipeline(engine, review=0.01)
    pipeline.ingest(GOOGLE, Batch([person("g1", given_name="Jean", family_name="Martin",
                                          company={"name": "Acme Industrie"})]))
    pipeline.ingest(OUTLOOK, Batch([person("o1", given_name="Jean", family_name="Martin",
                                           company={"name": "Zenith Conseil"})]))
    assert len(contacts(pipeline)) == 2
    assert open_reviews(pipeline) == 0


def test_namesakes_with_nothing_else_known_still_go_to_review(engine: Engine) -> None:
    pipeline = fr_pipeline(engine, review=0.01)
    pipeline.ingest(GOOGLE, Batch([person("g1", given_name="Jean", family_name="Martin",
                                          phones=["06 11 22 33 44"])]))
    pipeline.ingest(LINKEDIN, Batch([person("n1", given_name="Jean", family_name="Martin",
                                            **ACME)]))
    assert len(contacts(pipeline)) == 2
    assert open_reviews(pipeline) == 1
