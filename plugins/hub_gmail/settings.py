"""The ``gmail`` kind's settings: the shared mail settings, plus how to sign in to Google.

Two ways to sign in, exactly one of them:

* a **service account with domain-wide delegation** (``service_account_key``, the JSON
  key's text as a secret): the connector impersonates each mailbox in turn, and the
  Workspace admin authorises the service account's client id for :func:`scopes` in the
  Admin console (Security > API controls > Domain-wide delegation);
* an **OAuth refresh token** of one user (``client_id``, ``client_secret``,
  ``refresh_token``): one mailbox only, the user who granted it.

The scopes are the least that do the job: ``gmail.metadata`` (headers, never bodies) and
``contacts.readonly``, plus ``contacts.other.readonly`` with ``other_contacts`` and
``admin.directory.user.readonly`` (for ``admin`` only) with ``mailboxes = "all"``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hub.secrets import SecretRef
from hub.sources.mail import MailSettings

GMAIL_METADATA = "https://www.googleapis.com/auth/gmail.metadata"
CONTACTS = "https://www.googleapis.com/auth/contacts.readonly"
OTHER_CONTACTS = "https://www.googleapis.com/auth/contacts.other.readonly"
DIRECTORY = "https://www.googleapis.com/auth/admin.directory.user.readonly"


class GmailSettings(MailSettings):
    """Where to read (the mailboxes) and how to sign in (a service account or one user)."""

    service_account_key: SecretRef | None = Field(
        default=None,
        description="the service account's JSON key (its text), for domain-wide delegation")
    client_id: str | None = Field(
        default=None, description="OAuth client id (with client_secret and refresh_token)")
    client_secret: SecretRef | None = Field(default=None, description="OAuth client secret")
    refresh_token: SecretRef | None = Field(
        default=None, description="the refresh token of the one mailbox's user")
    other_contacts: bool = Field(
        default=False, description='also read "Other contacts" (people mailed but not saved); '
        "needs the contacts.other.readonly scope")
    page_size: int = Field(default=500, ge=1, le=500,
                           description="messages a messages.list page asks for")
    batch_size: int = Field(default=50, ge=1, le=100,
                            description="messages.get requests sent in one batch")
    customer: str = Field(default="my_customer",
                          description='the Workspace customer whose users "all" reads')
    admin: str | None = Field(
        default=None, description='an admin to impersonate to list the users (mailboxes = "all")')

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> GmailSettings:
        oauth = [self.client_id, self.client_secret, self.refresh_token]
        if self.service_account_key is not None and any(v is not None for v in oauth):
            raise ValueError("choose one way to sign in: service_account_key, or client_id + "
                             "client_secret + refresh_token, not both")
        if self.service_account_key is None:
            if not all(v is not None for v in oauth):
                raise ValueError("sign in with service_account_key (domain-wide delegation), "
                                 "or with all of client_id, client_secret and refresh_token")
            if self.mailboxes == "all" or len(self.mailboxes) != 1:
                raise ValueError("a refresh token reads one mailbox: name exactly that one in "
                                 'mailboxes, or use a service account for several or "all"')
        if self.mailboxes == "all" and self.admin is None:
            raise ValueError('mailboxes = "all" needs admin: a Workspace admin the service '
                             "account impersonates to list the users")
        return self

    @property
    def auth(self) -> Literal["service_account", "oauth"]:
        return "service_account" if self.service_account_key is not None else "oauth"


def scopes(settings: GmailSettings) -> list[str]:
    """The scopes one mailbox is read with: the least the settings need."""
    found = [GMAIL_METADATA] if settings.messages else []
    if settings.contacts:
        found.append(CONTACTS)
    if settings.other_contacts:
        found.append(OTHER_CONTACTS)
    return found or [GMAIL_METADATA]
