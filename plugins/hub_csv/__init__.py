"""crmhub's built-in file connectors: CSV exports (Google, Outlook, LinkedIn, any layout
by mapping) and vCard files, registered as kinds ``csv`` and ``vcard``, and activity
histories (calls, meetings, e-mails; one interaction per row) as kind ``activities``.

Registered through the ``crmhub`` entry-point group (``csv = "hub_csv"``) like any
third-party plugin.
"""

from __future__ import annotations

from hub import hookimpl
from hub_csv.activities import ActivitiesConnector
from hub_csv.connector import CsvConnector, VCardConnector

__all__ = ["ActivitiesConnector", "CsvConnector", "VCardConnector", "crmhub_register_connectors"]


@hookimpl
def crmhub_register_connectors() -> list[type]:
    """The ``csv`` kind (delimited files, and vCards by extension), the ``vcard`` kind and
    the ``activities`` kind."""
    return [CsvConnector, VCardConnector, ActivitiesConnector]
