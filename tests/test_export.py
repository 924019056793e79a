"""The contact export (hub.export): one row per contact, nested keys flattened for CSV."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import Engine

from hub.config import HubConfig
from hub.connectors import Batch
from hub.export import export_contacts, write_csv
from hub.ingest.pipeline import Pipeline
from tests.ingest_support import SRC, ada

ADA = ada()


@pytest.fixture
def pipeline(engine: Engine) -> Pipeline:
    return Pipeline(engine, HubConfig())


def test_csv_export_flattens_the_export_keys(pipeline: Pipeline) -> None:
    pipeline.ingest(SRC, Batch([ADA]))
    out = io.StringIO()
    with pipeline.sessions() as session:
        assert write_csv(export_contacts(session), out) == 1
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["full_name"] == "Ada Lovelace"
    assert row["emails"] == "ada@example.com"
    assert row["company.name"] == "Analytical Engines Ltd"
    assert row["sources"] == "src:1"
    assert row["interactions.count"] == "0"


def test_the_export_holds_normalised_points_and_the_addresss_country(
        pipeline: Pipeline) -> None:
    from hub.records import Observation
    zoe = Observation(kind="person", external_id="z", observed_at=ADA.observed_at, person={
        "full_name": "Zoé Lefèvre", "emails": [{"value": "ZOE.LEFEVRE@orange.fr"}],
        "phones": [{"value": "+33 4 72 00 11 22"}],
        "address": {"city": "Lyon", "postcode": "69002", "country": "France"}})
    pipeline.ingest(SRC, Batch([zoe]))
    with pipeline.sessions() as session:
        [row] = export_contacts(session)
    assert [p["value"] for p in row["emails"]] == ["zoe.lefevre@orange.fr"]
    assert [p["value"] for p in row["phones"]] == ["+33472001122"]
    assert row["address"] == {"city": "Lyon", "postcode": "69002", "country": "FR"}
