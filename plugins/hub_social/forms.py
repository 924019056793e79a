"""The ``form_webhook`` kind: a lead POSTed by a form, an ad platform or an automation tool,
signed with crmhub's scheme, mapped to contact fields without code.

``[connectors.settings.fields]`` maps a contact field (the targets of the CSV mapping:
``person.given_name``, ``person.emails``, ``person.phones.mobile``,
``person.company.name``, ``person.custom.budget``...) to a dotted path in the body, with
``[n]`` for list items::

    [connectors.settings.fields]
    "person.given_name" = "contact.first_name"
    "person.family_name" = "contact.last_name"
    "person.emails" = "contact.emails[0]"
    "person.custom.budget" = "answers.budget"

A path that holds a list gives each item (several e-mails); a JSON boolean reads as
``true`` / ``false``, so a consent checkbox maps to ``person.consent.email`` (or
``person.opt_out.phone``...). ``id_path`` names the lead's
id at the source (its external id); without it a lead is known by its first e-mail, else
phone. A body delivered twice is stored once; the same lead sent again with changes
updates it. ``required`` paths
missing from a body, a body none of whose mapped paths is there, or a lead that names
nobody, go to quarantine with the reason. Each lead is also a ``form`` interaction
(inbound, at ``submitted_at_path`` or the time it was received), which scoring can count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator

from hub.connectors import ConnectorSettings
from hub.records import Observation
from hub.sources.paths import get_path
from hub.webhooks import (
    WebhookConnector,
    WebhookRejected,
    WebhookSettings,
    body_digest,
    json_body,
)
from hub_csv.external_ids import ContentKeys
from hub_csv.mapping import parse_target, setter
from hub_csv.person import MULTI_SEPARATOR, PersonBuilder

_INDEX = re.compile(r"\[(\d+)\]")


def dotted(path: str) -> str:
    """``contact.emails[0].value`` -> ``contact.emails.0.value`` (hub.sources paths)."""
    return _INDEX.sub(r".\1", path.strip()).strip(".")


class FormWebhookSettings(WebhookSettings):
    fields: dict[str, str] = Field(description="contact field -> dotted path in the body")
    id_path: str | None = Field(default=None, description="the lead's id in the body")
    required: list[str] = Field(default_factory=list,
                                description="paths a lead must have (else quarantine)")
    submitted_at_path: str | None = Field(default=None,
                                          description="when the lead was sent (ISO 8601)")
    interaction: bool = Field(default=True, description="also record a form interaction")

    @field_validator("fields")
    @classmethod
    def _targets(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError('map at least one field, e.g. "person.emails" = "email"')
        for target, path in value.items():
            try:
                found = parse_target(target)
            except ValueError as exc:
                raise ValueError(f"fields[{target!r}]: {exc}") from None
            if found.section == "external_id":
                raise ValueError("the lead's id is `id_path`, not a field")
            if not dotted(path):
                raise ValueError(f"fields[{target!r}]: an empty path")
        return value


def _texts(value: Any) -> list[str]:
    if value is None or isinstance(value, dict):
        return []
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    if isinstance(value, bool):  # a checkbox: what a consent or opt-out target reads
        return ["true" if value else "false"]
    text = str(value).strip()
    return [text] if text else []


class FormWebhookConnector(WebhookConnector):
    """Leads POSTed by forms and automation tools, mapped in the config."""

    kind: ClassVar[str] = "form_webhook"
    Settings: ClassVar[type[ConnectorSettings]] = FormWebhookSettings
    channels: ClassVar[frozenset[str]] = frozenset({"form"})

    @property
    def form(self) -> FormWebhookSettings:
        return self.settings  # type: ignore[return-value]

    def event_id(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        try:
            json_body(body)
        except ValueError as exc:
            raise WebhookRejected(400, str(exc)) from None
        return body_digest(body)  # a lead sent again changed is an update, not a repeat

    def handle_webhook(self, body: bytes, headers: dict[str, str]) -> list[Observation]:
        data = json_body(body)
        settings = self.form
        missing = [path for path in settings.required if not _texts(get_path(data, dotted(path)))]
        if missing:
            raise ValueError(f"required path(s) missing: {', '.join(missing)}")
        person = PersonBuilder()
        found = 0
        for target, path in settings.fields.items():
            values = _texts(get_path(data, dotted(path)))
            if values:
                found += 1
                setter(parse_target(target))(person, MULTI_SEPARATOR.join(values))
        if not found:
            raise ValueError("none of the mapped paths is in the body: "
                             + ", ".join(settings.fields.values()))
        if not person.identifies():
            raise ValueError("the lead names nobody: no name, e-mail, phone or identifier")
        lead_id = _texts(get_path(data, dotted(settings.id_path))) if settings.id_path else []
        # Without an id, the key a CSV row without one gets: the first e-mail, phone...
        key = lead_id[0] if lead_id else ContentKeys().key_for(person)
        if key is None:
            raise ValueError("the lead has no id and nothing to know it by (e-mail, phone...)")
        now = self.context.clock()
        raw = data if isinstance(data, dict) else {"body": data}
        lead = Observation.model_validate({"kind": "person", "external_id": key,
                                           "observed_at": now, "raw": raw,
                                           "person": person.person_payload()})
        if not settings.interaction:
            return [lead]
        return [lead, self._submission(key, person, data, now)]

    def _submission(self, key: str, person: PersonBuilder, data: Any,
                    now: datetime) -> Observation:
        when = now
        if self.form.submitted_at_path:
            texts = _texts(get_path(data, dotted(self.form.submitted_at_path)))
            if texts:
                when = datetime.fromisoformat(texts[0])
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
        participants = [{"email": e["value"], "role": "from"} for e in person.emails[:1]] or \
            [{"phone": p["value"], "role": "from"} for p in person.phones[:1]]
        return Observation.model_validate({
            "kind": "interaction", "external_id": f"form:{key}:{when.isoformat()}",
            "observed_at": now, "interaction": {
                "channel": "form", "direction": "inbound", "occurred_at": when,
                "subject": self.name, "participants": participants}})
