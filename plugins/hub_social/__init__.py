"""crmhub's social and lead-form connectors.

Kind ``form_webhook``: any platform or automation tool that can POST a lead, mapped to
contact fields in the config. Registered through the ``crmhub`` entry-point group
(``social = "hub_social"``).
"""

from __future__ import annotations

from hub import hookimpl
from hub_social.forms import FormWebhookConnector

__all__ = ["FormWebhookConnector", "crmhub_register_connectors"]


@hookimpl
def crmhub_register_connectors() -> list[type]:
    return [FormWebhookConnector]
