"""One call as an interaction, whatever reported it (a PBX's log, a webhook, an API).

The caller's or callee's number is passed on as the source wrote it (``+33 6…``,
``06…``, ``0033 6…``): the core turns it into E.164 with the connector's
``default_region`` and links the call to the contact with that number. Our own line and
the agent (an extension or a number) are participants too: numbers in ``[hub]
own_numbers`` and extensions (too short to be a phone number) never become contacts, and
an outbound call whose agent is an owner's extension is that owner's first touch for the
routing SLA.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from hub.records import Observation

Direction = Literal["inbound", "outbound", "internal"]


def call_observation(*, call_id: str, started_at: datetime, direction: Direction,
                     external: str | None, line: str | None, agent: str | None,
                     duration_s: int | None, status: str | None, observed_at: datetime,
                     create_contacts: bool, raw: dict[str, Any]) -> Observation:
    """The ``interaction`` observation of one call (channel ``call``)."""
    inbound = direction == "inbound"
    participants: list[dict[str, str]] = []
    if external:
        participants.append({"phone": external, "role": "from" if inbound else "to"})
    if line:
        participants.append({"phone": line, "role": "to" if inbound else "from"})
    if agent:
        participants.append({"phone": agent, "role": "agent"})
    return Observation.model_validate({
        "kind": "interaction", "external_id": call_id, "observed_at": observed_at,
        "raw": raw, "interaction": {
            "channel": "call", "direction": direction, "occurred_at": started_at,
            "duration_s": duration_s, "status": status, "participants": participants,
            "create_contacts": create_contacts}})
