"""Helpers shared by the hub_csv tests: build a connector, run a sync, pick results."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.connectors import Batch, Connector, ConnectorContext, Rejected
from hub.records import Observation, PersonData
from hub_csv import CsvConnector

SAMPLES = Path(__file__).resolve().parents[3] / "config" / "samples"

#: The mapping of config/samples/clients_fr.csv (the example config declares the same).
FR_MAPPING = {
    "Civilité": "person.custom.civilite",
    "Prénom": "person.given_name",
    "Nom": "person.family_name",
    "Société": "person.company.name",
    "Fonction": "person.title",
    "Email": "person.emails",
    "Email 2": "person.emails",
    "Téléphone": "person.phones.work",
    "Mobile": "person.phones.mobile",
    "Standard": "person.phones.main",
    "Adresse": "person.address.street",
    "Code postal": "person.address.postcode",
    "Ville": "person.address.city",
    "Pays": "person.address.country",
    "Date de naissance": "person.birthday",
    "Site web": "person.company.website",
    "Client n°": "person.identifiers.customer_number",
}


class Clock:
    """A settable clock for ConnectorContext."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def make_context(clock: Clock | None = None) -> ConnectorContext:
    return ConnectorContext(
        http=None,  # type: ignore[arg-type]  # file connectors never use HTTP
        resolve_secret=lambda ref: "",
        logger=logging.getLogger("test.hub_csv"),
        clock=clock or Clock(),
    )


def connector(
    kind: type[Connector] = CsvConnector, clock: Clock | None = None, **settings: Any
) -> Connector:
    return kind("test", kind.Settings.model_validate(settings), make_context(clock))


def run(conn: Connector, cursor: dict[str, Any] | None = None, full: bool = False) -> list[Batch]:
    """All batches, each "committed" as the core does: its ``on_commit`` called."""
    batches = []
    for batch in conn.sync(cursor, full=full):
        if batch.on_commit is not None:
            batch.on_commit()
        batches.append(batch)
    return batches


def observations(batches: Iterable[Batch]) -> list[Observation]:
    return [o for b in batches for o in b.observations]


def rejected(batches: Iterable[Batch]) -> list[Rejected]:
    return [r for b in batches for r in b.rejected]


def read(path: Path, **settings: Any) -> list[Batch]:
    return run(connector(paths=[path], **settings))


def person(observations: Iterable[Observation], full_name: str) -> PersonData:
    """The person of the observation whose given + family name is ``full_name``."""
    for o in observations:
        p = o.person
        if p is not None and f"{p.given_name} {p.family_name}" == full_name:
            return p
    raise AssertionError(f"no observation of {full_name!r}")


def final_cursor(batches: list[Batch]) -> dict[str, Any]:
    cursor = batches[-1].cursor
    assert cursor is not None
    return cursor
