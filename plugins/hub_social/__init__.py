"""crmhub's social and lead-form connectors.

Kinds ``meta_lead_ads`` (Facebook and Instagram lead ads: Meta's webhook, then the lead
from the Graph API) and ``form_webhook`` (any platform or automation tool that can POST a
lead, mapped to contact fields in the config). LinkedIn stays the ``Connections.csv``
preset of the ``csv`` kind. Registered through the ``crmhub`` entry-point group
(``social = "hub_social"``).
"""

from __future__ import annotations

from hub import hookimpl
from hub_social.forms import FormWebhookConnector
from hub_social.meta import MetaLeadAdsConnector

__all__ = ["FormWebhookConnector", "MetaLeadAdsConnector", "crmhub_register_connectors"]


@hookimpl
def crmhub_register_connectors() -> list[type]:
    return [FormWebhookConnector, MetaLeadAdsConnector]
