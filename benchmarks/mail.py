#!/usr/bin/env python3
"""Mail benchmark: one mailbox's messages through the `gmail` and `outlook` connectors and
the pipeline, with the APIs answered in memory (no network, no latency).

    python benchmarks/mail.py --messages 100000 --changes 1000
    python benchmarks/mail.py --messages 20000 --connectors gmail --repeat 3

For each connector and each repetition: a fresh SQLite database, one mailbox holding
`--messages` messages over the last year, shaped like a salesperson's (see `mailbox`), and
the stateful fakes the connectors' tests use (Gmail, People and the multipart batch
endpoint behind httplib2; Graph and MSAL behind `responses`). Then:

* **full sync** -- the connector reads the whole window and each batch is ingested by the
  pipeline as `crmhub sync` does (one process): messages/s from the first request to the
  last commit. The same read without the pipeline gives the connector's own share.
* **incremental** -- `--changes` new messages arrive (Gmail's history, Graph's delta) and
  one incremental run reads and stores them: its seconds.

The fakes run in the same process, so their own work (building and parsing the replies)
counts against the connector: the figures are a floor for the hub, not for the API.
Prints a markdown block for BENCHMARKS.md and writes benchmarks/out/mail-<time>.json.
Exits 1 if the store does not hold what the mailbox held.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from bulk_import import OUT, machine  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from hub.config import ConnectorConfig, HubConfig  # noqa: E402
from hub.connectors import Batch, Connector  # noqa: E402
from hub.ingest.pipeline import Pipeline  # noqa: E402
from hub.ingest.state import IngestStats  # noqa: E402
from hub.sources.mail import SKIP_INTERNAL, SKIP_LIST  # noqa: E402
from hub.store.db import make_engine, session_factory, upgrade  # noqa: E402
from hub.store.model import Interaction  # noqa: E402
from hub.testing import FIXED_NOW, make_context  # noqa: E402

OWN = "acme.com"
OWNER = f"ann@{OWN}"
COLLEAGUES = [f"{n}@{OWN}" for n in ("ben", "chloe", "dev", "eva")]


@dataclasses.dataclass
class Message:
    sender: str
    to: list[str]
    cc: list[str]
    when: dt.datetime
    subject: str
    list_id: str | None = None


def mailbox(count: int, seed: int, *, start: int = 0) -> Iterator[Message]:
    """A salesperson's year: half mail from some 5% as many outside people as messages (a
    few write often, most now and then), 40% sent to them, 5% newsletters, 5% colleagues only;
    a quarter copy someone."""
    rng = random.Random(seed + start)
    people = max(50, count // 20)
    domains = [f"client{n}.example" for n in range(max(10, people // 8))]

    def outsider() -> str:
        n = int(people * rng.random() ** 2)  # skewed: the first people write most
        return f"p{n}@{domains[n % len(domains)]}"

    span = 360 * 24 * 3600
    for i in range(start, start + count):
        when = FIXED_NOW - dt.timedelta(seconds=span * (1 - (i - start) / count) + 60)
        cc = [rng.choice(COLLEAGUES)] if rng.random() < 0.25 else []
        kind = rng.random()
        subject = f"Re: quote {i % 997}"
        if kind < 0.5:
            yield Message(outsider(), [OWNER], cc, when, subject)
        elif kind < 0.9:
            yield Message(OWNER, [outsider()], cc, when, subject)
        elif kind < 0.95:
            yield Message(f"news@vendor{i % 7}.example", [OWNER], [], when, "Newsletter",
                          list_id=f"<news.vendor{i % 7}.example>")
        else:
            yield Message(rng.choice(COLLEAGUES), [OWNER], [], when, "Lunch?")


# -- the two connectors over their fakes ------------------------------------------------


class GmailRig:
    name = "gmail"

    def __init__(self) -> None:
        from tests.plugins.hub_gmail.fake_google import FakeGoogle
        self.fake = FakeGoogle()

    def add(self, message: Message, *, history: bool) -> None:
        headers: dict[str, str] = {"From": message.sender, "To": ", ".join(message.to),
                                   "Subject": message.subject}
        if message.cc:
            headers["Cc"] = ", ".join(message.cc)
        if message.list_id:
            headers["List_Id"] = message.list_id
        self.fake.message(OWNER, message.when, history=history, **headers)

    def connector(self) -> Connector:
        from hub_gmail import GmailConnector
        from hub_gmail.settings import GmailSettings
        settings = GmailSettings.model_validate({
            "mailboxes": [OWNER], "service_account_key": {"env": "KEY"}, "contacts": False,
            "page_size": 500, "batch_size": 100})
        return GmailConnector("gmail", settings, _context({"KEY": "{}"}),
                              http_factory=self.fake.http)

    def close(self) -> None:
        pass


class OutlookRig:
    name = "outlook"

    def __init__(self) -> None:
        from tests.plugins.hub_outlook.fake_graph import mocked
        self._mocked = mocked()
        self.fake, _ = next(self._mocked)

    def add(self, message: Message, *, history: bool) -> None:
        when = message.when.strftime("%Y-%m-%dT%H:%M:%SZ")
        folder = "sentitems" if message.sender == OWNER else "inbox"
        # Graph's delta $select carries no List-Id: a newsletter is stored as mail, its
        # sender (news@) a role address that never becomes a contact.
        self.fake.message(OWNER, message.sender, message.to, folder=folder, when=when,
                          cc=message.cc, subject=message.subject)

    def connector(self) -> Connector:
        from hub_outlook import OutlookConnector, OutlookSettings
        from tests.plugins.hub_outlook.fake_graph import CLIENT, TENANT
        settings = OutlookSettings.model_validate({
            "tenant_id": TENANT, "client_id": CLIENT, "client_secret": {"env": "SECRET"},
            "mailboxes": [OWNER], "contacts": False, "page_size": 1000})
        return OutlookConnector("outlook", settings, _context({"SECRET": "x"}))

    def close(self) -> None:
        self._mocked.close()


def _context(secrets: dict[str, str]) -> Any:
    return make_context(secrets=secrets, own_domains=[OWN])


RIGS: dict[str, Callable[[], GmailRig | OutlookRig]] = {"gmail": GmailRig,
                                                         "outlook": OutlookRig}


# -- one run ----------------------------------------------------------------------------


def run_once(kind: str, messages: int, changes: int, seed: int) -> dict[str, Any]:
    rig = RIGS[kind]()
    try:
        for message in mailbox(messages, seed):
            rig.add(message, history=False)
        # The connector alone: every page read and mapped, nothing stored.
        started = time.perf_counter()
        read = sum(len(b.observations) for b in rig.connector().sync(None))
        connector_s = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as workdir:
            engine = make_engine(f"sqlite:///{Path(workdir) / 'mail.db'}")
            upgrade(engine)
            pipeline = Pipeline(engine, HubConfig.model_validate(
                {"hub": {"own_domains": [OWN]}}), clock=lambda: FIXED_NOW)
            config = ConnectorConfig(name=kind, kind=kind)
            started = time.perf_counter()
            stats, cursor = ingest(pipeline, config, rig.connector().sync(None))
            full_s = time.perf_counter() - started
            stored = count_interactions(engine)
            for message in mailbox(changes, seed, start=messages):
                rig.add(dataclasses.replace(message, when=FIXED_NOW - dt.timedelta(
                    seconds=30)), history=True)
            started = time.perf_counter()
            more, _ = ingest(pipeline, config, rig.connector().sync(cursor))
            incremental_s = time.perf_counter() - started
            after = count_interactions(engine)
            engine.dispose()
    finally:
        rig.close()
    return {"connector": kind, "messages": messages, "read": read,
            "connector_s": round(connector_s, 2),
            "connector_per_s": round(messages / connector_s),
            "full_s": round(full_s, 2), "per_s": round(messages / full_s),
            "interactions": stored, "contacts_created": stats.contacts_created,
            "skipped": stats.skipped, "message_skips": message_skips(stats), "changes": changes,
            "incremental_s": round(incremental_s, 2), "incremental_stored": after - stored,
            "incremental_skipped": message_skips(more)}


def message_skips(stats: IngestStats) -> int:
    """Messages read and not stored: a mailing list's, or between colleagues only."""
    return sum(stats.skipped.get(reason, 0) for reason in (SKIP_LIST, SKIP_INTERNAL))


def ingest(pipeline: Pipeline, config: ConnectorConfig,
           batches: Iterator[Batch]) -> tuple[IngestStats, dict[str, Any] | None]:
    total, cursor = IngestStats(), None
    for batch in batches:
        total.add(pipeline.ingest(config, batch))
        cursor = batch.cursor if batch.cursor is not None else cursor
    return total, cursor


def count_interactions(engine: Any) -> int:
    with session_factory(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(Interaction)) or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--connectors", default="gmail,outlook")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    results = []
    for kind in args.connectors.split(","):
        for _ in range(args.repeat):
            result = run_once(kind, args.messages, args.changes, args.seed)
            print(json.dumps(result), file=sys.stderr)
            results.append(result)
    # Every message is an interaction, or counted as skipped, in both runs.
    ok = all(r["interactions"] + r["message_skips"] == r["messages"] and
             r["incremental_stored"] + r["incremental_skipped"] == r["changes"]
             for r in results)
    report(args, results, ok)
    return 0 if ok else 1


def report(args: argparse.Namespace, results: list[dict[str, Any]], ok: bool) -> None:
    info = machine()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    OUT.mkdir(exist_ok=True)
    (OUT / f"mail-{stamp}.json").write_text(json.dumps(
        {"machine": info, "args": vars(args), "results": results}, indent=2))
    print(f"Machine: {info['cpu']}, {info['nproc']} cores, {info['ram']}, Python "
          f"{info['python']}; {info['date']}; commit {info['commit']}")
    print(f"Command: `python benchmarks/mail.py --messages {args.messages} --changes "
          f"{args.changes} --connectors {args.connectors} --repeat {args.repeat}`\n")
    print("| connector | messages | full sync (s) | messages/s | connector alone (msg/s) "
          "| interactions | contacts created | incremental: stored, s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in args.connectors.split(","):
        mine = [r for r in results if r["connector"] == kind]
        if not mine:
            continue
        med = statistics.median(r["per_s"] for r in mine)
        full = statistics.median(r["full_s"] for r in mine)
        alone = statistics.median(r["connector_per_s"] for r in mine)
        inc = statistics.median(r["incremental_s"] for r in mine)
        r = mine[0]
        print(f"| {kind} | {args.messages:,} | {full:.1f} | {med:,.0f} | {alone:,.0f} | "
              f"{r['interactions']:,} | {r['contacts_created']:,} | "
              f"{r['incremental_stored']:,}, {inc:.2f} |")
    print(f"\nIncremental: {args.changes:,} new messages (the rest are newsletters or "
          "between colleagues, counted as skipped).")
    for r in results[:1]:
        print(f"Skipped in the first full sync ({r['connector']}): " + "; ".join(
            f"{count:,} {reason}" for reason, count in sorted(r["skipped"].items())))
    print("every message stored or counted as skipped: " + ("yes" if ok else "NO"))


if __name__ == "__main__":
    sys.exit(main())
