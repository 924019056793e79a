"""crmhub assign / rules, and the --as visibility filter on every read path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner, Result

from hub.cli.main import main
from hub.http import HttpClient
from hub.routing.delivery import deliver
from hub.routing.rules import load_rules
from hub.routing.strategies import BUILTIN
from hub.store.db import make_engine, session_factory, upgrade
from hub_notify import WebhookSink
from tests.routing.support import add_contact

RULES = """
[[teams]]
id = "north"
manager = "nora"
[[teams]]
id = "south"
manager = "sam"

[[owners]]
id = "vera"
role = "admin"
[[owners]]
id = "sam"
role = "manager"
manager = "vera"
[[owners]]
id = "nora"
role = "manager"
manager = "sam"
[[owners]]
id = "ann"
team = "north"
[[owners]]
id = "ned"
team = "north"
[[owners]]
id = "sue"
team = "south"

[[rules]]
name = "north"
when = { "contact.country" = "NO" }
strategy = "round_robin"
team = "north"
[[rules]]
name = "south"
strategy = "fixed"
owner = "sue"
"""


class Env:
    def __init__(self, tmp_path: Path, url: str):
        self.dir = tmp_path
        self.url = url
        (tmp_path / "rules.toml").write_text(RULES, encoding="utf-8")
        self.config = tmp_path / "crmhub.toml"
        self.config.write_text(f'[hub]\ndatabase_url = "{self.url}"\nrules = "rules.toml"\n'
                               'log_format = "text"\nlog_level = "ERROR"\n', encoding="utf-8")
        engine = make_engine(self.url)
        upgrade(engine)
        with session_factory(engine).begin() as session:
            for n in range(4):
                add_contact(session, email=f"n{n}@x.org", country="NO", full_name=f"N{n}")
            add_contact(session, email="s@x.org", country="IT", full_name="S")
            add_contact(session, email="c@x.org", country="NO", stage="customer")
        engine.dispose()

    def run(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, [*args, "--config", str(self.config)])
        assert result.exit_code == code, (result.output, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> Env:
    return Env(tmp_path, db_url)


def test_assign_run_routes_open_unowned_contacts_and_dry_run_writes_nothing(env: Env) -> None:
    preview = env.json("assign", "run", "--dry-run")
    assert [(r["contact_id"], r["owner"]) for r in preview] == [
        (1, "ann"), (2, "ned"), (3, "ann"), (4, "ned"), (5, "sue")]
    assert env.json("assign", "list") == []
    only = env.json("assign", "run", "--where", 'contact.country = "IT"')
    assert [(r["contact_id"], r["owner"]) for r in only] == [(5, "sue")]
    rest = env.json("assign", "run")
    assert [(r["contact_id"], r["owner"]) for r in rest] == [
        (1, "ann"), (2, "ned"), (3, "ann"), (4, "ned")]
    assert env.json("assign", "run") == []  # nothing left to route


def test_manual_assignment_is_never_overridden_and_explain_tells_the_story(env: Env) -> None:
    env.run("assign", "run")
    assert "1: ann -> sue (manual)" in env.run("assign", "set", "1", "sue", "--by", "nora").stdout
    moved = env.json("assign", "run", "--reassign")
    assert 1 not in [r["contact_id"] for r in moved]
    story = env.json("assign", "explain", "1")
    assert [(a["owner"], a["by"], a["current"]) for a in story["assignments"]] == [
        ("ann", "auto", False), ("sue", "user", True)]
    text = env.run("assign", "explain", "2").stdout
    assert "rule [0] north (round_robin): assigned to ned" in text and "CHOSEN" in text
    env.run("assign", "set", "1", "nobody", code=2)


def test_assign_set_refuses_an_inactive_owner_with_a_clear_error(env: Env) -> None:
    rules = env.dir / "rules.toml"
    rules.write_text(rules.read_text().replace('id = "ned"\n', 'id = "ned"\nactive = false\n'))
    result = env.run("assign", "set", "1", "ned", code=2)
    assert "owner 'ned' is inactive" in result.output
    assert env.json("assign", "list") == []


def test_rules_test_replays_the_live_rules_unchanged_and_a_draft_with_moves(env: Env) -> None:
    env.run("assign", "run")
    same = env.json("rules", "test", "--since", "1d")
    assert same["decisions"] == 5 and same["changed"] == 0 and same["same_ruleset"]
    draft = env.dir / "draft.toml"
    draft.write_text(RULES.replace('owner = "sue"', 'owner = "sam"').replace(
        'when = { "contact.country" = "NO" }', 'when = { "contact.country" = "XX" }'))
    report = env.json("rules", "test", "--rules", str(draft))
    assert report["changed"] == 5
    assert {o["owner"]: (o["before"], o["after"]) for o in report["owners"]} == {
        "ann": (2, 0), "ned": (2, 0), "sue": (1, 0), "sam": (0, 5)}
    text = env.run("rules", "test", "--rules", str(draft)).stdout
    assert "5 lead(s) would move" in text
    assert len(env.json("assign", "list")) == 5  # nothing written


def test_rules_test_as_an_owner_reports_only_the_leads_that_owner_may_see(env: Env) -> None:
    env.run("assign", "run")
    draft = env.dir / "draft.toml"
    draft.write_text(RULES.replace('owner = "sue"', 'owner = "sam"').replace(
        'when = { "contact.country" = "NO" }', 'when = { "contact.country" = "XX" }'))
    mine = env.json("rules", "test", "--rules", str(draft), "--as", "ann")
    # every decision is replayed; the leads ann sees now or would get are reported
    assert (mine["decisions"], mine["leads"], mine["changed"], mine["as"]) == (5, 2, 2, "ann")
    assert {o["owner"]: (o["before"], o["after"]) for o in mine["owners"]} == {
        "ann": (2, 0), "sam": (0, 2)}
    everything = env.dir / "all-to-ann.toml"
    everything.write_text(RULES.replace('when = { "contact.country" = "NO" }\n'
                                        'strategy = "round_robin"\nteam = "north"',
                                        'strategy = "fixed"\nowner = "ann"'))
    gains = env.json("rules", "test", "--rules", str(everything), "--as", "ann")
    assert {o["owner"]: (o["before"], o["after"]) for o in gains["owners"]} == {
        "ann": (2, 5), "ned": (2, 0), "sue": (1, 0)}  # the leads she keeps and gains
    assert gains["leads"] == 5 and gains["changed"] == 3
    team = env.json("rules", "test", "--rules", str(draft), "--as", "nora")  # ann's manager
    assert {m["before"] for m in team["moves"]} == {"ann", "ned"} and team["changed"] == 4
    text = env.run("rules", "test", "--rules", str(draft), "--as", "ann").stdout
    assert "replayed 5 decision(s)" in text and "2 lead(s) ann keeps, loses or gains" in text
    assert "did you mean 'ann'?" in env.run("rules", "test", "--as", "anne", code=2).output


def test_visibility_rep_sees_own_manager_reports_recursively_admin_all(env: Env) -> None:
    env.run("assign", "run")

    def owners_seen(who: str) -> list[str | None]:
        out = env.run("export", "contacts", "--as", who).stdout
        return sorted({json.loads(line)["owner"] for line in out.splitlines()},
                      key=lambda o: o or "")

    assert owners_seen("ann") == ["ann"]
    assert owners_seen("nora") == ["ann", "ned"]
    assert owners_seen("sam") == ["ann", "ned", "sue"]
    assert owners_seen("vera") == [None, "ann", "ned", "sue"]  # admin: all, unowned too
    assert [r["owner"] for r in env.json("contacts", "list", "--as", "sue")] == ["sue"]
    env.run("contacts", "show", "1", "--as", "sue", code=1)
    env.run("contacts", "show", "1", "--as", "nora")
    env.run("assign", "explain", "1", "--as", "ned", code=1)
    assert {r["owner"] for r in env.json("assign", "list", "--as", "nora")} == {"ann", "ned"}
    result = env.run("export", "contacts", "--as", "anne", code=2)
    assert "did you mean 'ann'?" in result.output


def test_config_check_reports_rules_file_errors_with_file_rule_and_key(env: Env) -> None:
    (env.dir / "rules.toml").write_text(RULES.replace('strategy = "fixed"',
                                                      'strategy = "fixd"'))
    result = CliRunner().invoke(main, ["config", "check", "--config", str(env.config)])
    assert result.exit_code == 2
    assert f"{env.dir / 'rules.toml'}: rules[1 name=south].strategy: unknown strategy " \
           "'fixd'" in result.output
    assert "did you mean 'fixed'?" in result.output
    rules = CliRunner().invoke(main, ["rules", "check", "--config", str(env.config)])
    assert rules.exit_code == 2


def test_sla_rules_without_a_touch_source_are_warned_of_and_a_touch_can_be_recorded(
        env: Env) -> None:
    rules = env.dir / "rules.toml"
    rules.write_text(RULES.replace('team = "north"\n[[rules]]', 'team = "north"\nsla = "1h"\n'
                                   '[[rules]]'))
    (env.dir / "leads.csv").write_text("Email\nx@y.org\n")
    with env.config.open("a") as config:
        config.write('[[connectors]]\nname = "leads"\nkind = "csv"\n'
                     '[connectors.settings]\npaths = ["leads.csv"]\n')
    for command in (("rules", "check"), ("config", "check")):
        checked = env.run(*command)
        assert "rules[0 name=north].sla: an SLA is met by an owner's outbound e-mail or " \
               "call, but no configured connector brings e-mails or calls" in checked.stderr
        assert "crmhub assign touch CONTACT --by OWNER" in checked.stderr
    env.run("assign", "run")
    assert env.json("assign", "explain", "1")["assignments"][-1]["sla_state"] == "pending"
    # bob is no owner; ned is one, but not this lead's: his touch meets no SLA
    assert "no owner 'bob'" in env.run("assign", "touch", "1", "--by", "bob", code=2).output
    assert "SLA" not in env.run("assign", "touch", "1", "--by", "ned").stdout
    done = env.run("assign", "touch", "1", "--by", "ann", "--channel", "call",
                   "--note", "called back, demo booked")
    assert "touch by ann recorded (their SLA on it is met)" in done.stdout
    last = env.json("assign", "explain", "1")["assignments"][-1]
    assert (last["owner"], last["sla_state"]) == ("ann", "met")
    env.run("assign", "touch", "1", "--by", "ann", "--at", "2999-01-01T00:00", code=2)


@responses.activate
def test_status_lists_notification_deliveries(env: Env,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "k")
    rules = env.dir / "rules.toml"
    rules.write_text(RULES + '[[notify]]\nname = "hook"\nsink = "webhook"\n'
                     '[notify.settings]\nurl = "https://hooks.example.com/x"\n'
                     'secret = { env = "HOOK_SECRET" }\n', encoding="utf-8")
    assert env.json("status")["notifications"] == []
    env.run("assign", "run")  # five leads routed: five contact.assigned events
    for status in (200, 200, 200, 200, 503):  # the last one fails, to be retried
        responses.post("https://hooks.example.com/x", status=status)
    engine = make_engine(env.url)
    sinks = {"webhook": WebhookSink}
    deliver(session_factory(engine), load_rules(rules, {k.name: k for k in BUILTIN}, sinks),
            sinks, HttpClient(max_attempts=1), datetime.now(UTC))
    engine.dispose()
    [hook] = env.json("status")["notifications"]
    assert {k: hook[k] for k in ("sink", "delivered", "pending", "failing", "dead")} == {
        "sink": "hook", "delivered": 4, "pending": 1, "failing": 1, "dead": 0}
    assert "503" in hook["last_error"] and hook["next_attempt"] is not None


@responses.activate
def test_dead_deliveries_are_listed_and_sent_again_by_deliveries_retry(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "k")
    rules = env.dir / "rules.toml"
    rules.write_text(RULES + '[[notify]]\nname = "hook"\nsink = "webhook"\n'
                     '[notify.settings]\nurl = "https://hooks.example.com/x"\n'
                     'secret = { env = "HOOK_SECRET" }\n', encoding="utf-8")
    env.run("assign", "run")  # five contact.assigned events
    responses.post("https://hooks.example.com/x", status=410)  # gone: each one dead
    engine = make_engine(env.url)
    sinks = {"webhook": WebhookSink}
    ruleset = load_rules(rules, {k.name: k for k in BUILTIN}, sinks)

    def deliver_now() -> Any:
        return deliver(session_factory(engine), ruleset, sinks, HttpClient(max_attempts=1),
                       datetime.now(UTC))

    assert deliver_now().dead == 5
    dead = env.json("deliveries", "list")
    assert [(d["status"], d["event"], d["attempts"]) for d in dead] == \
        [("dead", "contact.assigned", 1)] * 5
    first = dead[-1]["id"]
    assert env.json("deliveries", "retry", str(first), "9999") == {
        "retried": [first], "not_dead": [9999]}
    responses.replace(responses.POST, "https://hooks.example.com/x", status=204)
    assert deliver_now().delivered == 1
    assert env.json("deliveries", "retry", "--dead")["retried"] == sorted(
        d["id"] for d in dead if d["id"] != first)
    assert deliver_now().delivered == 4
    assert env.json("deliveries", "list") == []
    env.run("deliveries", "retry", code=2)
    engine.dispose()


def test_contacts_show_and_explain_carry_the_score_breakdown_and_stage_history(
        env: Env) -> None:
    from hub.routing.model import ContactScore, StageChange

    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    engine = make_engine(env.url)
    with session_factory(engine).begin() as session:
        session.add(ContactScore(contact_id=1, score=35.0, inputs_hash="h", computed_at=at,
                                 breakdown=[{"name": "country is NO", "points": 25},
                                            {"name": "replied by e-mail", "points": 10}]))
        session.add(StageChange(contact_id=1, from_stage="lead", to_stage="prospect",
                                rule="hot", by="auto", at=at))
    engine.dispose()

    shown = env.json("contacts", "show", "1")
    assert [i["points"] for i in shown["score_breakdown"]] == [25, 10]
    assert shown["stage_history"] == [{"from": "lead", "to": "prospect", "rule": "hot",
                                       "by": "auto", "at": at.isoformat()}]
    text = env.run("contacts", "explain", "1").stdout
    assert "score +25  country is NO" in text
    assert f"{at.isoformat()}  lead -> prospect  (rule hot)" in text


def test_visibility_applies_to_contacts_explain_and_the_review_queue(env: Env) -> None:
    from datetime import UTC, datetime

    from hub.store.model import MatchCandidate

    env.run("assign", "run")  # 1, 3: ann; 2, 4: ned; 5: sue; 6 (a customer): nobody
    engine = make_engine(env.url)
    with session_factory(engine).begin() as session:
        for left, right in ((1, 3), (1, 2), (5, 6)):
            session.add(MatchCandidate(left_id=left, right_id=right, left_record_id=left,
                                       right_record_id=right, score=0.5, weight=1.0,
                                       created_at=datetime.now(UTC)))
    engine.dispose()

    def pairs(who: str) -> list[tuple[int, int]]:
        return [(r["left_contact"], r["right_contact"])
                for r in env.json("review", "list", "--as", who)]

    assert pairs("ann") == [(1, 3)]          # (1, 2) shows ned's contact too
    assert pairs("nora") == [(1, 3), (1, 2)]
    assert pairs("sue") == []                # contact 6 is nobody's
    assert len(pairs("vera")) == 3
    assert "1 open" in env.run("review", "list", "--as", "ann").stdout
    env.run("review", "show", "2", "--as", "ann", code=1)
    assert env.json("review", "show", "2", "--as", "nora")["id"] == 2
    env.run("review", "show", "1", "--as", "anne", code=2)
    env.run("contacts", "explain", "1", "--as", "sue", code=1)
    assert env.json("contacts", "explain", "1", "--as", "ann")["id"] == 1


def test_review_merge_keeps_the_further_stage_of_the_two_contacts(env: Env) -> None:
    from datetime import UTC, datetime

    from hub.store.model import Contact, MatchCandidate, SourceRecord

    engine = make_engine(env.url)
    now = datetime.now(UTC)
    with session_factory(engine).begin() as session:
        for contact in (1, 6):  # 1 a lead, 6 a customer: 1 survives as the lower id
            session.add(SourceRecord(connector="csv", external_id=str(contact), kind="person",
                                     content_hash="x", data={}, observed_at=now,
                                     first_seen=now, last_seen=now, contact_id=contact))
        session.flush()
        session.add(MatchCandidate(left_id=1, right_id=6, left_record_id=1, right_record_id=2,
                                   score=0.5, weight=1.0, created_at=now))
    env.run("review", "merge", "1")
    with session_factory(engine)() as session:
        assert session.get(Contact, 1).stage == "customer"  # type: ignore[union-attr]
    engine.dispose()
