"""The ``outlook`` kind's settings: a Microsoft Entra ID app registration and what to read."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hub.secrets import SecretRef
from hub.sources.mail import MailSettings

__all__ = ["DEFAULT_FOLDER", "OutlookSettings"]

#: The name that stands for a mailbox's default Contacts folder in ``contact_folders``.
DEFAULT_FOLDER = "default"


class OutlookSettings(MailSettings):
    """An app registration with application permissions (client credentials flow): a client
    secret or a certificate, never both."""

    tenant_id: str = Field(min_length=1,
                           description="the directory (tenant) id or a verified domain")
    client_id: str = Field(min_length=1, description="the application (client) id")
    client_secret: SecretRef | None = Field(
        default=None, description="the client secret's value (not its id)")
    certificate_key: SecretRef | None = Field(
        default=None, description="the PEM private key of a certificate uploaded to the app")
    certificate_thumbprint: str | None = Field(
        default=None, description="that certificate's SHA-1 thumbprint (hex)")
    authority_host: str = Field(default="https://login.microsoftonline.com",
                                description="the sign-in host (national clouds differ)")
    graph_url: str = Field(default="https://graph.microsoft.com/v1.0",
                           description="the Microsoft Graph endpoint, version included")
    page_size: int = Field(default=100, ge=1, le=1000,
                           description="items a page (Prefer: odata.maxpagesize)")
    contact_folders: list[str] | Literal["all"] = Field(
        default="all",
        description='the contact folders to read: "all" (the default Contacts folder and '
        f'its sub-folders) or names ("{DEFAULT_FOLDER}" for the default one) or folder ids')

    @model_validator(mode="after")
    def _one_credential(self) -> OutlookSettings:
        certificate = self.certificate_key is not None or self.certificate_thumbprint is not None
        if self.client_secret is not None and certificate:
            raise ValueError("give either client_secret or a certificate "
                             "(certificate_key and certificate_thumbprint), not both")
        if self.client_secret is None and not certificate:
            raise ValueError("give client_secret, or certificate_key and "
                             "certificate_thumbprint")
        if certificate and (self.certificate_key is None or not self.certificate_thumbprint):
            raise ValueError("a certificate needs both certificate_key (the PEM private key) "
                             "and certificate_thumbprint")
        if isinstance(self.contact_folders, list) and not self.contact_folders:
            raise ValueError('name at least one contact folder, or "all" (or contacts = false)')
        return self

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"

    @property
    def graph(self) -> str:
        return self.graph_url.rstrip("/")
