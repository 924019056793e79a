"""Survivorship: per-field policies, manual corrections first, provenance, config errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from hub.cli.main import main
from hub.config import ConfigError, ConnectorConfig, HubConfig, SurvivorshipFields, load_config
from hub.connectors import Batch
from hub.ingest.manual import set_fields
from hub.ingest.pipeline import Pipeline
from hub.match.golden import SURVIVORSHIP, golden_values
from hub.match.survivorship import (
    FIELDS,
    POLICIES,
    SourceView,
    SurvivorshipPolicy,
    build_golden,
)
from hub.records import Observation
from hub.store.model import Contact, OutboxEvent

PRIORITY = ("billing", "outlook", "google")


def source(id: int, connector: str, day: int, **data: Any) -> SourceView:
    return SourceView(id, connector, f"{connector}-{id}", datetime(2026, 1, day, tzinfo=UTC),
                      data)


def policy(default: Any = "most_recent", **fields: Any) -> SurvivorshipPolicy:
    return SurvivorshipPolicy(default, PRIORITY, fields)


def email(value: str, primary: bool = False, label: str | None = None) -> dict[str, Any]:
    return {"value": value, "key": value, "label": label, "primary": primary, "flags": []}


# -- the policies ---------------------------------------------------------------------------

def test_most_recent_takes_the_newest_value_and_a_tie_on_the_date_goes_by_source_priority(
        ) -> None:
    sources = [source(1, "billing", 1, title="CEO"), source(2, "google", 5, title="CTO"),
               source(3, "outlook", 5, title="CFO"), source(4, "outlook", 9, title="")]
    golden, provenance = build_golden(sources, policy(title="most_recent"))
    assert golden["title"] == "CFO"
    assert provenance["title"] == {"connector": "outlook", "external_id": "outlook-3",
                                   "observed_at": "2026-01-05T00:00:00+00:00",
                                   "rule": "most recent (a tie, to source priority)"}


def test_source_priority_takes_the_first_listed_connector_with_a_value() -> None:
    sources = [source(1, "google", 9, family_name="Byron"),
               source(2, "billing", 1, family_name="Lovelace"),
               source(3, "outlook", 5, family_name="King")]
    golden, provenance = build_golden(sources, policy(family_name="source_priority"))
    assert golden["family_name"] == "Lovelace"
    assert provenance["family_name"]["rule"] == "source priority (billing first)"

    golden, provenance = build_golden(sources[::2], policy(family_name="source_priority"))
    assert golden["family_name"] == "King"
    assert provenance["family_name"]["rule"] == "source priority (outlook second)"


def test_source_priority_ranks_unlisted_connectors_last_then_by_recency() -> None:
    sources = [source(1, "vcards", 2, title="Old"), source(2, "linkedin", 8, title="New")]
    golden, provenance = build_golden(sources, policy(title="source_priority"))
    assert golden["title"] == "New"
    assert provenance["title"]["rule"] == "source priority (linkedin not listed, most recent)"

    golden, _ = build_golden([*sources, source(3, "google", 1, title="Listed")],
                             policy(title="source_priority"))
    assert golden["title"] == "Listed"


def test_most_frequent_takes_the_value_most_sources_agree_on() -> None:
    sources = [source(1, "billing", 1, birthday="1815-12-10"),
               source(2, "outlook", 2, birthday="1815-12-10"),
               source(3, "google", 3, birthday="1815-12-10"),
               source(4, "vcards", 9, birthday="1815-12-01")]
    golden, provenance = build_golden(sources, policy(birthday="most_frequent"))
    assert golden["birthday"] == "1815-12-10"
    assert provenance["birthday"]["rule"] == "most frequent (3 of 4 sources)"
    assert provenance["birthday"]["connector"] == "google"  # the newest of those agreeing


def test_most_frequent_ties_go_to_the_most_recent_and_ignore_case() -> None:
    sources = [source(1, "billing", 1, title="Countess"), source(2, "outlook", 2, title="CEO"),
               source(3, "google", 3, title="countess "), source(4, "vcards", 4, title="CEO")]
    golden, provenance = build_golden(sources, policy(title="most_frequent"))
    assert golden["title"] == "CEO"
    assert provenance["title"]["rule"] == "most frequent (2 of 4 sources, tie to most recent)"


def test_most_frequent_company_agrees_on_the_normalised_name() -> None:
    acme = {"name": "ACME SA", "name_key": "acme", "domain": None}
    sources = [source(1, "billing", 1, company=acme),
               source(2, "outlook", 2, company={**acme, "name": "Acme", "domain": "acme.fr"}),
               source(3, "google", 3, company={"name": "Initech", "name_key": "initech"})]
    golden, provenance = build_golden(sources, policy(company="most_frequent"))
    assert golden["company"]["domain"] == "acme.fr"
    assert provenance["company"]["rule"] == "most frequent (2 of 3 sources)"


def test_most_complete_address_has_the_most_parts_and_scalars_the_longest_value() -> None:
    full = {"street": "12 rue de la Paix", "city": "Paris", "postcode": "75002",
            "country": "FR"}
    sources = [source(1, "billing", 1, address=full, country="FR", title="Chief Engineer"),
               source(2, "google", 9, address={"city": "Lyon", "country": "FR"},
                      country="FR", title="Engineer")]
    golden, provenance = build_golden(sources, policy(address="most_complete",
                                                      title="most_complete"))
    assert golden["address"] == full
    assert provenance["address"]["rule"] == "most complete (4 parts)"
    assert golden["title"] == "Chief Engineer"
    assert provenance["title"]["rule"] == "most complete (14 characters)"


def test_longest_takes_the_longest_value_and_ties_go_to_the_most_recent() -> None:
    sources = [source(1, "billing", 1, full_name="Ada King"),
               source(2, "outlook", 2, full_name="Ada Lovelace"),
               source(3, "google", 3, full_name="Ada Byron")]
    golden, provenance = build_golden(sources, policy(full_name="longest"))
    assert golden["full_name"] == "Ada Lovelace"
    assert provenance["full_name"]["rule"] == "longest (12 characters)"

    tied = [source(1, "billing", 1, title="Lead"), source(2, "google", 2, title="Head")]
    golden, _ = build_golden(tied, policy(title="longest"))
    assert golden["title"] == "Head"


def test_country_follows_the_chosen_address_unless_it_has_a_policy_of_its_own() -> None:
    sources = [source(1, "billing", 1, address={"street": "1 Main St", "city": "Leeds",
                                                "country": "GB"}, country="GB"),
               source(2, "google", 9, address={"city": "Lyon", "country": "FR"},
                      country="FR")]
    golden, provenance = build_golden(sources, policy(address="most_complete"))
    assert (golden["address"]["city"], golden["country"]) == ("Leeds", "GB")
    assert provenance["country"]["rule"] == "from the address: most complete (3 parts)"

    golden, _ = build_golden(sources, policy(address="most_complete", country="most_recent"))
    assert golden["country"] == "FR"


def test_unlisted_fields_follow_the_default_policy() -> None:
    sources = [source(1, "billing", 1, title="CEO", language="fr"),
               source(2, "google", 9, title="CTO", language="en")]
    golden, provenance = build_golden(sources, policy("source_priority", language="most_recent"))
    assert (golden["title"], golden["language"]) == ("CEO", "en")
    assert provenance["title"]["rule"] == "source priority (billing first)"


# -- unions and primaries -----------------------------------------------------------------

def test_emails_stay_a_union_and_the_primary_follows_source_priority() -> None:
    sources = [source(1, "billing", 1, emails=[email("ada@acme.fr", primary=True,
                                                     label="work")]),
               source(2, "google", 9, emails=[email("ada@gmail.com", primary=True),
                                              email("ada@acme.fr")])]
    golden, provenance = build_golden(sources, policy("source_priority"))
    assert [(e["value"], e["primary"], e["label"], e["sources"]) for e in golden["emails"]] \
        == [("ada@acme.fr", True, "work", [1, 2]), ("ada@gmail.com", False, None, [2])]
    assert provenance["emails.ada@acme.fr"]["rule"] == \
        "union, primary by source priority (billing first)"
    assert provenance["emails.ada@gmail.com"]["rule"] == "union"

    golden, _ = build_golden(sources)  # the default: the newest source's primary
    assert [e["value"] for e in golden["emails"] if e["primary"]] == ["ada@gmail.com"]


def test_under_most_frequent_the_primary_is_the_one_most_sources_flag() -> None:
    sources = [source(1, "billing", 1, phones=[{"value": "+33612345678", "primary": True}]),
               source(2, "outlook", 2, phones=[{"value": "+33612345678", "primary": True}]),
               source(3, "google", 9, phones=[{"value": "+33700000000", "primary": True},
                                              {"value": "+33612345678"}])]
    golden, provenance = build_golden(sources, policy("most_frequent"))
    assert [p["value"] for p in golden["phones"] if p["primary"]] == ["+33612345678"]
    assert provenance["phones.+33612345678"]["rule"] == \
        "union, primary by most frequent (2 of 3 sources)"
    assert len(golden["phones"]) == 2


def test_per_key_values_and_tags_follow_the_default_policy_and_stay_unions() -> None:
    sources = [source(1, "billing", 1, custom={"tier": "gold"}, tags=["vip"]),
               source(2, "google", 9, custom={"tier": "silver", "team": "b"}, tags=["x"])]
    golden, provenance = build_golden(sources, policy("source_priority"))
    assert golden["custom"] == {"team": "b", "tier": "gold"}
    assert provenance["custom.tier"]["rule"] == "source priority (billing first)"
    assert golden["tags"] == ["vip", "x"]


# -- manual corrections -------------------------------------------------------------------

@pytest.mark.parametrize("rule", POLICIES)
def test_a_manual_correction_wins_over_every_policy(rule: Any) -> None:
    sources = [source(1, "billing", 9, title="Chief Executive Officer",
                      emails=[email("ada@acme.fr", primary=True)]),
               source(2, "billing", 9, title="Chief Executive Officer"),
               source(3, "manual", 1, title="CEO", emails=[email("ada@home.fr", primary=True)])]
    golden, provenance = build_golden(sources, policy(rule, title=rule))
    assert golden["title"] == "CEO"
    assert provenance["title"] == {"connector": "manual", "external_id": "manual-3",
                                   "observed_at": "2026-01-01T00:00:00+00:00",
                                   "rule": "manual correction"}
    assert [e["value"] for e in golden["emails"] if e["primary"]] == ["ada@home.fr"]
    assert provenance["emails.ada@home.fr"]["rule"] == "union, primary by manual correction"


def test_a_manual_correction_survives_a_newer_sync_from_the_top_priority_source(
        engine: Engine) -> None:
    config = HubConfig.model_validate({"match": {"survivorship": {
        "default": "source_priority", "source_priority": ["billing"]}}})
    pipeline = Pipeline(engine, config)
    survivorship = config.match.survivorship.policy()
    # What the pipeline does with its configured policy (one line in Pipeline.__init__).
    pipeline.sessions.configure(info={SURVIVORSHIP: survivorship})
    billing = ConnectorConfig(name="billing", kind="csv")

    def seen(title: str, day: int) -> Observation:
        return Observation(kind="person", external_id="1",
                           observed_at=datetime(2026, 1, day, tzinfo=UTC),
                           person={"full_name": "Ada Lovelace", "title": title,
                                   "emails": [{"value": "ada@example.com"}]})

    pipeline.ingest(billing, Batch([seen("Engineer", 5)]))
    with pipeline.sessions.begin() as session:
        set_fields(session, 1, {"title": "Countess"}, pipeline.policy)
    pipeline.ingest(billing, Batch([seen("Chief Engineer", 20)]))
    with pipeline.sessions() as session:
        contact = session.get(Contact, 1)
        assert contact is not None
        assert contact.title == "Countess"
        assert contact.provenance["title"]["rule"] == "manual correction"
        assert contact.provenance["full_name"] == {
            "connector": "billing", "external_id": "1",
            "observed_at": contact.provenance["full_name"]["observed_at"],
            "rule": "source priority (billing first)"}


# -- defaults -----------------------------------------------------------------------------

def test_without_a_policy_the_most_recent_source_wins_as_before() -> None:
    older = source(1, "billing", 1, given_name="Ada", family_name="King", title="CEO",
                   address={"city": "London"}, custom={"tier": "gold", "team": "a"},
                   emails=[email("ada@acme.fr", label="work"), email("ada@king.uk")],
                   tags=["vip"])
    newer = source(2, "google", 9, given_name="Ada", family_name="Lovelace", title="",
                   custom={"tier": "silver"}, emails=[email("ada@acme.fr", label="home")],
                   tags=["x"])
    golden, provenance = build_golden([older, newer])
    assert build_golden([older, newer], SurvivorshipPolicy()) == (golden, provenance)
    assert HubConfig().match.survivorship.policy() == SurvivorshipPolicy()
    assert (golden["family_name"], golden["title"], golden["address"]) == \
        ("Lovelace", "CEO", {"city": "London"})
    assert golden["custom"] == {"team": "a", "tier": "silver"}
    assert [(e["value"], e["label"], e["primary"]) for e in golden["emails"]] == \
        [("ada@acme.fr", "home", True), ("ada@king.uk", None, False)]
    assert golden["tags"] == ["vip", "x"]
    assert {name: p["rule"] for name, p in provenance.items()} == {
        "given_name": "most recent", "family_name": "most recent", "title": "most recent",
        "address": "most recent", "custom.team": "most recent", "custom.tier": "most recent",
        "emails.ada@acme.fr": "union", "emails.ada@king.uk": "union"}
    values, points = golden_values(7, [(older, None), (newer, None)])
    assert values["provenance"] == provenance and len(points) == 2


# -- configuration ------------------------------------------------------------------------

def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crmhub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_issues(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text), environ={})
    return [str(issue) for issue in caught.value.issues]


def test_the_documented_example_loads_into_a_policy(tmp_path: Path) -> None:
    loaded = load_config(write_config(tmp_path, """
[match.survivorship]
default = "most_recent"
source_priority = ["billing", "outlook-exports", "google-contacts"]
[match.survivorship.fields]
title = "most_recent"
family_name = "source_priority"
birthday = "most_frequent"
address = "most_complete"
full_name = "longest"
"""), environ={})
    survivorship = loaded.config.match.survivorship.policy()
    assert survivorship.source_priority == ("billing", "outlook-exports", "google-contacts")
    assert survivorship.rule_of("birthday") == "most_frequent"
    assert survivorship.rule_of("company") == "most_recent"


def test_an_unknown_policy_is_an_error_with_a_did_you_mean_hint(tmp_path: Path) -> None:
    [issue] = config_issues(tmp_path, '[match.survivorship.fields]\ntitle = "most_frequnt"\n')
    assert "match.survivorship.fields.title: unknown survivorship policy 'most_frequnt'" \
        in issue
    assert "hint: did you mean 'most_frequent'?" in issue
    [issue] = config_issues(tmp_path, '[match.survivorship]\ndefault = "random"\n')
    assert "match.survivorship.default: unknown survivorship policy 'random'" in issue
    assert "hint: use one of most_recent, source_priority" in issue


def test_an_unknown_field_is_an_error_with_a_did_you_mean_hint(tmp_path: Path) -> None:
    [issue] = config_issues(tmp_path, '[match.survivorship.fields]\ntitel = "longest"\n')
    assert "match.survivorship.fields.titel: unknown key" in issue
    assert "hint: did you mean 'title'?" in issue
    [issue] = config_issues(tmp_path, '[match.survivorship.fields]\nemails = "longest"\n')
    assert "known keys here: given_name, family_name" in issue


def test_source_priority_policy_without_a_list_is_an_error(tmp_path: Path) -> None:
    [issue] = config_issues(tmp_path, '[match.survivorship.fields]\n'
                                      'family_name = "source_priority"\n')
    assert "match.survivorship: the source_priority policy is used but no source is listed" \
        in issue
    [issue] = config_issues(tmp_path, '[match.survivorship]\n'
                                      'source_priority = ["billing", "billing"]\n')
    assert "source_priority lists billing twice" in issue


def test_every_survivorship_field_can_be_configured() -> None:
    assert tuple(SurvivorshipFields.model_fields) == FIELDS


def test_a_policy_built_in_code_is_checked_too() -> None:
    with pytest.raises(ValueError, match="no survivorship field 'titel'"):
        SurvivorshipPolicy(fields={"titel": "longest"})
    with pytest.raises(ValueError, match="no survivorship policy 'newest'"):
        SurvivorshipPolicy("newest")  # type: ignore[arg-type]


def test_contacts_rebuild_applies_a_changed_policy_and_announces_only_changes(
        engine: Engine, db_url: str, tmp_path: Path) -> None:
    pipeline = Pipeline(engine, HubConfig())
    for name, given, day in (("billing", "Jon", 1), ("outlook", "John", 2)):
        pipeline.ingest(ConnectorConfig(name=name, kind="csv"), Batch([Observation(
            kind="person", external_id="1", observed_at=datetime(2026, 1, day, tzinfo=UTC),
            person={"given_name": given, "family_name": "Smith",
                    "emails": [{"value": "jon.smith@example.com"}]})]))
        pipeline.ingest(ConnectorConfig(name=name, kind="csv"), Batch([Observation(
            kind="person", external_id="2", observed_at=datetime(2026, 1, day, tzinfo=UTC),
            person={"given_name": "Ada", "family_name": "Byron",
                    "emails": [{"value": "ada@example.com"}]})]))
    with pipeline.sessions() as session:
        assert sorted(session.scalars(select(Contact.given_name))) == ["Ada", "John"]
    config = tmp_path / "crmhub.toml"
    config.write_text('[match.survivorship]\ndefault = "source_priority"\n'
                      'source_priority = ["billing"]\n')

    def rebuild() -> dict[str, int]:
        result = CliRunner().invoke(main, ["contacts", "rebuild", "--all", "--json",
                                           "--config", str(config)],
                                    env={"CRMHUB_DATABASE_URL": db_url})
        assert result.exit_code == 0, (result.output, result.exception)
        return dict(json.loads(result.stdout))

    assert rebuild() == {"rebuilt": 2, "changed": 1}  # Ada's sources agree
    with pipeline.sessions() as session:
        assert sorted(session.scalars(select(Contact.given_name))) == ["Ada", "Jon"]
        events = session.scalars(select(OutboxEvent.payload).where(
            OutboxEvent.type == "contact.updated")).all()
        assert [e["reason"] for e in events if e.get("reason")] == ["rebuild"]
    assert rebuild() == {"rebuilt": 2, "changed": 0}  # nothing left to change
    result = CliRunner().invoke(main, ["contacts", "rebuild", "--config", str(config)],
                                env={"CRMHUB_DATABASE_URL": db_url})
    assert result.exit_code == 2 and "--all" in result.output
