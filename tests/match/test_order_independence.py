"""Golden records are a function of the source records, never of the order they arrived
in: rows of files written in the same second tie on their date, and the tie breaks on
completeness, source priority, then connector and external id."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete

from hub.config import ConnectorConfig, HubConfig
from hub.connectors import Batch
from hub.export import export_contacts, without_ids
from hub.ingest.pipeline import Pipeline
from hub.match.survivorship import SourceView, SurvivorshipPolicy, build_golden
from hub.records import Observation
from hub.store.db import session_factory
from hub.store.model import Base

SAME_SECOND = datetime(2026, 11, 3, 10, 15, 7, tzinfo=UTC)
FULL = {"street": "4 quai Saint-Antoine", "city": "Lyon", "postcode": "69002",
        "country": "FR"}

# Zoé as three exports see her, all written in the same second.
ZOE: list[tuple[str, str, dict[str, Any]]] = [
    ("google", "g-1", {"given_name": "Zoe", "family_name": "Lefevre",
                       "emails": [{"value": "zoe.lefevre@orange.fr"}],
                       "address": {"city": "Lyon"}}),
    ("outlook", "o-7", {"given_name": "Zoé", "family_name": "Lefèvre", "title": "Architecte",
                        "emails": [{"value": "ZOE.LEFEVRE@orange.fr"}],
                        "phones": [{"value": "+33 4 72 00 11 22"}], "address": FULL}),
    ("linkedin", "l-3", {"full_name": "Zoé Lefèvre", "title": "Architect",
                         "emails": [{"value": "zoe.lefevre@orange.fr"}],
                         "company": {"name": "Atelier Rhône"}}),
]


def views(order: list[int], ids: list[int]) -> list[SourceView]:
    return [SourceView(ids[n], ZOE[i][0], ZOE[i][1], SAME_SECOND, {
        k: v for k, v in ZOE[i][2].items() if k not in ("emails", "phones")})
        for n, i in enumerate(order)]


@given(order=st.permutations(range(3)), ids=st.permutations([11, 12, 13]))
def test_the_golden_record_of_sources_that_tie_on_their_date_ignores_order_and_ids(
        order: list[int], ids: list[int]) -> None:
    golden, provenance = build_golden(views(order, ids))
    expected, expected_provenance = build_golden(views([0, 1, 2], [11, 12, 13]))
    assert golden == expected and provenance == expected_provenance
    # the most complete record wins the tie, accents and full address included
    assert (golden["given_name"], golden["family_name"]) == ("Zoé", "Lefèvre")
    assert golden["address"] == FULL


def test_the_tie_goes_to_source_priority_between_records_equally_complete() -> None:
    a = SourceView(1, "billing", "b-1", SAME_SECOND, {"title": "CEO"})
    b = SourceView(2, "google", "g-1", SAME_SECOND, {"title": "CTO"})
    for order in ([a, b], [b, a]):
        golden, _ = build_golden(order, SurvivorshipPolicy(source_priority=("billing",)))
        assert golden["title"] == "CEO"


def test_an_address_another_source_holds_in_full_never_erases_it() -> None:
    older = SourceView(1, "outlook", "o-1", datetime(2026, 1, 1, tzinfo=UTC),
                       {"address": FULL})
    newer_city = SourceView(2, "linkedin", "l-1", datetime(2026, 6, 1, tzinfo=UTC),
                            {"address": {"city": "lyon"}})
    golden, provenance = build_golden([older, newer_city])
    assert golden["address"] == FULL and provenance["address"]["connector"] == "outlook"
    moved = SourceView(3, "google", "g-1", datetime(2026, 7, 1, tzinfo=UTC),
                       {"address": {"city": "Paris", "postcode": "75002"}})
    golden, _ = build_golden([older, newer_city, moved])
    assert golden["address"] == {"city": "Paris", "postcode": "75002"}  # a real move wins


# -- the same records through the pipeline, in any order and batching ------------------------


def observations() -> list[tuple[str, Observation]]:
    return [(connector, Observation(kind="person", external_id=external_id,
                                    observed_at=SAME_SECOND, person=person))
            for connector, external_id, person in ZOE]


def ingest_in(engine: Engine, order: list[int], cut: int) -> str:
    with session_factory(engine).begin() as session:  # an empty store for each example
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
    pipeline = Pipeline(engine, HubConfig.model_validate({"hub": {"default_region": "FR"}}),
                        clock=lambda: SAME_SECOND)
    records = [observations()[i] for i in order]
    groups: list[list[tuple[str, Observation]]] = [records[:cut], records[cut:]]
    for group in groups:
        by_connector: dict[str, list[Observation]] = {}
        for connector, observation in group:
            by_connector.setdefault(connector, []).append(observation)
        for connector, batch in by_connector.items():
            pipeline.ingest(ConnectorConfig(name=connector, kind="csv"), Batch(batch))
    with session_factory(engine)() as session:
        exported = [without_ids(c) for c in export_contacts(session)]
    return json.dumps(exported, sort_keys=True, default=str)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(3)), cut=st.integers(0, 3))
def test_the_export_is_the_same_whatever_the_order_and_batching_of_the_syncs(
        engine: Engine, order: list[int], cut: int) -> None:
    reference = ingest_in(engine, [0, 1, 2], 3)
    assert ingest_in(engine, order, cut) == reference
    [zoe] = json.loads(reference)
    assert (zoe["given_name"], zoe["family_name"]) == ("Zoé", "Lefèvre")
    assert zoe["address"]["postcode"] == "69002"
