"""What people put in a company field that names no employer never becomes a company."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from hub.config import ConnectorConfig, HubConfig
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.normalize import is_not_employer
from hub.records import Observation
from hub.store.model import Company, Contact
from hub.testing import FIXED_NOW


@pytest.mark.parametrize("name", ["Freelance", "self-employed", "Self Employed", "Indépendant",
                                  "RETRAITÉ", "Retired", "N/A", "n.a.", "-", "Étudiante",
                                  "Selbstständig"])
def test_placeholders_and_working_for_oneself_name_no_employer(name: str) -> None:
    assert is_not_employer(name)


@pytest.mark.parametrize("name", ["Acme", "Independent Film Company", "Home Depot",
                                  "Freelance Solutions SARL", "Student Loans Ltd"])
def test_a_company_whose_name_only_contains_such_a_word_is_one(name: str) -> None:
    assert not is_not_employer(name)


def test_a_freelancer_gets_no_company_and_a_na_company_record_is_refused(
        engine: Engine) -> None:
    pipeline = Pipeline(engine, HubConfig(), clock=lambda: FIXED_NOW)
    cfg = ConnectorConfig(name="crm", kind="csv")
    stats = pipeline.ingest(cfg, Batch([
        Observation(kind="person", external_id="p1", observed_at=FIXED_NOW, person={
            "full_name": "Léa Martin", "emails": [{"value": "lea@gmail.com"}],
            "company": {"name": "Freelance"}, "title": "Designer"}),
        Observation(kind="person", external_id="p2", observed_at=FIXED_NOW, person={
            "full_name": "Paul Roux", "emails": [{"value": "paul@wanadoo.fr"}],
            "company": {"name": "Retraité"}}),
        Observation(kind="company", external_id="c1", observed_at=FIXED_NOW,
                    company={"name": "N/A"})]))
    assert stats.contacts_created == 2 and stats.quarantined == 1
    with pipeline.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Company)) == 0
        assert set(session.scalars(select(Contact.company_id))) == {None}
