"""Working through the review queue: bulk decisions by score, and a CSV round trip for
deciding in a spreadsheet."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from hub.cli.main import main
from hub.config import ConnectorConfig, HubConfig, HubSection, MatchSection
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.records import Observation
from hub.store.model import Contact, MatchCandidate
from tests.match.test_matching import T0


def dupont(ext: str, **fields: Any) -> Observation:
    fields["emails"] = [{"value": e} for e in fields.get("emails", [])]
    fields["phones"] = [{"value": p} for p in fields.get("phones", [])]
    return Observation(kind="person", external_id=ext, observed_at=T0,
                       person={"given_name": "Jean", "family_name": "Dupont", **fields})


class Queue:
    """Three Jean Duponts in three sources, every pair in the review queue: two pairs at
    0.92 (nothing contradicts), one low (two different e-mails and birth dates: a typo
    may explain the dates, so a person decides)."""

    def __init__(self, engine: Engine, db_url: str, tmp_path: Path) -> None:
        self.pipeline = Pipeline(engine, HubConfig(hub=HubSection(default_region="FR"),
                                                   match=MatchSection(review=0.01)))
        for n, fields in enumerate(({"emails": ["jd@a-co.fr"], "birthday": "1970-01-01"},
                                    {"phones": ["0611223344"]},
                                    {"emails": ["jean@dupont.net"], "birthday": "1971-05-05"}),
                                   start=1):
            self.pipeline.ingest(ConnectorConfig(name=f"crm-{n}", kind="csv"),
                                 Batch([dupont(str(n), **fields)]))
        self.config = tmp_path / "crmhub.toml"
        self.config.write_text('[hub]\ndefault_region = "FR"\nlog_level = "ERROR"\n')
        self.env = {"CRMHUB_DATABASE_URL": db_url}

    def run(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, [*args, "--config", str(self.config)], env=self.env)
        assert result.exit_code == code, (result.output, result.exception)
        return result

    def by_score(self) -> list[tuple[int, float, str]]:
        with self.pipeline.sessions() as session:
            return [(i, round(s, 2), st) for i, s, st in session.execute(
                select(MatchCandidate.id, MatchCandidate.score, MatchCandidate.status)
                .order_by(MatchCandidate.score.desc(), MatchCandidate.id))]

    def contacts(self) -> int:
        with self.pipeline.sessions() as session:
            return session.scalar(select(func.count()).select_from(Contact).where(
                Contact.merged_into_id.is_(None))) or 0


@pytest.fixture
def queue(engine: Engine, db_url: str, tmp_path: Path) -> Queue:
    return Queue(engine, db_url, tmp_path)


def test_review_merge_above_a_probability_takes_the_queue_best_first(queue: Queue) -> None:
    [(first, high, _), (second, _, _), (_, low, _)] = queue.by_score()
    assert high > 0.9 > low
    preview = json.loads(queue.run("review", "merge", "--above", "0.9", "--dry-run",
                                   "--json").stdout)
    assert preview == {"would": "merge", "candidates": [first, second]}
    assert queue.contacts() == 3  # a dry run changes nothing
    done = queue.run("review", "merge", "--above", "0.9").stdout
    assert "2 merged, 0 rejected, 0 skipped" in done
    assert queue.contacts() == 1
    # the low pair was settled by the two merges: closed, not left open
    assert [status for _, _, status in queue.by_score()] == ["merged"] * 3


def test_review_reject_below_a_probability_remembers_those_pairs(queue: Queue) -> None:
    [_, _, (low_id, _, _)] = queue.by_score()
    done = json.loads(queue.run("review", "reject", "--below", "0.5", "--json").stdout)
    assert [(d["candidate_id"], d["status"]) for d in done] == [(low_id, "rejected")]
    assert [status for _, _, status in queue.by_score()] == ["open", "open", "rejected"]
    queue.run("review", "merge", code=2)  # neither ids nor a threshold


def test_the_queue_goes_to_a_spreadsheet_and_the_decisions_come_back(
        queue: Queue, tmp_path: Path) -> None:
    out = tmp_path / "queue.csv"
    queue.run("review", "export", "--out", str(out))
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["decision"] for r in rows] == ["", "", ""]
    assert rows[0]["left_name"] == rows[0]["right_name"] == "Jean Dupont"
    assert {rows[0]["left_sources"], rows[0]["right_sources"]} <= {"crm-1", "crm-2", "crm-3"}
    rows[0]["decision"], rows[2]["decision"] = "oui", "different"
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    preview = json.loads(queue.run("review", "import", str(out), "--dry-run", "--json").stdout)
    assert preview == {"merge": [int(rows[0]["id"])], "reject": [int(rows[2]["id"])]}
    queue.run("review", "import", str(out))
    # 1 and 2 are one person, 1 and 3 two: so are 2 and 3, the rejection answers them too
    assert [status for _, _, status in queue.by_score()] == ["merged", "rejected", "rejected"]
    rows[1]["decision"] = "maybe"
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    refused = queue.run("review", "import", str(out), code=2)
    assert "line 3: decision 'maybe': write merge or reject" in refused.output


def test_the_queue_grouped_by_contact_shows_each_item_once_under_its_busiest_contact(
        queue: Queue) -> None:
    groups = json.loads(queue.run("review", "list", "--by-contact", "--json").stdout)
    items = [c["id"] for g in groups for c in g["candidates"]]
    assert sorted(items) == sorted(i for i, _, _ in queue.by_score())  # each item once
    # three contacts, each in two items: the first group takes both of its items
    assert [len(g["candidates"]) for g in groups] == [2, 1]
    assert groups[0]["best"] >= groups[1]["best"]
    text = queue.run("review", "list", "--by-contact").stdout
    assert "3 open in 2 contact(s)" in text
    queue.run("review", "list", "--by-contact", "--status", "all", code=2)
