"""gmail: full and incremental syncs of messages and contacts against the stateful fake of
the Gmail and People APIs (real URLs, reply shapes and multipart batches)."""

from __future__ import annotations

from collections import Counter

from google.auth.exceptions import RefreshError

from hub.sources.mail import NOT_INBOUND, SKIP_INTERNAL, SKIP_LIST
from tests.plugins.hub_gmail.conftest import ANN, BEN, Store, connector, run
from tests.plugins.hub_gmail.fake_google import FakeGoogle, at


def inbound(fake: FakeGoogle, day: int, sender: str = "bob@client.org", **headers: str) -> str:
    return fake.message(ANN, at(day), From=f"Bob <{sender}>", To=ANN,
                        Subject=f"day {day}", **headers)


def observed(batches: list) -> list[str]:
    return [o.external_id for b in batches for o in b.observations]


def paths(fake: FakeGoogle, part: str) -> list[str]:
    return [p for _, _, p in fake.calls if p.split("?")[0].endswith(part)]


def test_full_sync_pages_contacts_and_messages_and_batches_the_gets(fake: FakeGoogle) -> None:
    ids = [inbound(fake, d) for d in range(1, 6)]
    for n in range(3):
        fake.person(ANN, n, f"Zoe Num{n}", f"zoe{n}@client.org",
                    organizations=[{"name": "Client", "title": "CTO"}],
                    phoneNumbers=[{"value": "+33 6 12 34 56 78", "type": "mobile"}])
    batches, cursor = run(connector(fake))
    people = [o for b in batches for o in b.observations if o.kind == "person"]
    assert [o.external_id for o in people] == [f"{ANN}/people/c{n}" for n in range(3)]
    zoe = people[0].person
    assert zoe is not None
    assert (zoe.given_name, zoe.family_name, zoe.title) == ("Zoe", "Num0", "CTO")
    assert zoe.company is not None and zoe.company.name == "Client"
    assert [e.value for e in zoe.emails] == ["zoe0@client.org"] and zoe.phones[0].label == "mobile"
    messages = [o for b in batches for o in b.observations if o.kind == "interaction"]
    assert sorted(o.raw["message_id"] for o in messages) == sorted(
        f"<{i}@mail.example>" for i in ids)
    assert len(paths(fake, "/v1/people/me/connections")) == 2  # two pages of two
    assert len(paths(fake, "/users/me/messages")) == 3  # three list pages of two
    assert len(paths(fake, "/batch/gmail/v1")) == 3  # each page's gets in one batch
    assert "q=" not in "".join(paths(fake, "/users/me/messages"))
    mailbox = cursor["mailboxes"][ANN]  # type: ignore[index]
    assert mailbox["messages"] == {"history_id": "1035"}  # the profile's, read first
    assert mailbox["contacts"]["sync_token"] == "v4"
    first = next(o.interaction for o in messages
                 if o.raw["message_id"] == f"<{ids[0]}@mail.example>")
    assert first is not None and first.occurred_at == at(1)
    assert first.thread_id == f"<{ids[0]}@mail.example>" and first.subject == "day 1"
    assert batches[-1].parts == {ANN: None}


def test_incremental_sync_reads_the_history_and_the_people_sync_token(fake: FakeGoogle) -> None:
    inbound(fake, 1)
    fake.person(ANN, 1, "Zoe One", "zoe@client.org")
    _, cursor = run(connector(fake))
    start = cursor["mailboxes"][ANN]["messages"]["history_id"]  # type: ignore[index]
    assert start == "1007"  # the profile's historyId
    new = inbound(fake, 20, "carl@client.org")
    fake.person(ANN, 1, "Zoe Renamed", "zoe@client.org")
    fake.person(ANN, 2, "Yan Two", "yan@client.org")
    fake.calls.clear()
    batches, cursor = run(connector(fake), cursor)
    assert sorted(observed(batches)) == sorted(
        [f"message:<{new}@mail.example>", f"{ANN}/people/c1", f"{ANN}/people/c2"])
    assert any("syncToken=v2" in p for p in paths(fake, "connections"))
    assert any(f"startHistoryId={start}" in p and "historyTypes=messageAdded" in p
               for p in paths(fake, "/history"))
    contact_batches = [b for b in batches if b.scope == f"contacts:{ANN}"]
    assert contact_batches and all(b.snapshot_end is None for b in contact_batches)
    assert contact_batches[0].token == cursor["mailboxes"][ANN]["contacts"]["token"]  # type: ignore[index]
    assert observed(run(connector(fake), cursor)[0]) == []


def test_a_contact_deleted_at_the_source_becomes_a_tombstone(fake: FakeGoogle) -> None:
    fake.person(ANN, 1, "Zoe One", "zoe@client.org")
    fake.person(ANN, 2, "Yan Two", "yan@client.org")
    _, cursor = run(connector(fake, messages=False))
    fake.person(ANN, 2, "", "", deleted=True)
    batches, _ = run(connector(fake, messages=False), cursor)
    gone = [o for b in batches for o in b.observations]
    assert [(o.external_id, o.deleted) for o in gone] == [(f"{ANN}/people/c2", True)]


def test_an_expired_sync_token_rereads_as_a_snapshot_without_false_deletes(
        fake: FakeGoogle, store: Store) -> None:
    for n in range(1, 5):
        fake.person(ANN, n, f"Zoe Num{n}", f"zoe{n}@client.org")
    cursor, _ = store.ingest(connector(fake, messages=False).sync(None))
    first_token = cursor["mailboxes"][ANN]["contacts"]["token"]  # type: ignore[index]
    fake.box(ANN).expired_below = 10**6  # every sync token expired
    batches, _ = run(connector(fake, messages=False), cursor)
    reread = [b for b in batches if b.scope == f"contacts:{ANN}"]
    assert len(reread) == 2 and len({b.token for b in reread}) == 1
    assert reread[0].token != first_token and reread[-1].snapshot_end is not None
    assert reread[-1].snapshot_end.token == reread[0].token
    store.ingest(batches)
    assert store.records() == {f"{ANN}/people/c{n}": False for n in range(1, 5)}


def test_a_stale_history_id_starts_a_new_windowed_full_sync(fake: FakeGoogle) -> None:
    inbound(fake, 1)
    _, cursor = run(connector(fake, contacts=False))
    later = inbound(fake, 25)
    fake.box(ANN).oldest_history = 10**6  # history.list answers 404
    batches, cursor = run(connector(fake, contacts=False), cursor)
    assert f"message:<{later}@mail.example>" in observed(batches)
    assert paths(fake, "/history") and len(paths(fake, "/profile")) == 2
    assert cursor["mailboxes"][ANN]["messages"] == {  # type: ignore[index]
        "history_id": str(fake.box(ANN).history_id)}


def test_the_window_stops_paging_at_the_first_message_older_than_window_days(
        fake: FakeGoogle) -> None:
    for day in (28, 27, 26, 25, 24):  # December 2025; the clock says 2026-01-01
        inbound(fake, day)
    for day in (1, 2, 3):
        inbound(fake, day)
    batches, _ = run(connector(fake, contacts=False, window_days=7))
    dates = sorted(o.interaction.occurred_at.day for b in batches for o in b.observations)
    assert dates == [25, 26, 27, 28]  # the 24th is older than 7 days: dropped
    assert len(paths(fake, "/users/me/messages")) == 3  # 28-27, 26-25, 24-3: stop there


def test_a_crash_between_pages_resumes_with_nothing_lost_or_doubled(
        fake: FakeGoogle, store: Store, tmp_path: object) -> None:
    ids = [inbound(fake, d) for d in range(1, 8)]
    for n in range(1, 4):
        fake.person(ANN, n, f"Zoe Num{n}", f"zoe{n}@client.org")
    cursor, before = store.ingest(connector(fake).sync(None), stop_after=3)  # mid-messages
    assert "full" in cursor["mailboxes"][ANN]["messages"]  # type: ignore[index]
    cursor, after = store.ingest(connector(fake).sync(cursor))
    yielded = before + after
    assert len(yielded) == len(set(yielded)) == 7 + 3
    records = store.records()
    assert all(f"message:<{i}@mail.example>" in records for i in ids)
    assert not any(records.values())


def test_one_mailbox_refusing_delegation_is_reported_while_the_other_syncs(
        fake: FakeGoogle, store: Store) -> None:
    fake.refused[ANN] = RefreshError(
        "unauthorized_client: Client is unauthorized to retrieve access tokens using this "
        "method, or client not authorized for any of the scopes requested.",
        {"error": "unauthorized_client"})
    mail = fake.message(BEN, at(3), From="Bob <bob@client.org>", To=BEN, Subject="hi")
    batches = list(connector(fake, mailboxes=[ANN, BEN]).sync(None))
    parts = {k: v for b in batches for k, v in b.parts.items()}
    assert parts[BEN] is None and "Domain-wide delegation" in str(parts[ANN])
    assert "gmail.metadata" in str(parts[ANN]) and "unauthorized_client" in str(parts[ANN])
    store.ingest(batches)
    assert f"message:<{mail}@mail.example>" in store.records()


def test_who_becomes_a_contact_inbound_senders_not_recipients_nor_colleagues(
        fake: FakeGoogle, store: Store) -> None:
    inbound(fake, 1, "bob@client.org", Cc="carol@client.org")
    fake.message(ANN, at(2), From=ANN, To="dave@prospect.io", Subject="our offer")
    fake.message(ANN, at(3), From=BEN, To=f"{ANN}, eve@partner.org", Subject="fyi")
    fake.message(ANN, at(4), From=BEN, To=ANN, Subject="lunch?")  # colleagues only
    batches = list(connector(fake, contacts=False).sync(None))
    skipped: Counter[str] = Counter()
    for b in batches:
        skipped.update(b.skipped)
    assert skipped[SKIP_INTERNAL] == 1
    participants = {p.email: p for b in batches for o in b.observations
                    for p in o.interaction.participants}  # type: ignore[union-attr]
    assert participants["dave@prospect.io"].no_contact == NOT_INBOUND
    store.ingest(batches)
    assert store.contact_emails() == {"bob@client.org"}


def test_mailing_lists_drafts_and_chats_are_skipped_and_counted(fake: FakeGoogle) -> None:
    inbound(fake, 1, "news@list.org", List_Id="<news.list.org>")
    inbound(fake, 2, "promo@shop.com", Precedence="bulk")
    fake.message(ANN, at(3), labels=("DRAFT",), From=ANN, To="x@client.org")
    fake.message(ANN, at(4), labels=("CHAT",), From="x@client.org", To=ANN)
    kept = inbound(fake, 5)
    batches, _ = run(connector(fake, contacts=False))
    skipped: Counter[str] = Counter()
    for b in batches:
        skipped.update(b.skipped)
    assert skipped == {SKIP_LIST: 2, "draft or chat message": 2}
    assert observed(batches) == [f"message:<{kept}@mail.example>"]


def test_a_malformed_message_or_person_is_quarantined_and_the_rest_stored(
        fake: FakeGoogle) -> None:
    good = inbound(fake, 2)
    bad = fake.message(ANN, at(3), Subject="no one")  # no From, To, Cc or Bcc
    fake.person(ANN, 1, "Zoe One", "zoe@client.org")
    fake.person(ANN, 2, "Yan Two", "yan@client.org", names="not a list")
    batches, _ = run(connector(fake))
    rejected = {r.external_id: r.reason for b in batches for r in b.rejected}
    assert "no From, To, Cc or Bcc" in rejected[f"message:{ANN}/{bad}"]
    assert f"{ANN}/people/c2" in rejected
    assert sorted(observed(batches)) == sorted(
        [f"{ANN}/people/c1", f"message:<{good}@mail.example>"])


def test_a_vanished_message_is_skipped_and_a_throttled_one_is_fetched_again(
        fake: FakeGoogle) -> None:
    first, second = inbound(fake, 1), inbound(fake, 2)
    fake.fail(f"/messages/{first}", 404, b'{"error": {"code": 404, "message": "gone"}}')
    fake.fail(f"/messages/{second}", 429, b'{"error": {"code": 429, "message": "slow"}}',
              {"retry-after": "3"})
    batches, _ = run(connector(fake, contacts=False))
    assert observed(batches) == [f"message:<{second}@mail.example>"]
    assert sum(b.skipped.get("message deleted before it was read", 0) for b in batches) == 1
    assert len(paths(fake, "/batch/gmail/v1")) == 2  # the throttled get sent again alone


def test_mailboxes_all_lists_the_active_users_as_the_admin(fake: FakeGoogle) -> None:
    fake.users = [{"primaryEmail": ANN}, {"primaryEmail": BEN},
                  {"primaryEmail": "gone@acme.com", "suspended": True}]
    conn = connector(fake, mailboxes="all", admin="it@acme.com")
    assert conn.mailboxes() == [ANN, BEN]
    assert fake.calls[0][0] == "it@acme.com" and "customer=my_customer" in fake.calls[0][2]


def test_check_reads_the_profile_and_the_address_book(fake: FakeGoogle) -> None:
    inbound(fake, 1)
    result = connector(fake).check()
    assert result.ok and result.message == f"{ANN}: gmail.metadata ok (1 messages), contacts ok"
