"""What every mail connector shares: mailboxes that sync on their own, a message as an
interaction, and who becomes a contact.

A mail connector (``gmail``, ``outlook``) subclasses :class:`MailConnector` and writes
:meth:`~MailConnector.sync_mailbox` for one mailbox; the base class runs every mailbox
in turn, keeps each one's cursor inside the connector's cursor (``{"mailboxes": {address:
{...}}}``) and reports each mailbox as a part of the run: one mailbox whose credentials or
delegation fail is shown as failing (``crmhub sync``, ``crmhub status``, ``/metrics``)
while the others go on. Only when every mailbox fails does the run fail.

:class:`MailPolicy` turns one message's headers into an ``interaction`` observation
(channel ``email``):

* **direction** -- ``outbound`` when the sender is one of us (a synced mailbox, an alias,
  an address at ``[hub] own_domains``), ``inbound`` otherwise. A message between
  colleagues only is not stored; neither is a mailing list's message (``List-Id``, or
  ``Precedence: bulk``, ``list`` or ``junk``): both are counted in the run's skips.
* **who becomes a contact** -- ``create_contacts = "inbound"`` (the default): the sender
  of a message to us, the people who wrote to us; ``"all"``: every outside participant;
  ``"none"``: nobody new (messages still link the contacts that exist). Never one of us,
  a role or no-reply address (the core's rule), or the sender of an automated message
  (``Auto-Submitted``). Each participant who is not made a contact is counted by reason.
* **the key** -- the RFC 5322 ``Message-ID``, so that one message read in two synced
  mailboxes (sent by one colleague, received by another) is one interaction; the date is
  the ``Date`` header, the thread the first ``References`` entry, both the same in every
  mailbox. A message removed from a mailbox stays in the history: a mail folder's change
  feed also reports a message moved to another folder as removed.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from hub.connectors import (
    Batch,
    CheckResult,
    Connector,
    ConnectorError,
    ConnectorSettings,
    FatalError,
    RetriableError,
)
from hub.normalize import normalize_email
from hub.records import Observation

__all__ = [
    "Address",
    "MailConnector",
    "MailMessage",
    "MailPolicy",
    "MailSettings",
    "parse_addresses",
    "parse_date",
    "thread_root",
]

CreateContacts = Literal["inbound", "all", "none"]

# Message-level skips (the run's ``skipped``).
SKIP_LIST = "message from a mailing list (List-Id or Precedence: bulk)"
SKIP_INTERNAL = "message between colleagues only"
# Participant-level reasons (``Participant.no_contact``).
NOT_INBOUND = "did not write to us (create_contacts = inbound)"
NONE_CREATED = "create_contacts = none"
AUTOMATED = "sender of an automated message (Auto-Submitted)"
OUR_MAILBOX = "one of us (a synced mailbox or alias)"

_BULK = frozenset({"bulk", "list", "junk"})
_ID_LIMIT = 400


class MailSettings(ConnectorSettings):
    """The settings every mail connector has; subclass it to add credentials."""

    mailboxes: list[str] | Literal["all"] = Field(
        description='the mailboxes to read, or "all": every user of the domain or tenant')
    aliases: list[str] = Field(
        default_factory=list,
        description="more addresses that are ours (send-as aliases, shared mailboxes)")
    contacts: bool = Field(default=True, description="read each mailbox's address book")
    messages: bool = Field(default=True, description="read each mailbox's messages")
    window_days: int = Field(default=365, ge=1, le=36_500,
                             description="the first sync reads the messages of these days")
    create_contacts: CreateContacts = Field(
        default="inbound",
        description='who becomes a contact: "inbound" (people who wrote to us), "all", "none"')
    max_delete_ratio: float = Field(default=0.2, ge=0.0, le=1.0,
                                    description="a full re-read of an address book may "
                                    "delete at most this share of it")

    @field_validator("mailboxes")
    @classmethod
    def _mailboxes(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, str):
            return value
        if not value:
            raise ValueError('name at least one mailbox, or "all"')
        return [_address(v) for v in value]

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]


def _address(value: str) -> str:
    result = normalize_email(value)
    if result is None or not result.valid:
        raise ValueError(f"{value!r} is not an e-mail address")
    return result.value.lower()


@dataclass(frozen=True)
class Address:
    """One mailbox in a header: its address (lower case) and display name."""

    address: str
    name: str | None = None


def parse_addresses(value: str | None) -> list[Address]:
    """The addresses of a ``From``/``To``/``Cc`` header (``"Ada" <ada@x.com>, bob@y.org``)."""
    if not value:
        return []
    found = []
    for name, address in getaddresses([value]):
        address = address.strip().lower()
        if address:
            found.append(Address(address, name.strip() or None))
    return found


def parse_date(value: str | None) -> datetime | None:
    """A ``Date`` header as an aware datetime; ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


def thread_root(references: str | None, in_reply_to: str | None,
                message_id: str | None) -> str | None:
    """The Message-ID a thread started with: the first of ``References``, else
    ``In-Reply-To``, else the message's own; the same in every mailbox."""
    for value in (references, in_reply_to, message_id):
        ids = (value or "").split()
        if ids:
            return ids[0][:_ID_LIMIT]
    return None


@dataclass
class MailMessage:
    """The headers of one message in one mailbox, whichever API read them."""

    id: str  # the provider's id, in this mailbox
    mailbox: str
    occurred_at: datetime
    sender: Address | None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    subject: str | None = None
    thread_id: str | None = None
    message_id: str | None = None  # RFC 5322 Message-ID, with its angle brackets
    list_id: str | None = None
    precedence: str | None = None
    auto_submitted: str | None = None

    @property
    def external_id(self) -> str:
        """The interaction's key: the Message-ID (one interaction whichever synced mailbox
        read it), else the mailbox's own id."""
        if self.message_id:
            key = self.message_id.strip()
            if len(key) > _ID_LIMIT:
                key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
            return f"message:{key}"
        return f"message:{self.mailbox}/{self.id}"


class MailPolicy:
    """Who is one of us, and who becomes a contact, for one connector's messages."""

    def __init__(self, *, own_addresses: Iterable[str], own_domains: Iterable[str],
                 create_contacts: CreateContacts) -> None:
        self.own_addresses = frozenset(a.lower() for a in own_addresses)
        self.own_domains = frozenset(d.lower() for d in own_domains)
        self.create_contacts = create_contacts

    def is_own(self, address: str) -> bool:
        address = address.lower()
        return address in self.own_addresses or \
            address.rpartition("@")[2] in self.own_domains

    def observation(self, message: MailMessage, *, observed_at: datetime,
                    skipped: Counter[str]) -> Observation | None:
        """The interaction of ``message``, or ``None`` (counted in ``skipped``) when it is
        not one: a mailing list's message, or a message between colleagues only."""
        if message.list_id or (message.precedence or "").strip().lower() in _BULK:
            skipped[SKIP_LIST] += 1
            return None
        people = [(message.sender, "from")] if message.sender is not None else []
        people += [(a, "to") for a in message.to] + [(a, "cc") for a in message.cc] + \
            [(a, "bcc") for a in message.bcc]
        if all(self.is_own(a.address) for a, _ in people):
            skipped[SKIP_INTERNAL] += 1
            return None
        outbound = message.sender is not None and self.is_own(message.sender.address)
        automated = (message.auto_submitted or "no").strip().lower() != "no"
        participants = []
        seen: set[tuple[str, str]] = set()
        for address, role in people:
            if (address.address, role) in seen:
                continue
            seen.add((address.address, role))
            entry: dict[str, Any] = {"email": address.address, "role": role}
            if address.name:
                entry["name"] = address.name
            reason = self._no_contact(address, role, outbound=outbound, automated=automated)
            if reason is not None:
                entry["no_contact"] = reason
            participants.append(entry)
        return Observation.model_validate({
            "kind": "interaction", "external_id": message.external_id,
            "observed_at": observed_at, "raw": {"message_id": message.message_id},
            "interaction": {
                "channel": "email", "direction": "outbound" if outbound else "inbound",
                "occurred_at": message.occurred_at, "subject": message.subject,
                "thread_id": message.thread_id, "participants": participants}})

    def _no_contact(self, address: Address, role: str, *, outbound: bool,
                    automated: bool) -> str | None:
        if self.is_own(address.address):
            # The core counts an address at own_domains as one of us before it reads this;
            # a mailbox or alias elsewhere (at a free-mail domain) is only known here.
            return OUR_MAILBOX
        if self.create_contacts == "none":
            return NONE_CREATED
        if role == "from" and automated:
            return AUTOMATED
        if self.create_contacts == "inbound" and (outbound or role != "from"):
            return NOT_INBOUND
        return None


class MailConnector(Connector, ABC):
    """Base of the mail connectors: every mailbox syncs on its own, as a part of the run.

    Subclasses write :meth:`list_mailboxes` (for ``mailboxes = "all"``),
    :meth:`sync_mailbox` and :meth:`check_mailbox`; :attr:`policy` decides who is a
    contact.
    """

    Settings: ClassVar[type[ConnectorSettings]] = MailSettings
    channels: ClassVar[frozenset[str]] = frozenset({"email"})

    @classmethod
    def channels_brought(cls, settings: ConnectorSettings) -> frozenset[str]:
        assert isinstance(settings, MailSettings)
        return cls.channels if settings.messages else frozenset()

    @property
    def mail(self) -> MailSettings:
        assert isinstance(self.settings, MailSettings)
        return self.settings

    def list_mailboxes(self) -> list[str]:
        """Every mailbox of the domain or tenant (``mailboxes = "all"``)."""
        raise FatalError(f'connector kind {self.kind!r} cannot list mailboxes: name them in '
                         '"mailboxes"')

    def mailboxes(self) -> list[str]:
        configured = self.mail.mailboxes
        return sorted(set(self.list_mailboxes())) if configured == "all" else configured

    def policy(self, mailboxes: Iterable[str]) -> MailPolicy:
        return MailPolicy(own_addresses=[*mailboxes, *self.mail.aliases],
                          own_domains=self.context.own_domains,
                          create_contacts=self.mail.create_contacts)

    @abstractmethod
    def sync_mailbox(self, mailbox: str, cursor: dict[str, Any], *, full: bool,
                     policy: MailPolicy) -> Iterator[Batch]:
        """Yield one mailbox's batches; each batch's ``cursor`` is that mailbox's own."""

    @abstractmethod
    def check_mailbox(self, mailbox: str) -> str:
        """Read one thing of ``mailbox``; return what was read, raise what is missing."""

    def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        state: dict[str, Any] = dict((cursor or {}).get("mailboxes") or {})
        mailboxes = self.mailboxes()
        policy = self.policy(mailboxes)
        failed: list[ConnectorError] = []
        for mailbox in mailboxes:
            mine = {} if full else dict(state.get(mailbox) or {})
            try:
                for batch in self.sync_mailbox(mailbox, mine, full=full, policy=policy):
                    if batch.cursor is not None:
                        state[mailbox] = batch.cursor
                    batch.cursor = {"mailboxes": dict(state)}
                    yield batch
            except ConnectorError as exc:
                failed.append(exc)
                self.log.error("mailbox %s failed: %s", mailbox, exc)
                yield Batch(cursor={"mailboxes": dict(state)}, parts={mailbox: str(exc)})
                continue
            yield Batch(cursor={"mailboxes": dict(state)}, parts={mailbox: None})
        if mailboxes and len(failed) == len(mailboxes):
            first = failed[0]
            kind = FatalError if isinstance(first, FatalError) else RetriableError
            raise kind(f"every mailbox failed ({len(failed)}); the first: {first}") from first

    def check(self) -> CheckResult:
        try:
            mailboxes = self.mailboxes()
        except ConnectorError as exc:
            return CheckResult(ok=False, message=f"cannot list the mailboxes: {exc}")
        lines, ok = [], True
        for mailbox in mailboxes:
            try:
                lines.append(f"{mailbox}: {self.check_mailbox(mailbox)}")
            except ConnectorError as exc:
                ok = False
                lines.append(f"{mailbox}: FAILED: {exc}")
        if not mailboxes:
            return CheckResult(ok=False, message="no mailbox to read")
        return CheckResult(ok=ok, message="; ".join(lines))
