"""hub.match.score: the vetoes, as the pure function the matcher calls."""

from __future__ import annotations

import pytest

from hub.match.compare import Profile
from hub.match.score import veto

NOBODY = Profile.of({})
SAME_NAME = {"given": "exact", "family": "exact"}


@pytest.mark.parametrize("shared", ["identifier", "handle"])
def test_a_shared_identifier_or_handle_lifts_the_birth_date_veto(shared: str) -> None:
    levels = {**SAME_NAME, "birthday": "different"}
    assert veto(NOBODY, NOBODY, levels) == "different birth dates"
    assert veto(NOBODY, NOBODY, {**levels, shared: "exact"}) is None


@pytest.mark.parametrize("shared", ["email", "phone"])
def test_a_shared_email_or_phone_does_not_lift_the_birth_date_veto(shared: str) -> None:
    # A parent and a child share a home's line and often a family address.
    levels = {**SAME_NAME, "birthday": "different", shared: "exact"}
    assert veto(NOBODY, NOBODY, levels) == "different birth dates"
