"""The connector of the walk-through (docs/connector-walkthrough.md): a paginated JSON
contacts API on the building blocks, settings included."""

from __future__ import annotations

from typing import Any, ClassVar

from requests.auth import AuthBase

from hub.connectors import ConnectorSettings
from hub.secrets import SecretRef
from hub.sources import BearerToken, CursorToken, RestConnector, RestSettings


class AcmeSettings(RestSettings):
    token: SecretRef


class AcmeConnector(RestConnector):
    """Acme CRM contacts, changed since the last run."""

    kind: ClassVar[str] = "acme"
    Settings: ClassVar[type[ConnectorSettings]] = AcmeSettings
    path = "/v1/contacts"
    paginator = CursorToken(token_path="meta.next_cursor")
    replication_key = "updated_at"
    since_param = "updated_since"
    deleted_key = "archived"

    def authenticator(self) -> AuthBase:
        settings: AcmeSettings = self.settings  # type: ignore[assignment]
        return BearerToken(self.secret(settings.token))

    def person(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"full_name": record["name"], "emails": [{"value": record["email"]}]}
