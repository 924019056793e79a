"""What every mail connector shares (hub.sources.mail): who is one of us, which messages
are interactions, who becomes a contact, and mailboxes that fail on their own."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from hub.cli.main import main
from hub.config import ConnectorConfig, HubConfig, HubSection
from hub.connectors import Batch, ConnectorSettings, FatalError
from hub.http import CredentialsRejectedError
from hub.ingest.pipeline import Pipeline
from hub.sources.mail import (
    AUTOMATED,
    NONE_CREATED,
    NOT_INBOUND,
    OUR_MAILBOX,
    SKIP_INTERNAL,
    SKIP_LIST,
    Address,
    MailConnector,
    MailMessage,
    MailPolicy,
    MailSettings,
    parse_addresses,
    parse_date,
    thread_root,
)
from hub.store.db import session_factory
from hub.store.model import Contact, Interaction, InteractionContact
from hub.testing import make_context
from tests.sources.registration import register_connectors

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def message(sender: str, *to: str, cc: tuple[str, ...] = (), mid: str | None = "<m1@x>",
            **headers: Any) -> MailMessage:
    return MailMessage(id="g1", mailbox="ann@acme.fr", occurred_at=T0,
                       sender=parse_addresses(sender)[0], to=[Address(a) for a in to],
                       cc=[Address(a) for a in cc], subject="Quote", message_id=mid, **headers)


def policy(create: str = "inbound") -> MailPolicy:
    return MailPolicy(own_addresses=["ann@acme.fr", "ann.sales@gmail.com"],
                      own_domains=["acme.fr"], create_contacts=create)  # type: ignore[arg-type]


def observe(msg: MailMessage, create: str = "inbound") -> tuple[dict[str, Any] | None,
                                                                 Counter[str]]:
    skipped: Counter[str] = Counter()
    found = policy(create).observation(msg, observed_at=T0, skipped=skipped)
    return (found.model_dump(mode="json", exclude_none=True)["interaction"]
            if found else None), skipped


def no_contact(interaction: dict[str, Any]) -> dict[str, str | None]:
    return {p["email"]: p.get("no_contact") for p in interaction["participants"]}


def test_headers_are_read_into_addresses_dates_and_the_threads_first_message() -> None:
    assert parse_addresses('"Lea, Lead" <LEA@Lead.org>, bob@y.org') == [
        Address("lea@lead.org", "Lea, Lead"), Address("bob@y.org")]
    assert parse_addresses(None) == []
    assert parse_date("Mon, 02 Mar 2026 10:00:00 +0100") == T0
    assert parse_date("yesterday") is None
    assert thread_root("<a@x> <b@x>", "<b@x>", "<c@x>") == "<a@x>"
    assert thread_root(None, None, "<c@x>") == "<c@x>"


def test_only_the_sender_of_a_message_to_us_becomes_a_contact_by_default() -> None:
    inbound, _ = observe(message("Lea <lea@lead.org>", "ann@acme.fr", cc=("max@lead.org",)))
    assert inbound is not None and inbound["direction"] == "inbound"
    assert no_contact(inbound) == {"lea@lead.org": None, "ann@acme.fr": OUR_MAILBOX,
                                   "max@lead.org": NOT_INBOUND}
    outbound, _ = observe(message("ann@acme.fr", "lea@lead.org"))
    assert outbound is not None and outbound["direction"] == "outbound"
    assert no_contact(outbound)["lea@lead.org"] == NOT_INBOUND


def test_create_contacts_all_and_none_decide_for_every_outside_participant() -> None:
    every, _ = observe(message("ann@acme.fr", "lea@lead.org", cc=("max@lead.org",)), "all")
    assert every is not None and no_contact(every) == {
        "ann@acme.fr": OUR_MAILBOX, "lea@lead.org": None, "max@lead.org": None}
    nobody, _ = observe(message("lea@lead.org", "ann@acme.fr"), "none")
    assert nobody is not None and no_contact(nobody)["lea@lead.org"] == NONE_CREATED


def test_a_mailbox_outside_own_domains_is_one_of_us_and_makes_mail_outbound() -> None:
    found, _ = observe(message("ann.sales@gmail.com", "lea@lead.org"), "all")
    assert found is not None and found["direction"] == "outbound"
    assert no_contact(found) == {"ann.sales@gmail.com": OUR_MAILBOX, "lea@lead.org": None}


def test_mailing_lists_and_mail_between_colleagues_are_skipped_and_counted() -> None:
    for headers in ({"list_id": "<news.vendor.com>"}, {"precedence": "Bulk"}):
        found, skipped = observe(message("news@vendor.com", "ann@acme.fr", **headers))
        assert found is None and skipped == Counter({SKIP_LIST: 1})
    found, skipped = observe(message("bob@acme.fr", "ann@acme.fr",
                                     cc=("ann.sales@gmail.com",)))
    assert found is None and skipped == Counter({SKIP_INTERNAL: 1})


def test_the_sender_of_an_automated_reply_never_becomes_a_contact() -> None:
    found, _ = observe(message("lea@lead.org", "ann@acme.fr", auto_submitted="auto-replied"))
    assert found is not None and no_contact(found)["lea@lead.org"] == AUTOMATED
    human, _ = observe(message("lea@lead.org", "ann@acme.fr", auto_submitted="no"))
    assert human is not None and no_contact(human)["lea@lead.org"] is None


def test_one_message_read_in_two_mailboxes_has_one_key_and_one_content() -> None:
    sent = message("ann@acme.fr", "lea@lead.org", cc=("bob@acme.fr",))
    received = message("ann@acme.fr", "lea@lead.org", cc=("bob@acme.fr",))
    received.mailbox, received.id = "bob@acme.fr", "other-id"
    seen = [policy().observation(m, observed_at=T0, skipped=Counter()) for m in (sent, received)]
    assert seen[0] == seen[1] and seen[0] is not None
    assert seen[0].external_id == "message:<m1@x>"
    assert message("a@b.c", "d@e.f", mid=None).external_id == "message:ann@acme.fr/g1"
    assert message("a@b.c", "d@e.f", mid="<" + "x" * 500 + ">").external_id.startswith(
        "message:sha256:")


def test_settings_refuse_an_empty_mailbox_list_and_a_malformed_address() -> None:
    with pytest.raises(ValueError, match="at least one mailbox"):
        MailSettings.model_validate({"mailboxes": []})
    with pytest.raises(ValueError, match="not an e-mail address"):
        MailSettings.model_validate({"mailboxes": ["ann"]})
    assert MailSettings.model_validate({"mailboxes": ["Ann@Acme.FR"]}).mailboxes == \
        ["ann@acme.fr"]


def test_the_core_links_existing_contacts_and_counts_every_participant_not_made_one(
        engine: Engine) -> None:
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(own_domains=["acme.fr"])))
    cfg = ConnectorConfig(name="mail", kind="csv")
    pipeline.ingest(cfg, Batch([_person("max", "max@lead.org")]))
    found = policy().observation(message(
        "Lea <lea@lead.org>", "ann@acme.fr", "sales@lead.org",
        cc=("max@lead.org", "zoe@lead.org")), observed_at=T0, skipped=Counter())
    assert found is not None
    stats = pipeline.ingest(cfg, Batch([found]))
    assert stats.contacts_created == 1  # lea wrote to us
    assert stats.skipped == {
        "participant is one of us (own_domains, own_numbers)": 1,
        "participant is a role or no-reply address": 1,
        NOT_INBOUND: 1,  # zoe: only cc'd; max is cc'd too, but is a contact already
    }
    with session_factory(engine)() as session:
        linked = {session.get(Contact, link.contact_id).full_name: link.role  # type: ignore[union-attr]
                  for link in session.scalars(select(InteractionContact))}
    assert linked == {"Lea": "from", "Max": "cc"}


def _person(external_id: str, email: str) -> Any:
    from hub.records import Observation
    return Observation(kind="person", external_id=external_id, observed_at=T0,
                       person={"full_name": external_id.title(), "emails": [{"value": email}]})


# -- mailboxes as parts of a run, through the CLI --------------------------------------------

class FakeMail(MailConnector):
    """Two mailboxes in memory; a mailbox in ``BROKEN`` fails as delegation would."""

    kind: ClassVar[str] = "fakemail"
    Settings: ClassVar[type[ConnectorSettings]] = MailSettings
    BROKEN: ClassVar[set[str]] = set()
    INBOX: ClassVar[dict[str, list[MailMessage]]] = {}

    def sync_mailbox(self, mailbox: str, cursor: dict[str, Any], *, full: bool,
                     policy: MailPolicy) -> Iterator[Batch]:
        if mailbox in self.BROKEN:
            raise CredentialsRejectedError(f"{mailbox}: delegation refused", url="x",
                                           status=403)
        skipped: Counter[str] = Counter()
        seen = int(cursor.get("seen", 0))
        found = [policy.observation(m, observed_at=T0, skipped=skipped)
                 for m in self.INBOX.get(mailbox, [])[seen:]]
        yield Batch([o for o in found if o is not None], skipped=dict(skipped),
                    cursor={"seen": len(self.INBOX.get(mailbox, []))})

    def check_mailbox(self, mailbox: str) -> str:
        if mailbox in self.BROKEN:
            raise FatalError("grant the gmail.metadata scope")
        return f"{len(self.INBOX.get(mailbox, []))} messages"


@pytest.fixture
def mail_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    register_connectors(monkeypatch, "fakemail", FakeMail)
    monkeypatch.setattr(FakeMail, "BROKEN", set())
    monkeypatch.setattr(FakeMail, "INBOX", {
        "ann@acme.fr": [message("lea@lead.org", "ann@acme.fr"),
                        message("news@v.com", "ann@acme.fr", mid="<n@v>", list_id="<v>")],
        "bob@acme.fr": [message("max@lead.org", "bob@acme.fr", mid="<m2@x>")]})
    path = tmp_path / "crmhub.toml"
    path.write_text(f"""
[hub]
database_url = "sqlite:///{tmp_path / 'crmhub.db'}"
parallel_prepare = false
own_domains = ["acme.fr"]

[[connectors]]
name = "mail"
kind = "fakemail"
[connectors.settings]
mailboxes = ["ann@acme.fr", "bob@acme.fr"]
""", encoding="utf-8")
    return path


def crmhub(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(config)])


def _interactions(config: Path) -> int:
    from hub.store.db import make_engine
    engine = make_engine(f"sqlite:///{config.parent / 'crmhub.db'}")
    with session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(Interaction)) or 0
    engine.dispose()
    return count


def test_a_failing_mailbox_is_reported_on_its_own_while_the_others_sync(
        mail_config: Path) -> None:
    FakeMail.BROKEN.add("bob@acme.fr")
    result = crmhub(mail_config, "sync", "mail")
    assert result.exit_code == 1, result.output
    assert "FAILED bob@acme.fr: bob@acme.fr: delegation refused" in result.output
    assert f"1 {SKIP_LIST}" in result.output
    assert _interactions(mail_config) == 1  # ann's mailbox went on
    status = json.loads(crmhub(mail_config, "status", "--json").output)["connectors"][0]
    assert status["state"] == "degraded (1 of 2 failing)"
    assert status["parts"]["bob@acme.fr"]["error"] == "bob@acme.fr: delegation refused"
    assert "error" not in status["parts"]["ann@acme.fr"]
    assert status["skipped"][SKIP_LIST] == 1
    assert "bob@acme.fr failing since" in crmhub(mail_config, "status").output
    check = crmhub(mail_config, "connectors", "check", "mail")
    assert check.exit_code == 1 and "bob@acme.fr: FAILED: grant the gmail.metadata scope" \
        in check.output and "ann@acme.fr: 2 messages" in check.output

    FakeMail.BROKEN.clear()  # delegation granted: the next run clears it
    assert crmhub(mail_config, "sync", "mail").exit_code == 0
    assert _interactions(mail_config) == 2
    status = json.loads(crmhub(mail_config, "status", "--json").output)["connectors"][0]
    assert status["state"] == "ok" and "error" not in status["parts"]["bob@acme.fr"]


def test_a_run_whose_every_mailbox_fails_fails(mail_config: Path) -> None:
    FakeMail.BROKEN.update({"ann@acme.fr", "bob@acme.fr"})
    result = crmhub(mail_config, "sync", "mail")
    assert result.exit_code == 1
    assert "FAILED" in result.output and "every mailbox failed (2)" in result.output
    status = json.loads(crmhub(mail_config, "status", "--json").output)["connectors"][0]
    assert status["state"] == "failing (1x)"


def test_an_outbound_message_from_the_owner_is_the_leads_first_touch(
        tmp_path: Path, engine: Engine) -> None:
    from tests.routing.support import T0 as R0
    from tests.routing.support import current, routing_from
    from tests.routing.test_sla import RULES

    routing = routing_from(tmp_path, RULES)
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(own_domains=["acme.fr"])))
    leads = ConnectorConfig(name="forms", kind="csv")
    pipeline.ingest(leads, Batch([_person("1", "lea@lead.org")]))
    with session_factory(engine).begin() as session:
        routing.after_batch(session, connector=leads, new_contact_ids=[1],
                            changed_contact_ids=[], now=R0)
    owner = current(engine, 1).owner
    sent = MailMessage(id="s1", mailbox=f"{owner}@acme.fr", occurred_at=R0 + timedelta(hours=1),
                       sender=Address(f"{owner}@acme.fr"), to=[Address("lea@lead.org")],
                       message_id="<s1@acme.fr>")
    found = policy().observation(sent, observed_at=R0, skipped=Counter())
    assert found is not None
    pipeline.ingest(ConnectorConfig(name="mail", kind="gmail"), Batch([found]))
    with session_factory(engine).begin() as session:
        assert routing.reroute_sla(session, R0 + timedelta(hours=6)) == 0
    assert current(engine, 1).sla_state == "met"


def test_make_context_hands_the_connector_own_domains() -> None:
    assert make_context(own_domains=["Acme.FR"]).own_domains == frozenset({"acme.fr"})
