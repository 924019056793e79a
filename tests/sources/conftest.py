"""The mocked contacts API the tests of hub.sources share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from tests.sources.fake_api import FakeContacts


@pytest.fixture
def api() -> Iterator[FakeContacts]:
    """Six contacts behind a `responses` mock, active for the test."""
    contacts = FakeContacts(6)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        contacts.install(mock)
        yield contacts
