"""Driver-level bulk inserts (hub.store.bulk) store what Core would store, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, select

from hub.store.bulk import allocate_ids, insert_rows, insert_with_ids
from hub.store.db import session_factory
from hub.store.model import Contact, MatchKey, SourceRecord, table_of

NOW = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=UTC)


def _record(external_id: str, data: dict[str, object]) -> dict[str, object]:
    return {"connector": "csv", "external_id": external_id, "kind": "person",
            "content_hash": "h" + external_id, "raw": {"Name": "Zoë"}, "data": data,
            "observed_at": NOW, "first_seen": NOW, "last_seen": NOW}


def test_insert_with_ids_returns_the_ids_in_the_order_of_the_rows(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        session.execute(insert(table_of(SourceRecord)), [_record("first", {})])
        ids = insert_with_ids(session, table_of(SourceRecord),
                              [_record(f"r{i}", {"n": i}) for i in range(50)])
        stored = {row.id: row.external_id for row in session.execute(
            select(SourceRecord.id, SourceRecord.external_id).where(SourceRecord.id.in_(ids)))}
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert [stored[i] for i in ids] == [f"r{i}" for i in range(50)]


def test_rows_stored_in_bulk_read_back_like_rows_stored_by_core(engine: Engine) -> None:
    data = {"given_name": "Zoë", "emails": [{"value": "zoe@example.com", "flags": []}]}
    with session_factory(engine).begin() as session:
        insert_with_ids(session, table_of(SourceRecord), [_record("bulk", data)])
        session.execute(insert(table_of(SourceRecord)), [_record("core", data)])
    with session_factory(engine)() as session:
        rows = {r.external_id: r for r in session.scalars(select(SourceRecord))}
    bulk, core = rows["bulk"], rows["core"]
    for column in ("data", "raw", "observed_at", "first_seen", "last_seen", "kind", "scope"):
        assert getattr(bulk, column) == getattr(core, column), column
    assert bulk.observed_at == NOW and bulk.observed_at.tzinfo is not None


def test_columns_a_row_leaves_out_get_their_python_default(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        [contact_id] = insert_with_ids(session, table_of(Contact), [
            {"created_at": NOW, "updated_at": NOW}])
        contact = session.get(Contact, contact_id)
        assert contact is not None
        assert (contact.stage, contact.score, contact.tags, contact.custom) == \
            ("lead", 0.0, [], {})


def test_ids_allocated_after_a_core_insert_never_collide_with_it(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        [core_id] = session.scalars(insert(table_of(Contact)).returning(Contact.id),
                                    [{"created_at": NOW, "updated_at": NOW}]).all()
        fresh = allocate_ids(session, table_of(Contact), 3)
        assert min(fresh) > core_id and len(set(fresh)) == 3


def test_rows_naming_different_columns_are_refused(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        [contact_id] = insert_with_ids(session, table_of(Contact), [
            {"created_at": NOW, "updated_at": NOW}])
        [record_id] = insert_with_ids(session, table_of(SourceRecord), [_record("x", {})])
        with pytest.raises(ValueError, match="same columns"):
            insert_rows(session, table_of(MatchKey), [
                {"contact_id": contact_id, "source_record_id": record_id, "kind": "email",
                 "key": "a@x.com"},
                {"contact_id": contact_id, "source_record_id": record_id, "kind": "email"}])


def test_an_ingesting_process_collects_young_objects_less_often_and_never_rescans_startup(
        ) -> None:
    import gc

    from hub.service.sync import GC_YOUNG_THRESHOLD, tune_gc

    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
