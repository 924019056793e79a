"""Suppression: an erased person's identifiers, kept as salted hashes, drop any later
observation that carries one, in every connector, before anything is stored.

A digest is HMAC-SHA256 of ``kind`` and the normalised key (the e-mail's match key, the
E.164 number, a network's handle, ``id:NAME`` and its value) under the secret
``[privacy] suppression_salt``: the table proves nothing about who was forgotten to
someone without the salt, and the ingest check costs one HMAC per identity key, only
while the table holds anything.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.secrets import SecretRef
from hub.store.model import Suppression

# The reason the sync report and `crmhub status` count suppressed observations under.
SUPPRESSED = "suppressed (identifiers of forgotten people)"


class SuppressionError(Exception):
    """Suppressions exist but cannot be checked (no salt): ingesting would bring erased
    people back, so the sync stops instead."""


def digest(salt: bytes, kind: str, key: str) -> str:
    return hmac.new(salt, f"{kind}\x00{key}".encode(), hashlib.sha256).hexdigest()


def salt_of(ref: SecretRef | None) -> bytes:
    if ref is None:
        raise SuppressionError(
            "[privacy] suppression_salt is not set: forgetting someone keeps salted hashes "
            "of their identifiers, and the salt is a secret; set it to a reference such as "
            '{ env = "CRMHUB_SUPPRESSION_SALT" } holding at least 16 random characters')
    value = ref.resolve()
    if len(value) < 16:
        raise SuppressionError("[privacy] suppression_salt is shorter than 16 characters")
    return value.encode()


class Suppressor:
    """The suppressed digests, read again when another process (``crmhub person forget``
    while the daemon runs) has added some."""

    def __init__(self, salt: SecretRef | None) -> None:
        self._ref = salt
        self._salt = b""
        self._digests: frozenset[str] = frozenset()
        self._mark: tuple[int, int | None] | None = None

    def refresh(self, session: Session) -> None:
        count, last = session.execute(
            select(func.count(Suppression.id), func.max(Suppression.id))).one()
        mark = (int(count or 0), last)
        if mark == self._mark:
            return
        if mark[0]:
            try:
                salt = salt_of(self._ref)
            except SuppressionError as exc:
                raise SuppressionError(
                    f"the database holds {mark[0]} suppressed identifiers of forgotten "
                    f"people and they cannot be checked: {exc}") from None
            self._salt = salt
            self._digests = frozenset(session.scalars(select(Suppression.digest)))
        else:
            self._digests = frozenset()
        self._mark = mark

    @property
    def active(self) -> bool:
        return bool(self._digests)

    def hit(self, kind: str, key: str) -> bool:
        return bool(self._digests) and digest(self._salt, kind, key) in self._digests

    def any_hit(self, keys: Iterable[tuple[str, str]]) -> bool:
        return bool(self._digests) and any(self.hit(kind, key) for kind, key in keys)
