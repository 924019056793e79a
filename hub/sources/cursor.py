"""The tie-safe replication cursor: ``updated_since`` plus the ids already read at that
instant.

A source asked for "records updated since T" with an *inclusive* filter returns the
records at T again; asked with an exclusive one, it loses records that share T with the
last record read but came on a later page or were written a moment later. The cursor
keeps the highest value read *and* the ids read at exactly that value, asks inclusively,
and skips those ids: a re-run yields nothing new, and no record sharing the boundary time
is lost.

Values are compared as the times they are (ISO 8601 or RFC 2822, any offset), as
numbers, else as text; the cursor keeps them as the source wrote them, to send them back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["ReplicationCursor", "ordering"]


def ordering(value: Any) -> tuple[int, Any]:
    """A sort key for a replication value: times as times, numbers as numbers, else text."""
    if isinstance(value, bool):
        return (2, str(value))
    if isinstance(value, int | float):
        return (0, float(value))
    text = str(value).strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            return (0, float(text))
        except ValueError:
            pass
        try:  # RFC 2822, as Twilio and mail headers write times
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return (2, text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (1, moment)


@dataclass
class ReplicationCursor:
    """The highest replication value read (``since``) and the ids read at it (``ids``)."""

    since: Any = None
    ids: list[str] = field(default_factory=list)
    #: The earliest value of a record left for a later run (a call still in progress):
    #: the cursor kept at the end of the run does not pass it.
    held: Any = None

    def seen(self, value: Any, external_id: str) -> bool:
        """Whether a record with this value and id was read before (older, or a tie
        already read)."""
        if self.since is None or value is None:
            return False
        here, there = ordering(value), ordering(self.since)
        return here < there or (here == there and external_id in self.ids)

    def advance(self, value: Any, external_id: str) -> None:
        """Note a record read; records without a value do not move the cursor."""
        if value is None:
            return
        if self.since is None or ordering(value) > ordering(self.since):
            self.since, self.ids = value, [external_id]
        elif ordering(value) == ordering(self.since) and external_id not in self.ids:
            self.ids.append(external_id)

    def hold(self, value: Any) -> None:
        """Note a record left for a later run (not read now)."""
        if value is not None and (self.held is None or ordering(value) < ordering(self.held)):
            self.held = value

    def settled(self) -> ReplicationCursor:
        """The cursor to keep: this one, or back at the earliest record left for later
        (read again from there, inclusively; what was read since comes again unchanged)."""
        if self.held is None or (self.since is not None
                                 and ordering(self.held) > ordering(self.since)):
            return ReplicationCursor(self.since, list(self.ids))
        return ReplicationCursor(self.held, [])

    def copy(self) -> ReplicationCursor:
        return ReplicationCursor(self.since, list(self.ids), self.held)

    def to_json(self) -> dict[str, Any]:
        data = {"since": self.since, "ids": list(self.ids)}
        if self.held is not None:
            data["held"] = self.held
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ReplicationCursor:
        data = data or {}
        ids = data.get("ids")
        return cls(data.get("since"), [str(i) for i in ids] if isinstance(ids, list) else [],
                   data.get("held"))
