"""crmhub's Microsoft 365 connector, kind ``outlook``.

Reads Exchange Online mailboxes through Microsoft Graph with an app registration's own
identity (client credentials: a client secret or a certificate, through MSAL): each
mailbox's contacts (its default Contacts folder and sub-folders) become people, and the
messages of its Inbox and Sent Items become ``email`` interactions, both by delta query,
so that a run reads only what changed. Application permissions to grant, with admin
consent: ``Mail.ReadBasic.All`` (or ``Mail.Read``), ``Contacts.Read``, and
``User.Read.All`` for ``mailboxes = "all"``. Each mailbox syncs on its own
(:class:`hub.sources.mail.MailConnector`): one refused mailbox is reported while the
others go on. Registered through the ``crmhub`` entry-point group
(``outlook = "hub_outlook"``).
"""

from __future__ import annotations

from hub import hookimpl
from hub_outlook.connector import OutlookConnector
from hub_outlook.settings import OutlookSettings

__all__ = ["OutlookConnector", "OutlookSettings", "crmhub_register_connectors"]


@hookimpl
def crmhub_register_connectors() -> list[type]:
    return [OutlookConnector]
