"""crmhub's ``gmail`` connector: Google Workspace (or Gmail) mailboxes.

Kind ``gmail``: each mailbox's address book (People API ``connections``, optionally
``otherContacts``) as people, and its message headers (Gmail API, ``gmail.metadata``
scope: never a body) as ``email`` interactions, a windowed full sync once and the history
feed after. Signs in with a service account and domain-wide delegation (every mailbox,
or ``"all"`` of the domain through the Directory API) or one user's OAuth refresh token.
Registered through the ``crmhub`` entry-point group (``gmail = "hub_gmail"``).
"""

from __future__ import annotations

from hub import hookimpl
from hub_gmail.connector import GmailConnector
from hub_gmail.settings import GmailSettings

__all__ = ["GmailConnector", "GmailSettings", "crmhub_register_connectors"]


@hookimpl
def crmhub_register_connectors() -> list[type]:
    return [GmailConnector]
