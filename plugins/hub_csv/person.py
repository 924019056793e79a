"""Turning the cells of one contact into an Observation, or a reason it cannot be one.

Values are kept as the file wrote them (normalisation is the core's job); this module only
decides *where* a value goes: labels are lower-cased and a few synonyms folded so the core
can tell shared lines (``main``, ``fax``) from personal ones, and social-network URLs become
handles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from hub.connectors import Rejected
from hub.normalize import handle_from_url
from hub.records import Observation, first_error

MULTI_SEPARATOR = " ::: "  # Google joins several values of one cell with this
PAYLOAD_LIMIT = 64 * 1024

# Lower-cased label -> the label the core sees; anything else is kept lower-cased.
_LABELS = {
    "cell": "mobile",
    "cellular": "mobile",
    "mobile phone": "mobile",
    "portable": "mobile",
    "handy": "mobile",
    "business": "work",
    "business phone": "work",
    "office": "work",
    "bureau": "work",
    "home phone": "home",
    "company main phone": "main",
    "company main": "main",
    "standard": "main",
    "switchboard": "main",
    "business fax": "fax",
    "work fax": "fax",
    "home fax": "fax",
    "other fax": "fax",
    "télécopie": "fax",
}


Item = tuple[int, Observation | Rejected]
"""What a file reader yields: (data rows consumed so far, the observation or rejection)."""


def split_multi(cell: str) -> list[str]:
    """The values of a cell that holds several, Google style (``a ::: b``)."""
    if MULTI_SEPARATOR not in cell:
        return [cell] if cell else []
    return [part.strip() for part in cell.split(MULTI_SEPARATOR) if part.strip()]


def parse_label(text: str | None) -> tuple[str | None, bool]:
    """``"* Work"`` -> ``("work", True)``: Google's ``* `` prefix marks the primary value."""
    if not text:
        return None, False
    label = text.strip()
    primary = label.startswith("*")
    label = label.lstrip("* ").strip().lower()
    if not label:
        return None, primary
    return _LABELS.get(label, label), primary


def social_network(url: str) -> str | None:
    """The handle key of a social-network profile URL (``linkedin``...), else ``None``."""
    found = handle_from_url(url)
    return found[0] if found else None


def payload_text(text: str) -> str:
    """Text fit for the quarantine: undecodable bytes shown as ``\\xe9``, at most 64 KiB."""
    if len(text) > PAYLOAD_LIMIT:
        text = text[:PAYLOAD_LIMIT]
    data = text.encode("utf-8", "surrogateescape")
    if len(data) > PAYLOAD_LIMIT:
        data = data[:PAYLOAD_LIMIT]
    return data.decode("utf-8", "backslashreplace")


@dataclass
class PersonBuilder:
    """The fields of one person as they are collected from cells, before validation."""

    given_name: str | None = None
    family_name: str | None = None
    full_name: str | None = None
    title: str | None = None
    birthday: str | None = None
    language: str | None = None
    emails: list[dict[str, Any]] = field(default_factory=list)
    phones: list[dict[str, Any]] = field(default_factory=list)
    handles: dict[str, str] = field(default_factory=dict)
    company: dict[str, str] = field(default_factory=dict)
    address: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)
    identifiers: dict[str, str] = field(default_factory=dict)
    website: str | None = None
    # What the row says of its e-mails or phones: {"email": "opt_out" | "consent", ...}.
    preferences: dict[str, str] = field(default_factory=dict)

    def set_preference(self, kind: str, status: str, cell: str) -> None:
        """An unsubscribe, ``Do Not Call`` or consent column: a yes sets the status of every
        e-mail (``kind = "email"``) or phone of the row; anything else says nothing."""
        if is_yes(cell):
            self.preferences[kind] = status

    def add_email(self, value: str, label: str | None = None, primary: bool = False) -> None:
        value = value.strip()
        if value.lower().startswith("mailto:"):
            value = value[7:]
        if value and all(e["value"] != value for e in self.emails):
            self.emails.append({"value": value, "label": label, "primary": primary})

    def add_phone(self, value: str, label: str | None = None, primary: bool = False) -> None:
        value = value.strip()
        if value.lower().startswith("tel:"):
            value = value[4:]
        if value and all(p["value"] != value for p in self.phones):
            self.phones.append({"value": value, "label": label, "primary": primary})

    def add_url(self, url: str) -> None:
        """A social profile becomes a handle (the URL as given); the first other URL a website."""
        url = url.strip()
        if not url:
            return
        network = social_network(url)
        if network is not None:
            self.handles.setdefault(network, url)
        elif self.website is None:
            self.website = url

    def add_tags(self, values: list[str]) -> None:
        for tag in values:
            tag = tag.strip()
            if tag and tag not in self.tags:
                self.tags.append(tag)

    def set_address(self, **parts: str) -> None:
        """Set the address once, from the first group that has any part."""
        if self.address:
            return
        self.address = {key: value for key, value in parts.items() if value}

    def has_name(self) -> bool:
        return bool(self.given_name or self.family_name or self.full_name)

    def identifies(self) -> bool:
        """Whether anything here could identify someone: a row with nothing that could is
        quarantined rather than stored."""
        return bool(
            self.has_name() or self.emails or self.phones or self.handles or self.identifiers
        )

    def person_payload(self) -> dict[str, Any]:
        for kind, points in (("email", self.emails), ("phone", self.phones)):
            if status := self.preferences.get(kind):
                for point in points:
                    point[status] = True
        data: dict[str, Any] = {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "full_name": self.full_name,
            "title": self.title,
            "birthday": self.birthday,
            "language": self.language,
            "emails": self.emails,
            "phones": self.phones,
            "handles": self.handles,
            "tags": self.tags,
            "custom": dict(self.custom),
            "identifiers": self.identifiers,
        }
        company = dict(self.company)
        if self.website:
            # A website names the employer only when there is one; otherwise it may well be
            # a personal page, and linking people to companies by its domain would be wrong.
            if company.get("name"):
                company.setdefault("website", self.website)
            else:
                data["custom"].setdefault("website", self.website)
        if company:
            data["company"] = company
        if self.address:
            data["address"] = self.address
        return data


_YES = frozenset({"1", "true", "yes", "y", "x", "oui", "o", "ja", "si", "sí", "checked",
                  "opted out", "opt-out", "opt out", "unsubscribed", "désabonné",
                  "desabonne"})


def is_yes(cell: str) -> bool:
    """A cell that says yes (``TRUE``, ``1``, ``x``, ``Oui``, ``Unsubscribed``...)."""
    return " ".join(cell.strip().lower().split()) in _YES


@dataclass(frozen=True)
class RowContext:
    """Where a row came from, for the observation and for quarantine messages."""

    location: str
    text: str


def unidentifiable(context: RowContext, external_id: str | None = None) -> Rejected:
    return Rejected(
        reason="nothing identifies anyone in this record: no name, e-mail, phone, "
        "profile handle or identifier",
        payload=payload_text(context.text),
        external_id=external_id,
        location=context.location,
    )


def build_observation(
    builder: PersonBuilder,
    external_id: str,
    observed_at: datetime,
    raw: dict[str, Any],
    context: RowContext,
) -> Observation | Rejected:
    """Validate one person observation; a value the model refuses rejects the record."""
    try:
        return Observation.model_validate(
            {
                "kind": "person",
                "external_id": external_id,
                "observed_at": observed_at,
                "raw": raw,
                "person": builder.person_payload(),
            }
        )
    except ValidationError as exc:
        return Rejected(
            reason=f"invalid record: {first_error(exc)}",
            payload=payload_text(context.text),
            external_id=external_id[:512],
            location=context.location,
        )
