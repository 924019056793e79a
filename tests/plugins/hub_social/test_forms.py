"""form_webhook under the contract kit: leads waiting in the inbox, a lead sent again with
changes updates its contact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.inbox import Inbox
from hub.testing import ConnectorContract, ConnectorFactory, make_context
from hub_social import FormWebhookConnector


class LeadInbox:
    """Leads POSTed to the listener, as the inbox keeps them. A form never deletes."""

    deletes = False

    def __init__(self, root: Path) -> None:
        self.inbox = Inbox(root / "inbox.db")
        self.leads: dict[str, dict[str, Any]] = {}
        for _ in range(5):
            self.add()

    def _put(self, lead: dict[str, Any]) -> None:
        self.leads[lead["id"]] = lead
        self.inbox.put("site", None, {}, json.dumps({"lead": lead}).encode())

    def add(self) -> str:
        n = len(self.leads) + 1
        self._put({"id": f"L-{n}", "first_name": f"Lead{n}", "email": f"lead{n}@example.org",
                   "created_at": f"2026-03-0{n % 9 + 1}T10:00:00+00:00"})
        return f"L-{n}"

    def update(self, external_id: str) -> None:
        self._put({**self.leads[external_id], "company": "Changed Ltd"})

    def delete(self, external_id: str) -> None:
        pytest.fail("not called: deletes = False")


class TestFormWebhookContract(ConnectorContract):
    @pytest.fixture
    def source(self, tmp_path: Path) -> LeadInbox:
        return LeadInbox(tmp_path)

    @pytest.fixture
    def connector_factory(self, source: LeadInbox) -> ConnectorFactory:
        settings = FormWebhookConnector.Settings.model_validate({
            "secret": {"env": "S"}, "id_path": "lead.id", "batch_size": 2,
            "submitted_at_path": "lead.created_at",
            "fields": {"person.given_name": "lead.first_name", "person.emails": "lead.email",
                       "person.company.name": "lead.company"}})
        return lambda: FormWebhookConnector("site", settings, make_context(
            secrets={"S": "x"}, inbox=source.inbox))

    @pytest.fixture
    def source_changes(self, source: LeadInbox) -> LeadInbox:
        return source


def test_a_consent_checkbox_in_the_body_is_kept_on_the_lead_s_points(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.db")
    settings = FormWebhookConnector.Settings.model_validate({
        "secret": {"env": "S"}, "interaction": False,
        "fields": {"person.emails": "email", "person.phones": "phone",
                   "person.consent.email": "newsletter", "person.opt_out.phone": "no_calls",
                   "person.custom.vip": "vip"}})
    connector = FormWebhookConnector("site", settings, make_context(secrets={"S": "x"},
                                                                    inbox=inbox))
    [lead] = connector.handle_webhook(json.dumps({
        "email": "ada@example.org", "phone": "+33611223344", "newsletter": True,
        "no_calls": True, "vip": False}).encode(), {})
    assert lead.person is not None
    [email], [phone] = lead.person.emails, lead.person.phones
    assert (email.consent, email.opt_out) == (True, None)
    assert (phone.opt_out, phone.consent) == (True, None)
    assert lead.person.custom == {"vip": "false"}
