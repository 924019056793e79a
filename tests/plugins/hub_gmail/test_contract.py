"""gmail: the shipped connector contract, over the stateful fake (contacts change between
syncs; messages are append-only)."""

from __future__ import annotations

import pytest

from hub.testing import ConnectorContract, ConnectorFactory
from tests.plugins.hub_gmail.conftest import ANN, connector
from tests.plugins.hub_gmail.fake_google import FakeGoogle, at


class Changes:
    """Adds, renames and deletes people in the fake's address book of ANN."""

    def __init__(self, fake: FakeGoogle) -> None:
        self.fake = fake

    def add(self) -> str:
        return f"{ANN}/" + self.fake.person(ANN, 99, "New Person", "new@client.org")

    def update(self, external_id: str) -> None:
        number = int(external_id.rsplit("/c", 1)[1])
        self.fake.person(ANN, number, "Renamed Person", f"p{number}@client.org")

    def delete(self, external_id: str) -> None:
        self.fake.person(ANN, int(external_id.rsplit("/c", 1)[1]), "", "", deleted=True)


class TestGmailContract(ConnectorContract):
    @pytest.fixture
    def fake(self) -> FakeGoogle:
        fake = FakeGoogle(people_page=2)
        for n in range(1, 4):
            fake.person(ANN, n, f"Person Num{n}", f"p{n}@client.org")
        for day in range(1, 6):
            fake.message(ANN, at(day), From=f"Bob <bob{day}@client.org>", To=ANN,
                         Subject=f"day {day}")
        return fake

    @pytest.fixture
    def connector_factory(self, fake: FakeGoogle) -> ConnectorFactory:
        return lambda: connector(fake)

    @pytest.fixture
    def source_changes(self, fake: FakeGoogle) -> Changes:
        return Changes(fake)
