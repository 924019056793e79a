"""The connector contract: the base class, what the core hands a connector, what it yields.

A connector never touches the database. ``sync`` yields :class:`Batch` objects; the core
stores each batch, its rejected rows and its cursor in one transaction, so a crash
between two batches loses nothing and doubles nothing.

Errors are classified, as in singer-sdk and the Airbyte CDK:

* :class:`FatalError` — configuration or credentials are wrong; retrying will not help.
* :class:`RetriableError` — the source is down or throttling; the run is retried with backoff.
* a bad record is not an exception at all: put a :class:`Rejected` in the batch and go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from hub.clock import utcnow
from hub.records import Observation

if TYPE_CHECKING:
    from hub.http import HttpClient
    from hub.inbox import Inbox


class ConnectorError(Exception):
    """Base class of the errors a connector raises."""


class FatalError(ConnectorError):
    """Wrong configuration or credentials: retrying the same run cannot succeed."""


class RetriableError(ConnectorError):
    """A transient failure (network, throttling, 5xx): the run is retried later."""


@dataclass(frozen=True)
class Rejected:
    """Input the connector could not turn into an Observation; it goes to quarantine."""

    reason: str
    payload: str
    external_id: str | None = None
    location: str | None = None  # e.g. "contacts.csv:17"


@dataclass(frozen=True)
class SnapshotEnd:
    """Marks the end of a complete snapshot of ``scope`` (for example one file).

    Every record of this connector and scope that was not seen with ``token`` is
    tombstoned by the core, unless more than ``max_delete_ratio`` of the scope would
    disappear: then nothing is deleted and the run reports the hold.
    """

    scope: str
    token: str
    max_delete_ratio: float = 0.2


@dataclass
class Batch:
    """A unit of work committed atomically together with ``cursor``.

    ``scope``/``token`` tag every observation with the snapshot they belong to (see
    :class:`SnapshotEnd`); append-only sources leave them empty. ``on_commit`` is called,
    in the connector's process, once this batch is committed (never in a dry run): the
    place for work that must follow the commit, such as moving a consumed file.

    ``skipped`` counts, by reason, what the connector read and chose not to store (a
    mailing list's message, a message between colleagues): the run's report and
    ``crmhub status`` show it, so nobody has to guess why a record is missing.
    ``parts`` reports on the parts of a source that sync on their own (the mailboxes of
    a mail connector): each part's error, or ``None`` once it synced; one failing part
    is shown per part while the others go on.
    ``warnings`` says what an admin should look at although nothing failed (a file with a
    header and no rows): the run ends "ok with a warning".
    """

    observations: list[Observation] = field(default_factory=list)
    cursor: dict[str, Any] | None = None
    rejected: list[Rejected] = field(default_factory=list)
    scope: str | None = None
    token: str | None = None
    snapshot_end: SnapshotEnd | None = None
    on_commit: Callable[[], None] | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    parts: dict[str, str | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.observations) + len(self.rejected)


@dataclass(frozen=True)
class CheckResult:
    """What ``crmhub connectors check`` prints for one connector (``Connector.check()``)."""

    ok: bool
    message: str


@dataclass(frozen=True)
class SettingsProblem:
    """What ``crmhub config check`` finds wrong in settings that validate (a file that does
    not exist): an error, or a ``warning`` that does not stop the check."""

    key: str  # under the connector's settings, e.g. "paths[0]" or "folder"
    message: str
    hint: str | None = None
    warning: bool = False


SecretResolver = Callable[[Any], str]


@dataclass
class ConnectorContext:
    """What the core hands a connector: shared HTTP, secrets, a logger, a clock."""

    http: HttpClient
    resolve_secret: SecretResolver
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
    clock: Callable[[], datetime] = utcnow
    default_region: str | None = None
    dry_run: bool = False  # a dry run: read, but change nothing in the source either
    inbox: Inbox | None = None  # push connectors: the requests the listener accepted
    #: ``[hub] own_domains``: the team's own e-mail domains (never contacts).
    own_domains: frozenset[str] = frozenset()


class ConnectorSettings(BaseModel):
    """Base of every connector's ``Settings``: unknown keys are configuration errors."""

    model_config = ConfigDict(extra="forbid")


class Connector:
    """Base class of every connector.

    Subclasses declare ``kind`` and a nested ``Settings`` model and override ``sync``
    (pull sources) and/or ``handle_webhook`` (push sources).
    """

    kind: ClassVar[str]
    Settings: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    #: The interaction channels (``email``, ``call``...) this kind brings; ``crmhub config
    #: check`` warns when scoring, the lifecycle or an SLA counts one that no configured
    #: connector brings.
    channels: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def channels_brought(cls, settings: ConnectorSettings) -> frozenset[str]:
        """The channels a connector with ``settings`` brings (by default, the kind's)."""
        return cls.channels

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext):
        self.name = name
        self.settings = settings
        self.context = context
        self.log = context.logger

    @classmethod
    def settings_problems(cls, settings: ConnectorSettings) -> list[SettingsProblem]:
        """What is wrong with valid ``settings`` that ``crmhub config check`` can see
        without a secret or the network (a missing file). Default: nothing."""
        return []

    @property
    def can_reread(self) -> bool:
        """Whether a full sync reads the same input again (``crmhub quarantine retry`` relies
        on it); false for sources that consume their input, such as a drop folder."""
        return type(self).sync is not Connector.sync

    def sync(self, cursor: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        """Yield batches of observations from ``cursor`` on (``None``: from the start).

        ``full`` asks for a complete re-read even when the cursor says nothing changed. The
        core may ask for the next batch before the previous one is committed (normalising
        in a second process while the first writes), so work that must follow a commit
        (moving a consumed file, acknowledging a message) goes in ``Batch.on_commit``.
        """
        raise FatalError(f"connector kind {self.kind!r} does not pull; it receives webhooks")

    def handle_webhook(self, body: bytes, headers: dict[str, str]) -> list[Observation]:
        """Turn one pushed request into observations (push sources only)."""
        raise FatalError(f"connector kind {self.kind!r} does not accept webhooks")

    def check(self) -> CheckResult:
        """Verify credentials and reachability without syncing anything."""
        return CheckResult(ok=True, message="nothing to check")
