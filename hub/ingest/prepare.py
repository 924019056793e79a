"""The part of ingest that needs no database: enrichment, content hash, normalisation.

Pure functions of an Observation and the policy, so a sync runs them in its producer
process (a second core) while the writer stores the previous batch (see hub.service.sync).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from hub.config import ConnectorConfig, HubConfig
from hub.connectors import Batch
from hub.logs import describe_error
from hub.match.canonical import CanonicalPerson, Policy, canonical_person
from hub.normalize import normalize_phone
from hub.plugins import HubPlugins
from hub.records import Observation

# Bump when normalisation changes what is stored, so that `sync --full` re-applies it.
NORMALIZATION_VERSION = "4"  # 2: name-based blocking keys; 3: no street key at a company;
#                                4: "Freelance", "N/A"... name no company; mojibake flagged


def content_hash(observation: Observation, salt: str = "") -> str:
    """What decides 'unchanged': everything the source said except when it said it, plus
    ``salt`` — the policy it was normalised under (a changed ``default_region`` or
    ``own_domains`` makes every record 'changed' on the next full read)."""
    body = observation.model_dump_json(exclude={"observed_at"})  # field order is fixed
    return hashlib.sha256((salt + body).encode()).hexdigest()


def policy_salt(policy: Policy, region: str | None) -> str:
    return json.dumps([NORMALIZATION_VERSION, sorted(policy.own_domains),
                       sorted(policy.own_numbers), policy.default_region, region,
                       list(policy.identifiers)])


def build_policy(config: HubConfig) -> Policy:
    region = config.hub.default_region
    numbers = set()
    for number in config.hub.own_numbers:
        parsed = normalize_phone(number, region)
        numbers.add(parsed.e164 if parsed is not None and parsed.e164 else number)
    return Policy(own_domains=frozenset(config.hub.own_domains), own_numbers=frozenset(numbers),
                  default_region=region, identifiers=tuple(config.match.identifiers))


class Prepared:
    """One observation after the steps that need no database.

    Sent from the producer to the writer process (see hub.service.sync). The writer of a person
    record reads only its header (external id, kind, deleted, observed_at, raw) and its
    canonical form, so the observation itself travels as pydantic JSON and is parsed
    only if something asks for it (a quarantined record, a company or interaction).
    """

    __slots__ = ("_observation", "_text", "canon", "deleted", "digest", "error",
                 "external_id", "kind", "observed_at", "raw")

    def __init__(self, observation: Observation, digest: str,
                 canon: CanonicalPerson | None = None, error: str | None = None) -> None:
        self._observation: Observation | None = observation
        self._text: str | None = None
        self.external_id = observation.external_id
        self.kind = observation.kind
        self.deleted = observation.deleted
        self.observed_at = observation.observed_at
        self.raw = observation.raw
        self.digest = digest
        self.canon = canon  # None: not normalised yet (or not a live person)
        self.error = error  # why it cannot be stored at all

    @property
    def observation(self) -> Observation:
        if self._observation is None:
            assert self._text is not None
            observation = Observation.model_validate_json(self._text)
            observation.raw = self.raw
            self._observation = observation
        return self._observation

    def __getstate__(self) -> tuple[Any, ...]:
        text = self._text if self._observation is None else \
            self._observation.model_dump_json(exclude={"raw"})
        return (text, self.external_id, self.kind, self.deleted, self.observed_at, self.raw,
                self.digest, self.canon, self.error)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (self._text, self.external_id, self.kind, self.deleted, self.observed_at, self.raw,
         self.digest, self.canon, self.error) = state
        self._observation = None


@dataclass
class PreparedBatch:
    """A batch after :meth:`Preparer.prepare`; picklable, so another process can make it.

    ``batch`` keeps the cursor, rejected rows and snapshot markers; its observations are
    the items' (not kept twice)."""

    batch: Batch
    items: list[Prepared]


class Preparer:
    """The part of ingest that needs no database: plugin enrichment, the content hash and
    normalisation. Pure, so a sync can run it in a second process while the first one
    writes (see hub.service.sync)."""

    def __init__(self, policy: Policy, plugins: HubPlugins | None = None):
        self.policy = policy
        self.plugins = plugins

    def prepare(self, connector: ConnectorConfig, batch: Batch, *,
                normalise: bool = True) -> PreparedBatch:
        salt = policy_salt(self.policy, connector.default_region)
        items = []
        for observation in batch.observations:
            if self.plugins is not None and self.plugins.has_enrichers:
                observation = self.plugins.enrich(observation)
            item = Prepared(observation, content_hash(observation, salt))
            if normalise:
                self.normalise(connector, item)
            items.append(item)
        return PreparedBatch(replace(batch, observations=[]), items)

    def normalise(self, connector: ConnectorConfig, item: Prepared) -> None:
        if item.canon is not None or item.error is not None or item.deleted:
            return  # (the observation is not parsed again in the writer)
        observation = item.observation
        if observation.person is None:
            return
        try:
            item.canon = canonical_person(observation.person, self.policy,
                                          connector.default_region)
        except Exception as exc:  # a normaliser bug must cost one record, not the batch
            item.error = f"could not be normalised: {describe_error(exc)}"
