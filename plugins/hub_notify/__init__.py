"""Built-in outbound sinks: a signed JSON webhook and an e-mail to the lead's owner.

Registered through the ``crmhub`` entry point ``notify`` like any plugin; configured in the
rules file's ``[[notify]]`` entries (see :mod:`hub.routing.delivery`).
"""

from __future__ import annotations

from hub import hookimpl
from hub_notify.email import EmailSink
from hub_notify.webhook import WebhookSink, sign

__all__ = ["EmailSink", "WebhookSink", "sign"]


@hookimpl
def crmhub_register_sinks() -> list[type]:
    return [WebhookSink, EmailSink]
