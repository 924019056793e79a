"""Company size, industry and revenue can be known: from a mapped column, an extra column
of a preset export, a company record, or by hand (`crmhub companies set`), with provenance;
routing rules read them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from hub.cli.main import main
from hub.config import ConnectorConfig, HubConfig
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.normalize import parse_amount, parse_headcount
from hub.records import Observation
from hub.store.model import CompanyDomain, SourceRecord

RULES = """
[[owners]]
id = "erik"
[[owners]]
id = "rita"

[[rules]]
name = "enterprise"
when = { "company.employees" = { gte = 200 } }
strategy = "fixed"
owner = "erik"
[[rules]]
name = "rest"
strategy = "fixed"
owner = "rita"
"""


class Hub:
    def __init__(self, root: Path, db_url: str) -> None:
        (root / "rules.toml").write_text(RULES, encoding="utf-8")
        (root / "crm.csv").write_text(
            "Prénom;Nom;Email;Société;Effectif;Secteur;CA\n"
            "Anna;Weber;anna@logistik.de;Logistik AG;1 200;Logistics;2,5 M€\n"
            "Paul;Moreau;paul@atelier.fr;Atelier SARL;12;Crafts;\n"
            "Zoé;Roux;zoe@bizarre.fr;Bizarre SA;beaucoup;;\n", encoding="utf-8")
        outlook = (Path(__file__).parent.parent / "config" / "samples" / "outlook.csv")
        header, first = outlook.read_text(encoding="utf-8-sig").splitlines()[:2]
        (root / "outlook.csv").write_text(f"{header},Company Size\n{first},51-200\n",
                                          encoding="utf-8")
        self.config = root / "crmhub.toml"
        self.config.write_text('''[hub]
default_region = "FR"
rules = "rules.toml"
log_format = "text"
log_level = "ERROR"

[[connectors]]
name = "crm"
kind = "csv"
route_new_contacts = true
[connectors.settings]
paths = ["crm.csv"]
[connectors.settings.mapping]
"Prénom" = "person.given_name"
"Nom" = "person.family_name"
"Email" = "person.emails"
"Société" = "person.company.name"
"Effectif" = "person.company.employees"
"Secteur" = "person.company.industry"
"CA" = "person.company.revenue"

[[connectors]]
name = "outlook"
kind = "csv"
[connectors.settings]
paths = ["outlook.csv"]
''', encoding="utf-8")
        self.env = {"CRMHUB_DATABASE_URL": db_url}
        self.run("db", "upgrade")

    def run(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, [*args, "--config", str(self.config)], env=self.env)
        assert result.exit_code == code, (result.output, result.exception)
        return result

    def company(self, domain: str) -> dict[str, Any]:
        contacts = json.loads(self.run("contacts", "list", "--json").stdout)
        wanted = [c for c in contacts if domain in (c["company"] or {}).get("domains", [])]
        assert wanted, f"no contact at {domain}"
        company_id = wanted[0]["company"]["id"]
        return dict(json.loads(self.run("companies", "show", str(company_id), "--json").stdout))


@pytest.fixture
def hub(tmp_path: Path, db_url: str) -> Hub:
    return Hub(tmp_path, db_url)


def test_headcounts_and_revenues_read_as_exports_write_them() -> None:
    assert [parse_headcount(t) for t in ("250", "1 200", "1,000", "10k", "51-200",
                                         "10,000+", "> 500", "beaucoup", "")] == \
        [250, 1200, 1000, 10000, 51, 10000, 500, None, None]
    assert [parse_amount(t) for t in ("2,5 M€", "1 200 000 €", "3 Mio", "1,2 Md€",
                                      "5bn USD", "n/a")] == \
        [2_500_000, 1_200_000, 3_000_000, 1_200_000_000, 5_000_000_000, None]


def test_a_mapped_headcount_sizes_the_company_and_routes_its_leads(hub: Hub) -> None:
    hub.run("sync", "crm")
    logistik = hub.company("logistik.de")
    assert (logistik["employees"], logistik["industry"], logistik["revenue"]) == \
        (1200, "Logistics", 2_500_000)
    origin = logistik["provenance"]["employees"]
    assert (origin["connector"], origin["via"]) == ("crm", "contact")
    assert hub.company("atelier.fr")["employees"] == 12
    owners = {c["emails"][0]["value"]: c["owner"]
              for c in json.loads(hub.run("contacts", "list", "--json").stdout)}
    assert owners["anna@logistik.de"] == "erik" and owners["paul@atelier.fr"] == "rita"
    # a headcount that reads as no number is not stored
    bizarre = hub.company("bizarre.fr")
    assert bizarre["employees"] is None


def test_an_extra_company_size_column_in_a_preset_export_is_read(hub: Hub) -> None:
    hub.run("sync", "outlook")
    [row] = json.loads(hub.run("contacts", "list", "--json").stdout)
    company = json.loads(hub.run("companies", "show", str(row["company"]["id"]),
                                 "--json").stdout)
    assert company["employees"] == 51  # "51-200": at least 51


def test_companies_set_wins_over_the_sources_and_can_be_withdrawn(hub: Hub) -> None:
    hub.run("sync", "crm")
    company_id = str(hub.company("atelier.fr")["id"])
    done = hub.run("companies", "set", company_id, "employees=250", "industry=Furniture")
    assert f"company {company_id} updated: employees, industry" in done.stdout
    shown = json.loads(hub.run("companies", "show", company_id, "--json").stdout)
    assert (shown["employees"], shown["industry"], shown["name"]) == (250, "Furniture",
                                                                       "Atelier SARL")
    assert shown["provenance"]["employees"]["connector"] == "manual"
    assert shown["provenance"]["employees"]["rule"] == "manual correction"
    assert "manual correction" in hub.run("companies", "show", company_id).stdout
    hub.run("sync", "crm", "--full")  # a re-sync never overrides a correction
    assert hub.company("atelier.fr")["employees"] == 250
    hub.run("companies", "set", company_id, "employees=")  # withdrawn: the source's again
    again = hub.company("atelier.fr")
    assert (again["employees"], again["industry"]) == (12, "Furniture")
    assert again["provenance"]["employees"]["connector"] == "crm"
    bad = hub.run("companies", "set", company_id, "employees=lots", code=2)
    assert "employees='lots': not a number" in bad.output
    assert "unknown field 'size'" in hub.run("companies", "set", company_id, "size=3",
                                             code=2).output
    hub.run("companies", "set", "999", "employees=3", code=2)


def test_a_company_record_carries_its_size_and_revenue_as_text(engine: Engine) -> None:
    pipeline = Pipeline(engine, HubConfig.model_validate({"hub": {"default_region": "FR"}}))
    pipeline.ingest(ConnectorConfig(name="erp", kind="csv"), Batch([Observation(
        kind="company", external_id="a-1", observed_at=datetime(2026, 1, 1, tzinfo=UTC),
        company={"name": "Logistik AG", "domains": ["logistik.de"], "employees": "1.200",
                 "revenue": "2,5 Mio", "industry": " Logistics "})]))
    with pipeline.sessions() as session:
        company_id = session.scalar(select(CompanyDomain.company_id))
        [data] = session.scalars(select(SourceRecord.data))
    assert (data["employees"], data["revenue"], data["industry"]) == (1200, 2_500_000,
                                                                      "Logistics")
    assert company_id is not None
