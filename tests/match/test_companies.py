"""Companies through the contacts' machinery: golden record, review, merge, unmerge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from hub.cli.main import main
from hub.config import ConnectorConfig, HubConfig, HubSection
from hub.connectors import Batch
from hub.export import export_contacts
from hub.ingest.pipeline import Pipeline
from hub.match.companies import company_view, merge_companies
from hub.match.review import (
    ReviewError,
    list_candidates,
    merge_candidate,
    reject_candidate,
    unmerge,
)
from hub.records import Observation
from hub.store.model import Company, CompanyDomain, MatchCandidate, MergeEvent, OutboxEvent
from tests.routing.support import ACCOUNT_OWNER_ONLY, routing_from

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 2, tzinfo=UTC)
CRM = ConnectorConfig(name="crm", kind="csv")
ERP = ConnectorConfig(name="erp", kind="csv")


def company(ext: str, name: str, country: str, *domains: str, at: datetime = T0,
            **fields: Any) -> Observation:
    return Observation(kind="company", external_id=ext, observed_at=at, company={
        "name": name, "domains": list(domains), "address": {"country": country}, **fields})


def person(ext: str, given: str, email: str) -> Observation:
    return Observation(kind="person", external_id=ext, observed_at=T0, person={
        "given_name": given, "family_name": "Weber", "emails": [{"value": email}]})


@pytest.fixture
def pipeline(engine: Engine) -> Pipeline:
    return Pipeline(engine, HubConfig(hub=HubSection(default_region="FR")))


def acme_in_two_countries(pipeline: Pipeline) -> tuple[int, int]:
    """Acme SAS (FR, acme.fr) and Acme GmbH (DE, acme.de), each with one employee."""
    pipeline.ingest(CRM, Batch([company("c1", "Acme SAS", "FR", "acme.fr"),
                                company("c2", "Acme GmbH", "DE", "acme.de")]))
    pipeline.ingest(CRM, Batch([person("p1", "Anna", "anna@acme.fr"),
                                person("p2", "Bernd", "bernd@acme.de")]))
    with pipeline.sessions() as session:
        fr, de = (session.scalar(select(CompanyDomain.company_id).where(
            CompanyDomain.domain == d)) for d in ("acme.fr", "acme.de"))
    assert fr is not None and de is not None and fr != de
    return fr, de


def companies_of_contacts(pipeline: Pipeline) -> dict[str, str | None]:
    with pipeline.sessions() as session:
        return {c["given_name"]: (c["company"] or {}).get("name")
                for c in export_contacts(session)}


def test_a_company_named_like_one_in_another_country_is_kept_apart_and_queued(
        pipeline: Pipeline) -> None:
    fr, de = acme_in_two_countries(pipeline)
    with pipeline.sessions() as session:
        [candidate] = list_candidates(session, entity="company")
        assert list_candidates(session) == []  # the contacts' queue is not mixed in
    assert {candidate["left_company"], candidate["right_company"]} == {fr, de}
    assert "same name" in candidate["comparison"]["rule"]
    pipeline.ingest(ERP, Batch([company("e2", "ACME GMBH", "DE")]))  # the same name again
    with pipeline.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MatchCandidate)) == 1
        assert session.scalar(select(func.count()).select_from(Company)) == 2


def test_merging_a_company_candidate_moves_domains_and_staff_and_unmerge_restores_them(
        pipeline: Pipeline) -> None:
    fr, de = acme_in_two_countries(pipeline)
    before = companies_of_contacts(pipeline)
    assert before == {"Anna": "Acme SAS", "Bernd": "Acme GmbH"}
    with pipeline.sessions.begin() as session:
        [candidate] = list_candidates(session, entity="company")
        decision = merge_candidate(session, candidate["id"], by="alice", now=NOW)
    assert decision.survivor_id == min(fr, de) and decision.merge_id is not None
    with pipeline.sessions() as session:
        view = company_view(session, decision.survivor_id)
        assert view is not None and view["domains"] == ["acme.de", "acme.fr"]
        assert view["contacts"] == 2
        assert session.scalar(select(OutboxEvent.type).where(
            OutboxEvent.type == "company.merged")) == "company.merged"
    assert set(companies_of_contacts(pipeline).values()) == {view["name"]}  # one company
    with pipeline.sessions.begin() as session:
        event = unmerge(session, decision.merge_id, by="alice", now=NOW)
        assert event.entity == "company"
    assert companies_of_contacts(pipeline) == before
    with pipeline.sessions() as session:
        assert {d for d, in session.execute(select(CompanyDomain.domain).where(
            CompanyDomain.company_id == de))} == {"acme.de"}
        assert session.get(Company, max(fr, de)).merged_into_id is None  # type: ignore[union-attr]


def test_after_a_merge_the_merged_company_country_finds_the_survivor(
        pipeline: Pipeline) -> None:
    fr, de = acme_in_two_countries(pipeline)
    with pipeline.sessions.begin() as session:
        merge_companies(session, fr, de, reason="same group", decided_by="user", now=NOW)
    # The user said an Acme in DE is this company: a new German Acme joins it.
    pipeline.ingest(ERP, Batch([company("e3", "Acme", "DE")]))
    with pipeline.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Company).where(
            Company.merged_into_id.is_(None))) == 1
        assert session.scalar(select(func.count()).select_from(MatchCandidate).where(
            MatchCandidate.status == "open")) == 1  # the first proposal only


def test_a_rejected_company_pair_is_remembered_and_never_merged(pipeline: Pipeline) -> None:
    fr, de = acme_in_two_countries(pipeline)
    with pipeline.sessions.begin() as session:
        [candidate] = list_candidates(session, entity="company")
        decision = reject_candidate(session, candidate["id"], by="alice", now=NOW)
        assert decision.status == "rejected" and decision.rejected_pairs == 1
    with pipeline.sessions.begin() as session, pytest.raises(Exception, match="rejected"):
        merge_companies(session, fr, de, reason="test", decided_by="user", now=NOW)
    with pipeline.sessions.begin() as session, pytest.raises(ReviewError, match="already"):
        merge_candidate(session, candidate["id"], by="bob", now=NOW)


def test_a_company_golden_record_comes_from_its_records_with_provenance(
        pipeline: Pipeline) -> None:
    pipeline.ingest(CRM, Batch([company("c1", "Acme SAS", "FR", "acme.fr",
                                        industry="Machinery", employees=120)]))
    later = T0 + timedelta(days=3)
    pipeline.ingest(ERP, Batch([company("e1", "Acme SAS", "FR", "acme.fr", at=later,
                                        industry="Industrial machinery")]))
    with pipeline.sessions() as session:
        [row] = session.scalars(select(Company)).all()
        view = company_view(session, row.id)
    assert view is not None
    assert view["industry"] == "Industrial machinery" and view["employees"] == 120
    assert view["provenance"]["industry"]["connector"] == "erp"
    assert view["provenance"]["employees"]["connector"] == "crm"
    # The newer record goes away: the older value comes back (never overwritten in place).
    pipeline.ingest(ERP, Batch([Observation(kind="company", external_id="e1",
                                            observed_at=later, deleted=True)]))
    with pipeline.sessions() as session:
        view = company_view(session, row.id)
    assert view is not None and view["industry"] == "Machinery"


def test_companies_cli_merges_shows_and_unmerges(pipeline: Pipeline, db_url: str,
                                                tmp_path: Path) -> None:
    fr, de = acme_in_two_countries(pipeline)
    config = tmp_path / "crmhub.toml"
    config.write_text('[hub]\ndefault_region = "FR"\n')
    env = {"CRMHUB_DATABASE_URL": db_url}

    def run(*args: str, code: int = 0) -> Any:
        result = CliRunner().invoke(main, [*args, "--config", str(config)], env=env)
        assert result.exit_code == code, (result.output, result.exception)
        return json.loads(result.stdout) if "--json" in args else result.output

    listed = run("review", "list", "--entity", "company", "--json")
    assert [(c["left_company"], c["right_company"]) for c in listed] == [(min(fr, de),
                                                                          max(fr, de))]
    merged = run("companies", "merge", str(fr), str(de), "--json")
    shown = run("companies", "show", str(fr), "--json")
    assert shown["domains"] == ["acme.de", "acme.fr"] and shown["contacts"] == 2
    assert shown["provenance"]["name"]["connector"] == "crm"
    assert "merged into" in run("companies", "merge", str(fr), str(de), code=1)
    undone = run("unmerge", str(merged["merge_id"]), "--json")
    assert undone["entity"] == "company" and undone["restored_id"] == de
    with pipeline.sessions() as session:
        event = session.get(MergeEvent, merged["merge_id"])
        assert event is not None and event.undone_at is not None


def test_a_merged_company_brings_its_account_owner_and_unmerge_takes_it_back(
        pipeline: Pipeline, tmp_path: Path) -> None:
    pipeline.routing = routing_from(tmp_path, ACCOUNT_OWNER_ONLY)
    web = ConnectorConfig(name="web", kind="csv", route_new_contacts=True)
    fr, de = acme_in_two_countries(pipeline)
    with pipeline.sessions.begin() as session:
        german = session.get(Company, de)
        assert german is not None
        german.owner = "alice"  # the account manager of the German company
        event = merge_companies(session, fr, de, reason="one group", decided_by="user",
                                now=NOW)
        assert session.get(Company, fr).owner == "alice"  # type: ignore[union-attr]

    def lead(ext: str, domain: str) -> str | None:
        pipeline.ingest(web, Batch([Observation(
            kind="person", external_id=ext, observed_at=T0, person={
                "given_name": ext, "family_name": "Lead",
                "emails": [{"value": f"{ext}@{domain}"}],
                "company": {"name": "Acme", "domain": domain}})]))
        with pipeline.sessions() as session:
            return next(c["owner"] for c in export_contacts(session) if c["given_name"] == ext)

    assert lead("Carl", "acme.fr") == "alice"  # the survivor's owner now
    with pipeline.sessions.begin() as session:
        unmerge(session, event.id, by="alice", now=NOW)
        assert session.get(Company, fr).owner is None  # type: ignore[union-attr]
        assert session.get(Company, de).owner == "alice"  # type: ignore[union-attr]
    assert lead("Dora", "acme.fr") is None  # no account owner: the triage queue
    assert lead("Emil", "acme.de") == "alice"
