"""A company known only from the people who work there takes its name and website from
their records by rule, with provenance: the most trusted source, then the most recent
record, ties to connector and external id, whatever order the records arrived in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select, update

from hub.cli.main import main
from hub.config import ConnectorConfig, HubConfig
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.match.companies import company_view
from hub.records import Observation
from hub.store.db import session_factory
from hub.store.model import Base, Company, CompanyDomain

T0 = datetime(2026, 11, 3, 10, 15, 7, tzinfo=UTC)


def worker(ext: str, given_name: str, company: str, *, domain: str = "atelier-rhone.fr",
           at: datetime = T0, website: str | None = None) -> Observation:
    return Observation(kind="person", external_id=ext, observed_at=at, person={
        "given_name": given_name, "family_name": "Martin",
        "emails": [{"value": f"{given_name.lower()}@{domain}"}],
        "company": {"name": company, **({"website": website} if website else {})}})


def pipeline_of(engine: Engine, **survivorship: Any) -> Pipeline:
    return Pipeline(engine, HubConfig.model_validate({
        "hub": {"default_region": "FR"}, "match": {"survivorship": survivorship}}),
        clock=lambda: T0 + timedelta(days=1))


def the_company(pipeline: Pipeline, domain: str = "atelier-rhone.fr") -> dict[str, Any]:
    with pipeline.sessions() as session:
        company_id = session.scalar(select(CompanyDomain.company_id).where(
            CompanyDomain.domain == domain))
        assert company_id is not None
        view = company_view(session, company_id)
    assert view is not None
    return view


def sync(pipeline: Pipeline, connector: str, *observations: Observation) -> None:
    pipeline.ingest(ConnectorConfig(name=connector, kind="csv"), Batch(list(observations)))


def test_the_most_trusted_source_names_a_company_known_only_from_its_contacts(
        engine: Engine) -> None:
    pipeline = pipeline_of(engine, source_priority=["crm"])
    sync(pipeline, "linkedin", worker("l-1", "Zoe", "Atelier Rhone SAS",
                                      at=T0 + timedelta(days=5)))
    sync(pipeline, "crm", worker("c-1", "Paul", "Atelier Rhône",
                                 website="https://atelier-rhone.fr"))
    sync(pipeline, "google", worker("g-1", "Ines", "ATELIER RHONE",
                                    at=T0 + timedelta(days=9)))
    company = the_company(pipeline)
    assert company["name"] == "Atelier Rhône"  # older, but from the listed source
    origin = company["provenance"]["name"]
    assert (origin["connector"], origin["external_id"], origin["via"]) == \
        ("crm", "c-1", "contact")
    assert origin["rule"] == "named by a contact working there: source priority (crm first)"
    assert company["provenance"]["website"]["connector"] == "crm"


def test_without_a_priority_the_most_recent_record_names_the_company_not_the_first_seen(
        engine: Engine) -> None:
    pipeline = pipeline_of(engine)
    sync(pipeline, "google", worker("g-1", "Ines", "Atelier Rhone", at=T0))
    sync(pipeline, "outlook", worker("o-1", "Paul", "Atelier Rhône SAS",
                                     at=T0 + timedelta(days=2)))
    sync(pipeline, "csv", worker("x-1", "Zoe", "atelier rhone", at=T0 - timedelta(days=30)))
    company = the_company(pipeline)
    assert company["name"] == "Atelier Rhône SAS"
    assert company["provenance"]["name"]["rule"] == \
        "named by a contact working there: most recent"


def test_when_the_record_that_named_a_company_leaves_or_goes_the_next_one_names_it(
        engine: Engine) -> None:
    pipeline = pipeline_of(engine)
    sync(pipeline, "google", worker("g-1", "Ines", "Atelier Rhone", at=T0),
         worker("g-2", "Paul", "Atelier Rhône SAS", at=T0 + timedelta(days=2)),
         worker("g-3", "Zoe", "Atelier Rhône", at=T0 + timedelta(days=1)))
    assert the_company(pipeline)["name"] == "Atelier Rhône SAS"
    # Paul changes jobs: his record now names another company.
    sync(pipeline, "google", worker("g-2", "Paul", "Soieries Lyonnaises",
                                    domain="soieries.fr", at=T0 + timedelta(days=3)))
    assert the_company(pipeline)["name"] == "Atelier Rhône"
    assert the_company(pipeline)["provenance"]["name"]["external_id"] == "g-3"
    # Zoé's record is deleted at the source: Inès's name is what is left.
    sync(pipeline, "google", Observation(kind="person", external_id="g-3", observed_at=T0,
                                         deleted=True))
    company = the_company(pipeline)
    assert company["name"] == "Atelier Rhone"
    assert company["provenance"]["name"]["external_id"] == "g-1"


def test_a_company_stored_before_provenance_is_rebuilt_from_all_its_people(
        engine: Engine) -> None:
    pipeline = pipeline_of(engine)
    sync(pipeline, "google", worker("g-1", "Ines", "Atelier Rhône",
                                    at=T0 + timedelta(days=4)))
    with pipeline.sessions.begin() as session:  # as an older release left it
        session.execute(update(Company).values(name="ATELIER RHONE", provenance={}))
    sync(pipeline, "csv", worker("x-1", "Zoe", "atelier rhone", at=T0))
    company = the_company(pipeline)
    assert company["name"] == "Atelier Rhône"  # the newest of both records, not x-1
    assert company["provenance"]["name"]["external_id"] == "g-1"


def test_a_company_record_names_the_company_whatever_its_people_say(
        engine: Engine) -> None:
    pipeline = pipeline_of(engine)
    sync(pipeline, "crm", Observation(kind="company", external_id="acct-1", observed_at=T0,
                                      company={"name": "Atelier Rhône SARL",
                                               "domains": ["atelier-rhone.fr"]}))
    sync(pipeline, "google", worker("g-1", "Ines", "Atelier Rhone",
                                    at=T0 + timedelta(days=10)))
    company = the_company(pipeline)
    assert company["name"] == "Atelier Rhône SARL"
    assert company["provenance"]["name"]["connector"] == "crm"
    assert "via" not in company["provenance"]["name"]


def test_companies_show_prints_where_a_contact_given_name_came_from(
        engine: Engine, db_url: str, tmp_path: Path) -> None:
    pipeline = pipeline_of(engine)
    sync(pipeline, "google", worker("g-1", "Ines", "Atelier Rhône"))
    config = tmp_path / "crmhub.toml"
    config.write_text('[hub]\ndefault_region = "FR"\n')
    result = CliRunner().invoke(main, ["companies", "show", str(the_company(pipeline)["id"]),
                                       "--config", str(config)],
                                env={"CRMHUB_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    [name_line] = [line for line in result.output.splitlines()
                   if line.strip().startswith("name ")]
    assert "google:g-1" in name_line and "named by a contact working there" in name_line


# -- any order, any batching ---------------------------------------------------------------

STAFF = [("google", worker("g-1", "Ines", "Atelier Rhone")),
         ("outlook", worker("o-1", "Paul", "Atelier Rhône SAS", website="atelier-rhone.fr")),
         ("linkedin", worker("l-1", "Zoe", "Atelier Rhône")),
         ("outlook", worker("o-2", "Luc", "ATELIER RHONE", at=T0 - timedelta(days=1)))]


def company_after(engine: Engine, order: list[int], cut: int) -> str:
    with session_factory(engine).begin() as session:  # an empty store for each example
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
    pipeline = pipeline_of(engine)
    records = [STAFF[i] for i in order]
    for group in (records[:cut], records[cut:]):
        by_connector: dict[str, list[Observation]] = {}
        for connector, observation in group:
            by_connector.setdefault(connector, []).append(observation)
        for connector, batch in by_connector.items():
            sync(pipeline, connector, *batch)
    company = the_company(pipeline)
    return json.dumps({k: company[k] for k in ("name", "website", "provenance")},
                      sort_keys=True)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(4)), cut=st.integers(0, 4))
def test_a_company_named_by_its_people_is_the_same_whatever_the_order_and_batching(
        engine: Engine, order: list[int], cut: int) -> None:
    reference = company_after(engine, [0, 1, 2, 3], 4)
    assert company_after(engine, order, cut) == reference
    chosen = json.loads(reference)
    # Three records tie on their date: the tie goes to connector and id (outlook o-1).
    assert chosen["name"] == "Atelier Rhône SAS"
    assert chosen["provenance"]["name"]["external_id"] == "o-1"
