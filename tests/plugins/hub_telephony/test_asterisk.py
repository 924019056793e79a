"""The asterisk_cdr kind: Master.csv lines in the shape cdr_csv writes them, followed by
inode and offset across logrotate, partial lines and truncation; calls linked by number."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hub.config import ConnectorConfig, HubConfig, HubSection
from hub.connectors import Batch
from hub.ingest.pipeline import Pipeline
from hub.records import Observation
from hub.store.db import session_factory
from hub.store.model import Contact, Interaction, InteractionContact, SourceRecord
from hub.testing import ConnectorContract, ConnectorFactory, make_context
from hub_telephony import AsteriskCdrConnector


def line(src: str, dst: str, start: str, *, billsec: int = 42, disposition: str = "ANSWERED",
         channel: str = "PJSIP/trunk-00000001", dstchannel: str = "", uniqueid: str | None = None,
         userfield: str | None = None) -> str:
    """One Master.csv line: strings quoted, integers bare, 16 to 18 columns."""
    def quoted(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    cells = [quoted(v) for v in ("", src, dst, "from-internal", f'"Caller" <{src}>', channel,
                                 dstchannel, "Dial", f"PJSIP/{dst},30", start, start, start)]
    cells += [str(billsec + 5), str(billsec), quoted(disposition), quoted("DOCUMENTATION")]
    if uniqueid is not None:
        cells.append(quoted(uniqueid))
        if userfield is not None:
            cells.append(quoted(userfield))
    return ",".join(cells) + "\n"


def connector(path: Path, **settings: Any) -> AsteriskCdrConnector:
    values = {"path": str(path), "extensions": {"201": "alice", "202": "bob"},
              "timezone": "Europe/Paris", "batch_size": 2, **settings}
    return AsteriskCdrConnector("pbx", AsteriskCdrConnector.Settings.model_validate(values),
                                make_context())


def sync(path: Path, cursor: dict[str, Any] | None = None,
         **settings: Any) -> tuple[list[Observation], list[Any], dict[str, Any] | None]:
    found, rejected = [], []
    for batch in connector(path, **settings).sync(cursor):
        found += batch.observations
        rejected += batch.rejected
        cursor = batch.cursor
    return found, rejected, cursor


def test_lines_of_16_17_and_18_columns_become_calls_in_both_directions(tmp_path: Path) -> None:
    cdr = tmp_path / "Master.csv"
    cdr.write_text(
        line("0612345678", "0145000000", "2026-03-02 10:15:00",
             dstchannel="PJSIP/201-0000002a")  # 16 columns: inbound, answered by 201
        + line("202", "+33698765432", "2026-03-02 11:00:00", channel="PJSIP/202-0000002b",
               disposition="NO ANSWER", billsec=0, uniqueid="1709377200.7")  # 17: outbound
        + line("201", "202", "2026-03-02 11:30:00", uniqueid="1709379000.9",
               userfield="internal")  # 18 columns, between two extensions: skipped
        + line("0033612345678", "s", "2026-03-02 12:00:00", disposition="BUSY",
               uniqueid="1709380800.11", userfield=""))
    found, rejected, cursor = sync(cdr)
    assert rejected == []
    calls = {o.external_id: o.interaction for o in found}
    inbound = next(c for k, c in calls.items() if k.startswith("cdr:"))
    assert inbound is not None
    assert (inbound.direction, inbound.status, inbound.duration_s) == ("inbound", "answered", 42)
    assert inbound.occurred_at == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)  # Paris, winter
    assert [(p.phone, p.role) for p in inbound.participants] == [
        ("0612345678", "from"), ("201", "agent")]
    outbound = calls["1709377200.7"]
    assert outbound is not None and (outbound.direction, outbound.status) == ("outbound",
                                                                              "missed")
    assert [(p.phone, p.role) for p in outbound.participants] == [
        ("+33698765432", "to"), ("202", "agent")]
    assert calls["1709380800.11"] is not None and calls["1709380800.11"].status == "busy"
    assert len(calls) == 3  # the internal call is not one of ours to link
    assert cursor == {"inode": cdr.stat().st_ino, "offset": cdr.stat().st_size}


def test_a_partial_last_line_waits_and_nothing_is_read_twice(tmp_path: Path) -> None:
    cdr = tmp_path / "Master.csv"
    first = line("0612345678", "201", "2026-03-02 10:15:00", uniqueid="u1")
    second = line("0698765432", "201", "2026-03-02 10:20:00", uniqueid="u2")
    cdr.write_text(first + second[:30])  # Asterisk is writing the second line
    found, _, cursor = sync(cdr)
    assert [o.external_id for o in found] == ["u1"] and cursor is not None
    assert cursor["offset"] == len(first.encode())
    with cdr.open("a") as stream:
        stream.write(second[30:])
    found, _, cursor = sync(cdr, cursor)
    assert [o.external_id for o in found] == ["u2"]
    assert sync(cdr, cursor)[0] == []


def test_logrotate_is_followed_by_inode_so_no_line_is_lost_or_read_twice(
        tmp_path: Path) -> None:
    cdr = tmp_path / "Master.csv"
    cdr.write_text(line("0611111111", "201", "2026-03-02 10:00:00", uniqueid="a1"))
    _, _, cursor = sync(cdr)
    with cdr.open("a") as stream:  # written after the last run, before the rotation
        stream.write(line("0622222222", "201", "2026-03-02 10:05:00", uniqueid="a2"))
    os.rename(cdr, tmp_path / "Master.csv.1")  # logrotate's rename, then a new file
    cdr.write_text(line("0633333333", "201", "2026-03-02 10:10:00", uniqueid="b1"))
    found, _, cursor = sync(cdr, cursor)
    assert [o.external_id for o in found] == ["a2", "b1"]
    assert cursor == {"inode": cdr.stat().st_ino, "offset": cdr.stat().st_size}
    assert sync(cdr, cursor)[0] == []


def test_a_truncated_file_is_read_from_its_start_and_a_bad_line_is_quarantined(
        tmp_path: Path) -> None:
    cdr = tmp_path / "Master.csv"
    cdr.write_text(line("0611111111", "201", "2026-03-02 10:00:00", uniqueid="a1") * 3)
    _, _, cursor = sync(cdr)
    with cdr.open("r+") as stream:  # copytruncate
        stream.truncate(0)
    cdr.write_text('"just","three","cells"\n'
                   + line("0622222222", "201", "not a date", uniqueid="x")
                   + line("0633333333", "201", "2026-03-02 10:10:00", uniqueid="c1"))
    found, rejected, _ = sync(cdr, cursor)
    assert [o.external_id for o in found] == ["c1"]
    assert [r.reason for r in rejected] == [
        "3 columns; a cdr-csv line has 16 to 18",
        "start 'not a date' is not YYYY-MM-DD HH:MM:SS"]


def test_calls_link_to_the_contact_whatever_the_number_format_and_unknowns_follow_the_setting(
        tmp_path: Path, engine: Engine) -> None:
    now = datetime(2026, 3, 3, tzinfo=UTC)
    pipeline = Pipeline(engine, HubConfig(hub=HubSection(default_region="FR")),
                        clock=lambda: now)
    pipeline.ingest(ConnectorConfig(name="crm", kind="csv", route_new_contacts=False),
                    Batch([Observation(kind="person", external_id="ada", observed_at=now,
                                       person={"full_name": "Ada Lovelace",
                                               "phones": [{"value": "+33 6 12 34 56 78"}]})]))
    cdr = tmp_path / "Master.csv"
    cdr.write_text(line("0612345678", "201", "2026-03-02 10:00:00", uniqueid="n1")
                   + line("0033612345678", "201", "2026-03-02 10:05:00", uniqueid="n2")
                   + line("201", "+33 6 12 34 56 78", "2026-03-02 10:10:00",
                          channel="PJSIP/201-01", uniqueid="n3")
                   + line("0699999999", "201", "2026-03-02 10:15:00", uniqueid="n4"))
    pbx = ConnectorConfig(name="pbx", kind="asterisk_cdr")
    stats = [pipeline.ingest(pbx, batch)
             for batch in connector(cdr, unknown_callers="ignore").sync(None)]
    with session_factory(engine)() as session:
        ada = session.scalars(select(Contact.id)).one()
        links = dict(session.execute(
            select(Interaction.external_id, InteractionContact.contact_id).join(
                InteractionContact, InteractionContact.interaction_id == Interaction.id,
                isouter=True)).all())
        people = set(session.scalars(select(SourceRecord.external_id)))
    assert links == {"n1": ada, "n2": ada, "n3": ada, "n4": None}
    assert people == {"ada", "n1", "n2", "n3", "n4"}  # no contact for 201 nor for 0699…
    assert sum(s.unlinked for s in stats) == 1


class CdrLog:
    """The contract kit's source: lines appended to Master.csv. A CDR is never deleted;
    Asterisk may write a call's record again with the same uniqueid (an update)."""

    deletes = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        for _ in range(5):
            self.add()

    def add(self) -> str:
        self.count += 1
        uid = f"17093772{self.count:02d}.{self.count}"
        with self.path.open("a") as stream:
            stream.write(line(f"06123456{self.count:02d}", "201", "2026-03-02 10:00:00",
                              uniqueid=uid))
        return uid

    def update(self, external_id: str) -> None:
        number = int(external_id.rsplit(".", 1)[1])
        with self.path.open("a") as stream:
            stream.write(line(f"06123456{number:02d}", "201", "2026-03-02 10:00:00",
                              uniqueid=external_id, billsec=300))

    def delete(self, external_id: str) -> None:
        pytest.fail("not called: deletes = False")


class TestAsteriskContract(ConnectorContract):
    @pytest.fixture
    def log(self, tmp_path: Path) -> CdrLog:
        return CdrLog(tmp_path / "Master.csv")

    @pytest.fixture
    def connector_factory(self, log: CdrLog) -> ConnectorFactory:
        return lambda: connector(log.path)

    @pytest.fixture
    def source_changes(self, log: CdrLog) -> CdrLog:
        return log
