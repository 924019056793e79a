"""The ``meta_lead_ads`` kind: leads from Facebook and Instagram lead ads.

Meta POSTs a ``leadgen`` change to ``/webhooks/<connector>`` (object ``page``) holding no
personal data, only ids::

    {"object": "page", "entry": [{"id": "153125381133", "time": 1438292065,
      "changes": [{"field": "leadgen", "value": {"leadgen_id": "123123123123",
        "page_id": "153125381133", "form_id": "12312312312", "ad_id": "3214",
        "created_time": 1440120384}}]}]}

* **At the door.** ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app_secret, raw body)>``
  is checked over the bytes received before anything is parsed (401 otherwise). Meta's
  subscription handshake, ``GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...``,
  answers the challenge when the token matches the ``verify_token`` secret (403 otherwise).
* **Draining.** Each lead is read from the Graph API with the page access token
  (``GET /{version}/{leadgen_id}?fields=created_time,id,ad_id,form_id,campaign_id,field_data,
  custom_disclaimer_responses``)
  through the shared HTTP client, so no HTTP call happens inside a database transaction. A
  lead Meta no longer has (404: leads are kept 90 days) is quarantined; a Graph API outage
  fails the run, which is retried later with the inbox cursor where it was.
* **Mapping.** The standard questions (``full_name``, ``first_name``, ``last_name``,
  ``email``, ``phone_number``, ``street_address``, ``city``, ``state``, ``zip_code`` /
  ``post_code``, ``country``, ``company_name``, ``job_title``, ``date_of_birth``) become
  contact fields, any other question a custom field under its name. The form, ad and
  campaign ids are kept with the lead (custom ``lead_form_id``, ``lead_ad_id``,
  ``lead_campaign_id``), and the lead is also a ``form`` interaction at its
  ``created_time``, which scoring can count.
* **Consent.** The form's consent boxes (``custom_disclaimer_responses``: a
  ``checkbox_key`` and ``is_checked``) are kept per contact point: a box whose key names
  e-mail (``email``, ``mail``, ``newsletter``) or phone (``phone``, ``call``, ``sms``,
  ``tel``) speaks for those, another one for both. Checked is consent; left unchecked, an
  opt-out (no consent is no consent).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import requests
from pydantic import Field

from hub.connectors import ConnectorSettings
from hub.records import Observation
from hub.secrets import SecretRef
from hub.sources.rest import RecordGone, error_message
from hub.webhooks import (
    WebhookConnector,
    WebhookRejected,
    WebhookSettings,
    body_digest,
    json_body,
)

SIGNATURE = "X-Hub-Signature-256"
LEAD_FIELDS = ("created_time,id,ad_id,form_id,campaign_id,field_data,"
               "custom_disclaimer_responses")
# Meta's standard question names -> where they go in a person.
STANDARD = {
    "full_name": ("full_name",), "first_name": ("given_name",), "last_name": ("family_name",),
    "email": ("emails",), "work_email": ("emails",), "phone_number": ("phones",),
    "work_phone_number": ("phones",), "job_title": ("title",),
    "company_name": ("company", "name"), "street_address": ("address", "street"),
    "city": ("address", "city"), "state": ("address", "region"),
    "province": ("address", "region"), "zip_code": ("address", "postcode"),
    "post_code": ("address", "postcode"), "country": ("address", "country"),
    "date_of_birth": ("birthday",),
}


_EMAIL_WORDS = ("email", "e-mail", "mail", "newsletter")
_PHONE_WORDS = ("phone", "call", "sms", "tel", "whatsapp")


def consent_of(lead: dict[str, Any]) -> dict[str, bool]:
    """What the lead's consent boxes say of e-mail and phone (checked: True)."""
    out: dict[str, bool] = {}
    for box in lead.get("custom_disclaimer_responses") or []:
        if not isinstance(box, dict):
            continue
        key = str(box.get("checkbox_key") or "").lower()
        checked = str(box.get("is_checked")).lower() in ("1", "true")
        kinds = [kind for kind, words in (("email", _EMAIL_WORDS), ("phone", _PHONE_WORDS))
                 if any(word in key for word in words)] or ["email", "phone"]
        for kind in kinds:
            out[kind] = out.get(kind, False) or checked
    return out


class MetaLeadAdsSettings(WebhookSettings):
    """``secret`` is the app secret (it signs Meta's deliveries)."""

    verify_token: SecretRef = Field(description="the token of the subscription handshake")
    page_access_token: SecretRef = Field(description="reads the leads from the Graph API")
    graph_url: str = "https://graph.facebook.com"
    graph_version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")


class MetaLeadAdsConnector(WebhookConnector):
    """Facebook and Instagram lead ads: Meta's webhook, then each lead from the Graph API."""

    kind: ClassVar[str] = "meta_lead_ads"
    Settings: ClassVar[type[ConnectorSettings]] = MetaLeadAdsSettings
    channels: ClassVar[frozenset[str]] = frozenset({"form"})

    @property
    def meta(self) -> MetaLeadAdsSettings:
        return self.settings  # type: ignore[return-value]

    # -- at the door ---------------------------------------------------------------------

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        sent = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE.lower(), "").strip()
        if not sent:
            raise WebhookRejected(401, f"unsigned: Meta sends {SIGNATURE}")
        secret = self.context.resolve_secret(self.meta.secret)
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), sent.encode()):
            raise WebhookRejected(401, f"{SIGNATURE} does not match the body")

    def event_id(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        return body_digest(body)  # Meta retries a delivery with the same body

    def handshake(self, query: Mapping[str, str]) -> tuple[int, str]:
        if query.get("hub.mode") != "subscribe":
            return 400, "expected hub.mode=subscribe"
        token = self.context.resolve_secret(self.meta.verify_token)
        if not hmac.compare_digest(query.get("hub.verify_token", "").encode(), token.encode()):
            return 403, "hub.verify_token does not match"
        return 200, query.get("hub.challenge", "")

    # -- draining ------------------------------------------------------------------------

    def handle_webhook(self, body: bytes, headers: dict[str, str]) -> list[Observation]:
        data = json_body(body)
        if not isinstance(data, dict) or data.get("object") != "page":
            raise ValueError("not a page webhook (object is not 'page')")
        found: list[Observation] = []
        for entry in data.get("entry") or []:
            for change in entry.get("changes") or []:
                if change.get("field") != "leadgen":
                    continue
                leadgen_id = str((change.get("value") or {}).get("leadgen_id") or "")
                if not leadgen_id:
                    raise ValueError("a leadgen change without its leadgen_id")
                found += self.lead_observations(self.fetch_lead(leadgen_id))
        return found

    def fetch_lead(self, leadgen_id: str) -> dict[str, Any]:
        """One lead from the Graph API; a lead Meta no longer has is a ``ValueError``
        (quarantined), a Graph API outage an exception that fails the run (retried)."""
        url = f"{self.meta.graph_url.rstrip('/')}/{self.meta.graph_version}/{leadgen_id}"
        token = self.context.resolve_secret(self.meta.page_access_token)
        response = self.context.http.request(
            "GET", url, params={"fields": LEAD_FIELDS}, raise_for_status=False,
            headers={"Authorization": f"Bearer {token}"})
        if response.status_code == 404:
            raise ValueError(str(RecordGone(f"lead {leadgen_id} is gone from Meta (HTTP 404): "
                                            f"{error_message(response)}")))
        if response.status_code >= 400:
            raise requests.HTTPError(f"the Graph API answered HTTP {response.status_code} for "
                                     f"lead {leadgen_id}: {error_message(response)}",
                                     response=response)
        lead = response.json()
        if not isinstance(lead, dict) or not lead.get("id"):
            raise ValueError(f"the Graph API's answer for lead {leadgen_id} has no id")
        return lead

    def lead_observations(self, lead: dict[str, Any]) -> list[Observation]:
        """The person and the ``form`` interaction of one lead."""
        person: dict[str, Any] = {"custom": {}}
        for item in lead.get("field_data") or []:
            name = str(item.get("name") or "").strip()
            values = [str(v).strip() for v in item.get("values") or [] if str(v).strip()]
            if not name or not values:
                continue
            place = STANDARD.get(name.lower())
            if place is None:
                person["custom"][name] = values[0] if len(values) == 1 else values
            elif place[0] in ("emails", "phones"):
                person.setdefault(place[0], []).extend({"value": v} for v in values)
            elif len(place) == 2:
                person.setdefault(place[0], {})[place[1]] = values[0]
            else:
                person[place[0]] = values[0]
        for key in ("form_id", "ad_id", "campaign_id"):
            if lead.get(key):
                person["custom"][f"lead_{key}"] = str(lead[key])
        for kind, given in consent_of(lead).items():
            for point in person.get("emails" if kind == "email" else "phones", []):
                point["consent"] = given
        created = datetime.fromisoformat(str(lead["created_time"])) \
            if lead.get("created_time") else self.context.clock()
        lead_id = str(lead["id"])
        contact = Observation.model_validate({
            "kind": "person", "external_id": lead_id, "observed_at": created,
            "raw": lead, "person": person})
        reach = [{"email": e["value"], "role": "from"} for e in person.get("emails", [])[:1]] \
            or [{"phone": p["value"], "role": "from"} for p in person.get("phones", [])[:1]]
        submission = Observation.model_validate({
            "kind": "interaction", "external_id": f"form:{lead_id}", "observed_at": created,
            "interaction": {"channel": "form", "direction": "inbound", "occurred_at": created,
                            "subject": f"lead ad form {lead.get('form_id', '')}".strip(),
                            "participants": reach}})
        return [contact, submission]
