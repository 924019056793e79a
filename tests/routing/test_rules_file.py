"""Invalid rule files give errors naming the file, the rule (index and name) and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError
from hub.routing.conditions import ConditionError, compile_condition
from hub.routing.rules import load_rules
from hub.routing.strategies import BUILTIN
from tests.routing.support import OWNERS

STRATEGIES = {k.name: k for k in BUILTIN}


def errors(tmp_path: Path, text: str) -> list[tuple[str, str, str | None]]:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(path, STRATEGIES)
    assert all(issue.file == str(path) for issue in caught.value.issues)
    return [(i.key, i.message, i.hint) for i in caught.value.issues]


def test_unknown_field_in_a_condition_names_rule_index_name_key_and_suggests(
        tmp_path: Path) -> None:
    found = errors(tmp_path, OWNERS + """
[[rules]]
name = "ok"
strategy = "fixed"
owner = "alice"
[[rules]]
name = "big"
when = { all = [ { "contact.country" = "FR" }, { "company.employes" = { gte = 500 } } ] }
strategy = "fixed"
owner = "alice"
""")
    assert found == [("rules[1 name=big].when.all[1].company.employes",
                      "unknown field 'company.employes'", "did you mean 'company.employees'?")]


def test_unknown_operator_strategy_owner_and_param_are_each_reported(tmp_path: Path) -> None:
    found = errors(tmp_path, OWNERS + """
[[rules]]
name = "a"
when = { field = "score", op = "greater", value = 3 }
strategy = "fixed"
owner = "alice"
[[rules]]
name = "b"
strategy = "round_robbin"
[[rules]]
name = "c"
strategy = "fixed"
owner = "alise"
[[rules]]
name = "d"
strategy = "round_robin"
tem = "sales"
""")
    keys = {key: (message, hint) for key, message, hint in found}
    message, hint = keys["rules[0 name=a].when.op"]
    assert message == "unknown operator 'greater'" and hint is not None and "gte" in hint
    assert keys["rules[1 name=b].strategy"] == ("unknown strategy 'round_robbin'",
                                                "did you mean 'round_robin'?")
    assert keys["rules[2 name=c]"] == ("strategy 'fixed' names unknown owner 'alise'",
                                       "did you mean 'alice'?")
    assert keys["rules[3 name=d].tem"] == ("unknown key for strategy 'round_robin'",
                                           "did you mean 'team'?")


def test_owners_with_unknown_team_manager_and_a_management_cycle(tmp_path: Path) -> None:
    found = errors(tmp_path, """
[[teams]]
id = "sales"
[[owners]]
id = "a"
manager = "b"
team = "sails"
[[owners]]
id = "b"
manager = "c"
[[owners]]
id = "c"
manager = "a"
[[owners]]
id = "d"
manager = "zed"
timezone = "Mars/Olympus"
""")
    assert ("owners[0 id=a].team", "unknown team 'sails'", "did you mean 'sales'?") in found
    assert ("owners[3 id=d].manager", "unknown owner 'zed'", "owners: a, b, c, d") in found
    assert any(key == "owners[3 id=d].timezone" and "unknown time zone" in message
               for key, message, _ in found)
    assert ("owners[id=a].manager", "the management chain loops: a -> b -> c -> a",
            "someone at the top has no manager") in found


def test_unknown_top_level_and_owner_keys_have_hints(tmp_path: Path) -> None:
    found = errors(tmp_path, """
[[owner]]
id = "x"
[[owners]]
id = "y"
capacty = 3
""")
    assert ("owner", "unknown key", "did you mean 'owners'?") in found
    assert ("owners[0 id=y].capacty", "unknown key", "did you mean 'capacity'?") in found


def test_bad_working_hours_sla_and_duplicate_rule_names(tmp_path: Path) -> None:
    found = errors(tmp_path, """
[[owners]]
id = "x"
working_hours = { mon-fri = "18:00-09:00" }
[[owners]]
id = "y"
[[rules]]
name = "r"
strategy = "fixed"
owner = "y"
sla = "soon"
[[rules]]
name = "r"
strategy = "fixed"
owner = "y"
""")
    keys = [key for key, _, _ in found]
    assert "owners[0 id=x].working_hours" in keys
    assert "rules[0 name=r].sla" in keys
    assert "rules[1 name=r].name" in keys


def test_a_missing_rules_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="rules file not found"):
        load_rules(Path("/nonexistent/rules.toml"), STRATEGIES)


@pytest.mark.parametrize(("condition", "facts", "expected"), [
    ({"contact.country": "fr"}, {"contact.country": "FR"}, True),
    ({"contact.country": {"in": ["BE", "LU"]}}, {"contact.country": "FR"}, False),
    ({"contact.country": {"not_in": ["BE"]}}, {}, True),
    ({"contact.country": {"ne": "FR"}}, {}, True),
    ({"company.employees": {"between": [50, 500]}}, {"company.employees": 500}, True),
    ({"company.employees": {"lt": 50}}, {"company.employees": None}, False),
    ({"score": {"gte": 50}}, {"score": 50.0}, True),
    ({"tags": {"contains": "VIP"}}, {"tags": ["vip", "fr"]}, True),
    ({"tags": "fr"}, {"tags": ["vip", "fr"]}, True),
    ({"contact.title": {"contains": "chief"}}, {"contact.title": "Chief Exec"}, True),
    ({"contact.title": {"matches": r"\b(ceo|cto)\b"}}, {"contact.title": "CTO, Acme"}, True),
    ({"contact.address.postcode": {"startswith": "75"}},
     {"contact.address.postcode": "75008"}, True),
    ({"custom.budget": {"exists": True}}, {"custom.budget": ""}, False),
    ({"company.name": {"missing": True}}, {}, True),
    ({"not": {"stage": "lead"}}, {"stage": "prospect"}, True),
    ({"any": [{"source": "web"}, {"sources": {"contains": "web"}}]},
     {"source": "x", "sources": ["web"]}, True),
    ({"contact.country": "FR", "score": {"gt": 10}}, {"contact.country": "FR", "score": 5},
     False),
])
def test_condition_operators(condition: dict[str, object], facts: dict[str, object],
                             expected: bool) -> None:
    assert compile_condition(condition)(facts) is expected


def test_condition_errors_are_precise() -> None:
    cases = {
        "when.score.between": {"score": {"between": [5]}},
        "when.contact.title.matches": {"contact.title": {"matches": "("}},
        "when.any": {"any": []},
        "when.value": {"field": "score", "op": "gt"},
    }
    for key, condition in cases.items():
        with pytest.raises(ConditionError) as caught:
            compile_condition(condition)
        assert caught.value.key == key


def test_a_misspelt_event_in_a_notify_entry_is_refused_with_the_name_it_resembles(
        tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(OWNERS + '[[notify]]\nname = "hook"\nsink = "webhook"\n'
                    'events = ["contact.assigned", "contact.reasigned"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_rules(path, {k.name: k for k in BUILTIN})
    (issue,) = info.value.issues
    assert issue.key == "notify[0 name=hook].events[1]"
    assert issue.message == "unknown event 'contact.reasigned'"
    assert issue.hint is not None and "contact.reassigned" in issue.hint
