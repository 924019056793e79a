"""Building blocks for connectors: a paginated JSON stream, paginators, authenticators
and the tie-safe replication cursor.

A connector for a paginated JSON API is a settings model, a few declarations on a
:class:`RestConnector` subclass and one mapping function (the README's "Writing a plugin"
and ``docs/connector-walkthrough.md`` build one). Everything here sits on
:class:`hub.http.HttpClient`, so retries, timeouts, ``Retry-After`` and redaction are the
same for every connector.
"""

from __future__ import annotations

from hub.sources.auth import ApiKey, Basic, BearerToken, OAuth2ClientCredentials
from hub.sources.cursor import ReplicationCursor
from hub.sources.mail import (
    Address,
    MailConnector,
    MailMessage,
    MailPolicy,
    MailSettings,
    parse_addresses,
    parse_date,
    thread_root,
)
from hub.sources.paginators import CursorToken, NextLink, Offset, Page, PageNumber, Paginator
from hub.sources.paths import get_path
from hub.sources.rest import RecordGone, RestConnector, RestSettings, error_message

__all__ = [
    "Address",
    "ApiKey",
    "Basic",
    "BearerToken",
    "CursorToken",
    "MailConnector",
    "MailMessage",
    "MailPolicy",
    "MailSettings",
    "NextLink",
    "OAuth2ClientCredentials",
    "Offset",
    "Page",
    "PageNumber",
    "Paginator",
    "RecordGone",
    "ReplicationCursor",
    "RestConnector",
    "RestSettings",
    "error_message",
    "get_path",
    "parse_addresses",
    "parse_date",
    "thread_root",
]
