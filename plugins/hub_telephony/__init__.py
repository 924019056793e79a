"""crmhub's telephony connectors: calls become interactions linked to contacts by number.

Kind ``call_webhook`` (cloud PBXs that POST each call, signed with crmhub's scheme).
Registered through the ``crmhub`` entry-point group (``telephony = "hub_telephony"``).
"""

from __future__ import annotations

from hub import hookimpl
from hub_telephony.webhook import CallWebhookConnector

__all__ = ["CallWebhookConnector", "crmhub_register_connectors"]


@hookimpl
def crmhub_register_connectors() -> list[type]:
    return [CallWebhookConnector]
