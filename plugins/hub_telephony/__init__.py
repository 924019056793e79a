"""crmhub's telephony connectors: calls become interactions linked to contacts by number.

Kinds ``asterisk_cdr`` (Asterisk's cdr-csv log, followed across rotations), ``twilio``
(Twilio's Calls API) and ``call_webhook`` (cloud PBXs that POST each call, signed with
crmhub's scheme).
Registered through the ``crmhub`` entry-point group (``telephony = "hub_telephony"``).
"""

from __future__ import annotations

from hub import hookimpl
from hub_telephony.asterisk import AsteriskCdrConnector
from hub_telephony.twilio import TwilioConnector
from hub_telephony.webhook import CallWebhookConnector

__all__ = [
    "AsteriskCdrConnector",
    "CallWebhookConnector",
    "TwilioConnector",
    "crmhub_register_connectors",
]


@hookimpl
def crmhub_register_connectors() -> list[type]:
    return [AsteriskCdrConnector, CallWebhookConnector, TwilioConnector]
