"""What the pipeline's small tests share: a source and one person as it observes her."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.config import ConnectorConfig
from hub.records import Observation

SRC = ConnectorConfig(name="src", kind="csv")


def ada(title: str = "Engineer", day: int = 5) -> Observation:
    """Ada Lovelace as ``src`` sees her on 2026-01-``day``."""
    return Observation(kind="person", external_id="1",
                       observed_at=datetime(2026, 1, day, tzinfo=UTC),
                       person={"full_name": "Ada Lovelace", "title": title,
                               "emails": [{"value": "ada@example.com", "label": "work"}],
                               "company": {"name": "Analytical Engines Ltd"}})
