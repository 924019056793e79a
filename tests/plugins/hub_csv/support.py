"""Helpers shared by the hub_csv tests: build a connector, run a sync, pick results."""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterable
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


class CsvChanges:
    """Adds, updates and deletes rows of a CSV file a connector reads (the contract kit's
    changing source). A row is found by the cells its observation kept as ``raw``."""

    def __init__(self, path: Path, factory: Callable[[], Connector], new_row: dict[str, str],
                 change: str, *, encoding: str = "utf-8", delimiter: str = ",") -> None:
        self.path, self.factory, self.new_row, self.change = path, factory, new_row, change
        self.encoding, self.delimiter = encoding, delimiter

    def _read(self) -> tuple[list[str], list[dict[str, str]]]:
        with self.path.open(encoding=self.encoding, newline="") as stream:
            reader = csv.DictReader(stream, delimiter=self.delimiter)
            return list(reader.fieldnames or []), list(reader)

    def _write(self, header: list[str], rows: list[dict[str, str]]) -> None:
        with self.path.open("w", encoding=self.encoding, newline="") as stream:
            writer = csv.DictWriter(stream, header, delimiter=self.delimiter)
            writer.writeheader()
            writer.writerows(rows)

    def _index(self, rows: list[dict[str, str]], external_id: str) -> int:
        [raw] = [o.raw for o in observations(run(self.factory())) if o.external_id == external_id]
        return next(n for n, row in enumerate(rows)
                    if all(row.get(k, "") == v for k, v in raw.items()))

    def add(self) -> str:
        header, rows = self._read()
        self._write(header, [*rows, self.new_row])
        wanted = {k: v for k, v in self.new_row.items() if v}
        [found] = [o.external_id for o in observations(run(self.factory())) if o.raw == wanted]
        return found

    def update(self, external_id: str) -> None:
        header, rows = self._read()
        rows[self._index(rows, external_id)][self.change] += " (changed)"
        self._write(header, rows)

    def delete(self, external_id: str) -> None:
        header, rows = self._read()
        del rows[self._index(rows, external_id)]
        self._write(header, rows)
