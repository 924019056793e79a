"""meta_lead_ads: Meta's handshake and signature at the door, each lead read from the Graph
API (mocked with `responses` in Meta's shapes) and mapped to a contact and a form
interaction (both engines)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from hub.http import HttpClient
from hub.inbox import Inbox
from hub.service.runtime import Hub
from hub.service.sync import run_sync
from hub.store.model import Contact, Interaction, QuarantineItem
from hub.testing import ConnectorContract, ConnectorFactory, make_context
from hub.web import create_app
from hub_social import MetaLeadAdsConnector

APP_SECRET = "app-secret"
GRAPH = "https://graph.facebook.com/v21.0"


def delivery(*leadgen_ids: str) -> dict[str, Any]:
    """A leadgen webhook as Meta sends it (ids as numbers, no personal data)."""
    return {"object": "page", "entry": [{"id": "153125381133", "time": 1438292065, "changes": [
        {"field": "leadgen", "value": {"leadgen_id": int(i), "page_id": 153125381133,
                                       "form_id": 12312312312, "ad_id": 3214,
                                       "created_time": 1440120384}}
        for i in leadgen_ids]}]}


def lead(leadgen_id: str, **answers: str) -> dict[str, Any]:
    return {"created_time": "2026-03-02T08:49:14+0000", "id": leadgen_id, "ad_id": "3214",
            "form_id": "12312312312", "campaign_id": "777",
            "field_data": [{"name": k, "values": [v]} for k, v in answers.items()]}


def signed(body: dict[str, Any], secret: str = APP_SECRET) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"content": raw, "headers": {"Content-Type": "application/json",
                                        "X-Hub-Signature-256": f"sha256={digest}"}}


@pytest.fixture
def hub(tmp_path: Path, db_url: str, engine: Engine,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    for name, value in (("META_APP_SECRET", APP_SECRET), ("META_VERIFY", "verify-me"),
                        ("META_PAGE_TOKEN", "page-token")):
        monkeypatch.setenv(name, value)
    config = tmp_path / "crmhub.toml"
    config.write_text(f"""
[hub]
database_url = "{db_url}"
default_region = "FR"
inbox = "{tmp_path / 'inbox.db'}"
parallel_prepare = false

[[connectors]]
name = "facebook"
kind = "meta_lead_ads"
[connectors.settings]
secret = {{ env = "META_APP_SECRET" }}
verify_token = {{ env = "META_VERIFY" }}
page_access_token = {{ env = "META_PAGE_TOKEN" }}
""", encoding="utf-8")
    opened = Hub.open(config)
    opened.http = HttpClient(sleep=lambda _seconds: None)  # retries without waiting
    yield opened
    opened.close()


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub)) as test_client:
        yield test_client


@pytest.fixture
def graph() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False,
                                passthru_prefixes=("http://testserver",)) as mock:
        yield mock


def test_the_subscription_handshake_answers_the_challenge_only_to_the_right_token(
        client: TestClient) -> None:
    ok = client.get("/webhooks/facebook", params={
        "hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = client.get("/webhooks/facebook", params={
        "hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    assert wrong.status_code == 403 and "1" not in wrong.text
    assert client.get("/webhooks/facebook").status_code == 400


def test_only_deliveries_signed_with_the_app_secret_are_accepted(client: TestClient) -> None:
    body = delivery("123123123123")
    assert client.post("/webhooks/facebook", **signed(body)).status_code == 200
    forged = client.post("/webhooks/facebook", **signed(body, secret="not-it"))
    assert forged.status_code == 401 and "does not match" in forged.json()["error"]
    unsigned = client.post("/webhooks/facebook", content=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    assert client.post("/webhooks/facebook", **signed(body)).json()["duplicate"] is True


def test_a_lead_is_read_from_the_graph_api_and_becomes_a_contact_and_a_form_interaction(
        hub: Hub, client: TestClient, graph: responses.RequestsMock) -> None:
    graph.get(f"{GRAPH}/123123123123", json=lead(
        "123123123123", first_name="Joe", last_name="Example", email="joe@example.com",
        phone_number="+33612345678", city="Lyon", zip_code="69002",
        company_name="Example SARL", job_title="CEO", budget="10-50k"))
    client.post("/webhooks/facebook", **signed(delivery("123123123123")))
    report = run_sync(hub, "facebook")
    assert report.ok and report.stats.created == 2, report.error
    request = graph.calls[0].request
    assert request.headers["Authorization"] == "Bearer page-token"
    assert "fields=created_time%2Cid%2Cad_id%2Cform_id%2Ccampaign_id%2Cfield_data%2C" \
        "custom_disclaimer_responses" in \
        (request.url or "")
    with hub.pipeline.sessions() as session:
        joe = session.scalars(select(Contact)).one()
        assert (joe.given_name, joe.family_name, joe.title) == ("Joe", "Example", "CEO")
        assert joe.custom == {"budget": "10-50k", "lead_form_id": "12312312312",
                              "lead_ad_id": "3214", "lead_campaign_id": "777"}
        assert joe.address == {"city": "Lyon", "postcode": "69002"}
        [form] = session.scalars(select(Interaction))
        assert (form.channel, form.direction, form.external_id) == ("form", "inbound",
                                                                    "form:123123123123")


def test_a_gone_lead_is_quarantined_and_a_graph_outage_is_retried_from_the_same_request(
        hub: Hub, client: TestClient, graph: responses.RequestsMock) -> None:
    graph.get(f"{GRAPH}/111", status=404, json={"error": {
        "message": "Unsupported get request. Object with ID '111' does not exist",
        "type": "GraphMethodException", "code": 100}})
    client.post("/webhooks/facebook", **signed(delivery("111")))
    gone = run_sync(hub, "facebook")
    assert gone.ok and gone.stats.quarantined == 1
    with hub.pipeline.sessions() as session:
        [item] = session.scalars(select(QuarantineItem))
        assert "lead 111 is gone from Meta (HTTP 404)" in item.reason
    graph.get(f"{GRAPH}/222", status=500, json={"error": {"message": "An unknown error"}})
    client.post("/webhooks/facebook", **signed(delivery("222")))
    assert not run_sync(hub, "facebook").ok
    graph.replace(responses.GET, f"{GRAPH}/222", json=lead("222", email="late@example.com"))
    again = run_sync(hub, "facebook")
    assert again.ok and again.stats.created == 2


class TestMetaLeadAdsContract(ConnectorContract):
    changes_unsupported = "a lead ad's lead never changes at Meta; its contact does in crmhub"

    @pytest.fixture
    def connector_factory(self, tmp_path: Path,
                          graph: responses.RequestsMock) -> ConnectorFactory:
        inbox = Inbox(tmp_path / "inbox.db")
        for n in range(1, 6):
            graph.get(f"{GRAPH}/{n}", json=lead(str(n), email=f"lead{n}@example.com"))
            inbox.put("facebook", None, {}, json.dumps(delivery(str(n))).encode())
        settings = MetaLeadAdsConnector.Settings.model_validate({
            "secret": {"env": "A"}, "verify_token": {"env": "V"},
            "page_access_token": {"env": "T"}, "batch_size": 2})
        return lambda: MetaLeadAdsConnector("facebook", settings, make_context(
            secrets={"A": APP_SECRET, "V": "v", "T": "t"}, inbox=inbox))
