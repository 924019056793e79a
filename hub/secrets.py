"""Secret references: a secret is never an inline value in a config file.

``{ env = "VAR" }`` reads an environment variable, ``{ file = "/path" }`` a file (trailing
newline stripped), ``{ credential = "NAME" }`` a systemd credential from
``$CREDENTIALS_DIRECTORY/NAME`` (``LoadCredential=`` in the unit). The value is read when
it is needed, so a secret rotated on disk is picked up by the next run.

:meth:`SecretRef.resolve` is the one place a value is read, and it registers the value
with the log masker (:func:`hub.logs.add_secret`) before returning it: whoever resolves
a secret, at config load or a connector at run time, the value is ``***`` in the logs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from hub.logs import add_secret


class SecretError(Exception):
    """A secret reference that cannot be resolved (variable unset, file unreadable...)."""


class SecretRef(BaseModel):
    """A reference to a secret; exactly one of ``env``, ``file``, ``credential``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None
    credential: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _reference_not_value(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise PydanticCustomError(
                "inline_secret",
                "secrets are references, never inline values",
                {"hint": 'write { env = "VAR" }, { file = "/path" } or { credential = "NAME" }'},
            )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [k for k in ("env", "file", "credential") if getattr(self, k) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "secret_ref",
                "a secret reference names exactly one of env, file, credential",
                {"hint": 'write { env = "VAR" }, { file = "/path" } or { credential = "NAME" }'},
            )
        return self

    def describe(self) -> str:
        """Where the secret comes from, safe to print."""
        if self.env is not None:
            return f"env {self.env}"
        if self.file is not None:
            return f"file {self.file}"
        return f"credential {self.credential}"

    def resolve(self) -> str:
        """Read the secret now and register it with the log masker (so it is ``***`` in
        every log line from then on); raise :class:`SecretError` saying what is missing."""
        value = self._read()
        add_secret(value)
        return value

    def _read(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretError(f"environment variable {self.env} is not set")
            return value
        if self.file is not None:
            return _read(self.file)
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise SecretError(
                f"credential {self.credential}: $CREDENTIALS_DIRECTORY is not set "
                "(add LoadCredential= to the systemd unit)"
            )
        return _read(Path(directory) / str(self.credential))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None


def resolve_secret(ref: Any) -> str:
    """The resolver handed to connectors: accepts a :class:`SecretRef` or its dict form;
    the value is registered with the log masker like every resolved secret."""
    secret = ref if isinstance(ref, SecretRef) else SecretRef.model_validate(ref)
    return secret.resolve()


def find_secret_refs(value: Any) -> list[SecretRef]:
    """Every SecretRef inside a settings model or nested containers (for config check)."""
    found: list[SecretRef] = []
    if isinstance(value, SecretRef):
        found.append(value)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found.extend(find_secret_refs(getattr(value, name)))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(find_secret_refs(item))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(find_secret_refs(item))
    return found
