"""The canonical Observation model that connectors emit.

An Observation is what one source says about one person, company or interaction at one
moment. Values are kept as the source wrote them: normalisation is the core's job
(:mod:`hub.normalize`), so a connector never rejects a phone number it cannot parse.
Only ``kind``, ``external_id`` and ``observed_at`` are required.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

Channel = Literal["email", "call", "sms", "social", "form", "meeting"]
Direction = Literal["inbound", "outbound", "internal"]
Role = Literal["from", "to", "cc", "bcc", "agent"]


def first_error(exc: ValidationError) -> str:
    """``location: message`` of a validation error's first problem: why a record is refused."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "(root)"
    return f"{where}: {error['msg']}"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactValue(_Part):
    """One e-mail address or phone number with its label (``work``, ``mobile``...)."""

    value: str
    label: str | None = None
    primary: bool = False
    # What the source says of this address or number: opted out (unsubscribed, Do Not
    # Call), or consented. Kept per point with the source and time (``None``: nothing).
    # Left out of the serialisation when unsaid: a record's content hash stays what it was
    # before these fields existed.
    opt_out: bool | None = Field(default=None, exclude_if=lambda value: value is None)
    consent: bool | None = Field(default=None, exclude_if=lambda value: value is None)


class Address(_Part):
    street: str | None = None
    city: str | None = None
    postcode: str | None = None
    region: str | None = None
    country: str | None = None

    def is_empty(self) -> bool:
        return not any(self.model_dump().values())


class CompanyRef(_Part):
    """The employer as a person record names it; its size, industry and revenue when the
    source knows them (a number or the text the source wrote: "51-200", "2.5M")."""

    name: str | None = None
    domain: str | None = None
    website: str | None = None
    industry: str | None = None
    employees: int | str | None = None
    revenue: float | str | None = None


class PersonData(_Part):
    given_name: str | None = None
    family_name: str | None = None
    full_name: str | None = None
    title: str | None = None
    birthday: str | None = None
    language: str | None = None
    emails: list[ContactValue] = Field(default_factory=list)
    phones: list[ContactValue] = Field(default_factory=list)
    handles: dict[str, str] = Field(default_factory=dict)
    company: CompanyRef | None = None
    address: Address | None = None
    tags: list[str] = Field(default_factory=list)
    custom: dict[str, Any] = Field(default_factory=dict)
    identifiers: dict[str, str] = Field(default_factory=dict)

    @field_validator("birthday", mode="before")
    @classmethod
    def _date_as_text(cls, value: Any) -> Any:
        # A date object is accepted and kept as ISO text; parsing is normalisation's job.
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return value


class CompanyData(_Part):
    name: str | None = None
    domains: list[str] = Field(default_factory=list)
    website: str | None = None
    phones: list[ContactValue] = Field(default_factory=list)
    address: Address | None = None
    industry: str | None = None
    employees: int | str | None = None  # a number, or the source's text ("51-200")
    revenue: float | str | None = None  # annual, in the currency the source wrote
    tags: list[str] = Field(default_factory=list)
    custom: dict[str, Any] = Field(default_factory=dict)


class Participant(_Part):
    email: str | None = None
    phone: str | None = None
    handle: str | None = None
    name: str | None = None
    role: Role = "to"
    # Why this participant must not become a new contact (a recipient of mail we sent, a
    # mailing list's sender): linked to the contact they already are, never creating one;
    # the reason is counted in the run's skips.
    no_contact: str | None = Field(default=None, max_length=200)


class InteractionData(_Part):
    channel: Channel
    direction: Direction
    occurred_at: datetime
    subject: str | None = None
    summary: str | None = None
    duration_s: int | None = None
    status: str | None = None
    participants: list[Participant] = Field(default_factory=list)
    thread_id: str | None = None
    # False: a participant no contact has (by e-mail or phone) stays unlinked instead of
    # becoming a new contact (a call log whose admin chose unknown_callers = "ignore").
    create_contacts: bool = True


class Observation(_Part):
    """What one source says about one record: a person, a company or an interaction."""

    kind: Literal["person", "company", "interaction"]
    external_id: str = Field(min_length=1, max_length=512)
    observed_at: datetime
    deleted: bool = False
    raw: dict[str, Any] = Field(default_factory=dict)
    person: PersonData | None = None
    company: CompanyData | None = None
    interaction: InteractionData | None = None

    @model_validator(mode="after")
    def _payload_matches_kind(self) -> Observation:
        if self.deleted:
            return self
        payload = getattr(self, self.kind)
        if payload is None:
            raise ValueError(f"a {self.kind!r} observation needs its {self.kind!r} payload")
        return self
