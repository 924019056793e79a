"""Tests of hub.logs: JSON lines, masking of personal data and secrets, bound context."""

from __future__ import annotations

import io
import json
import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from hub.logs import (
    Masker,
    add_secret,
    configure_logging,
    describe_error,
    get_logger,
    mask_text,
)

Configure = Callable[..., io.StringIO]


@pytest.fixture
def configure() -> Iterator[Configure]:
    """configure_logging into a StringIO; the handler and root level are restored after."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)

    def run(**kwargs: Any) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(stream=stream, **kwargs)
        return stream

    yield run
    configure_logging(stream=io.StringIO())  # resets mask_pii for the next test
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_ts_level_logger_msg_and_extra(configure: Configure) -> None:
    stream = configure()
    log = get_logger("hub.test", connector="gmail-sales", run_id="r-1")

    log.info("synced %d records", 12, extra={"batch": 3})

    (entry,) = lines(stream)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "hub.test"
    assert entry["msg"] == "synced 12 records"
    assert entry["connector"] == "gmail-sales"
    assert entry["run_id"] == "r-1"
    assert entry["batch"] == 3
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"])
    assert "exc" not in entry


def test_one_line_per_record_even_with_newlines(configure: Configure) -> None:
    stream = configure()
    logging.getLogger("hub.test").warning("first\nsecond")

    assert len(stream.getvalue().splitlines()) == 1
    assert lines(stream)[0]["msg"] == "first\nsecond"


def test_level_filters_records(configure: Configure) -> None:
    stream = configure(level="WARNING")
    logging.getLogger("hub.test").info("hidden")
    logging.getLogger("hub.test").warning("shown")

    assert [e["msg"] for e in lines(stream)] == ["shown"]


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD", stream=io.StringIO())


def test_reconfiguring_replaces_the_handler(configure: Configure) -> None:
    first = configure()
    second = configure()
    logging.getLogger("hub.test").warning("once")

    assert first.getvalue() == ""
    assert len(lines(second)) == 1


def test_emails_and_phones_are_masked_in_msg_args_and_extra(configure: Configure) -> None:
    stream = configure()
    log = logging.getLogger("hub.test")

    log.info(
        "mail from ada.lovelace@example.com",
        extra={"contact": {"phones": ["+33 6 12 34 56 10"], "email": "bob@example.org"}},
    )
    log.info("call %s from %s", "06 12 34 56 78", "grace.hopper@navy.mil")

    first, second = lines(stream)
    assert first["msg"] == "mail from a***@example.com"
    assert first["contact"] == {"phones": ["+336******10"], "email": "b***@example.org"}
    assert second["msg"] == "call 061*****78 from g***@navy.mil"


def test_exception_text_is_masked(configure: Configure) -> None:
    stream = configure()
    try:
        raise ValueError("bad address ada.lovelace@example.com / +44 20 7946 0958")
    except ValueError:
        logging.getLogger("hub.test").exception("import failed")

    (entry,) = lines(stream)
    assert "Traceback" in entry["exc"]
    assert "ValueError: bad address a***@example.com / +442*******58" in entry["exc"]
    assert "lovelace" not in stream.getvalue()
    assert "7946" not in stream.getvalue()


def test_secrets_are_replaced_everywhere(configure: Configure) -> None:
    stream = configure(secrets=["hunter2-password", "abc"])
    add_secret("tok-0612345678-late")
    log = logging.getLogger("hub.test")

    log.info("password is hunter2-password", extra={"auth": "Bearer tok-0612345678-late"})
    log.info("short secrets such as abc are not masked")

    first, second = lines(stream)
    assert first["msg"] == "password is ***"
    assert first["auth"] == "Bearer ***"
    assert second["msg"] == "short secrets such as abc are not masked"


def test_mask_text_follows_the_configured_handler_and_its_registered_secrets(
    configure: Configure,
) -> None:
    configure(mask_pii=False)
    add_secret("tok-mask-text-1")
    kept = mask_text("ada@example.com tok-mask-text-1")
    configure(mask_pii=True)

    assert kept == "ada@example.com ***"
    assert mask_text("ada@example.com tok-mask-text-1") == "a***@example.com ***"


def test_a_maskers_own_secrets_stay_its_own() -> None:
    own = Masker(secrets=["tok-own-only-1"])

    assert own("tok-own-only-1") == "***"
    assert Masker()("tok-own-only-1") == "tok-own-only-1"
    assert describe_error(ValueError("tok-own-only-1")) == "ValueError: tok-own-only-1"


def test_mask_pii_false_keeps_pii_but_still_masks_secrets(configure: Configure) -> None:
    stream = configure(mask_pii=False, secrets=["s3cr3t-value"])
    logging.getLogger("hub.test").info("ada@example.com s3cr3t-value")

    assert lines(stream)[0]["msg"] == "ada@example.com ***"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22T15:48:35",
        "2026-11-22T15:48:35.123+01:00",
        "2026-11-22 15:48:35.123456",
        "run 12345678-aaaa",
        "run 123e4567-e89b-12d3-a456-426614174000",
        "12345678-1234-1234-1234-123456789012",
        "took 123456 ms",
        "took 123456789 ms",
        "took 0.123456789 s",
        "peer 192.168.100.200:8080",
        "on 01.12.2026 at noon",
        "msg id_0612345678",
        "screen 1920x1080",
        "build 12345678x2",
    ],
)
def test_timestamps_durations_and_ids_are_not_masked(text: str) -> None:
    assert Masker()(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+33 6 12 34 56 10", "+336******10"),
        ("0612345678", "061*****78"),
        ("06.12.34.56.78", "061*****78"),
        ("(06) 12-34-56-78", "061*****78"),
        ("+1 (415) 555-2671", "+141******71"),
        ("tel 612 345 678.", "tel 612****78."),
        ("2026-11-22 0612345678", "2026-11-22 061*****78"),
    ],
)
def test_phone_numbers_are_masked(text: str, masked: str) -> None:
    assert Masker()(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("612345678", "612****78"),
        ("33612345678", "336******78"),
        ("4915198765432", "491********32"),
        ("Tel.0612345678", "Tel.061*****78"),
        ("tél.612345678", "tél.612****78"),
        ("Mob-33612345678 (evenings)", "Mob-336******78 (evenings)"),
        ("call 612345678 today", "call 612****78 today"),
        ("612345678 sales line", "612****78 sales line"),
        ("wechat 13812345678", "wechat 138******78"),
        ("fifteen 861381234567890", "fifteen 861**********90"),
        ("from 14155552671, thanks", "from 141******71, thanks"),
        ("contact 123456789", "contact 123****89"),  # an id written alone: masked too
    ],
)
def test_phone_numbers_in_other_notations_are_masked(text: str, masked: str) -> None:
    assert Masker()(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "12345678",
        "wrote 1234567890 bytes",
        "read 123456789012 rows in 123456789 ms",
        "size 123 456 789 KiB",
        "since 1732290515",
        "at 1732290515123",
        "batch 20261122154835",
        "batch 202611221548",
        "token 1234567890123456",
        "file export-612345678.csv",
        "order_612345678",
        "hash 4915198765432abc",
    ],
)
def test_digit_runs_that_are_not_phone_numbers_are_not_masked(text: str) -> None:
    assert Masker()(text) == text


def test_text_mode_is_readable_and_masked(configure: Configure) -> None:
    stream = configure(json=False)
    log = get_logger("hub.test", connector="csv-import")
    try:
        raise RuntimeError("boom for ada.lovelace@example.com")
    except RuntimeError:
        log.error("sync failed", exc_info=True)

    text = stream.getvalue()
    first = text.splitlines()[0]
    assert re.fullmatch(r"\S+Z ERROR   hub\.test: sync failed connector=csv-import", first)
    assert "RuntimeError: boom for a***@example.com" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)


def test_bound_context_merges_with_call_extra() -> None:
    log = get_logger("hub.test", connector="gmail-sales").bind(run_id="r-9")
    _, kwargs = log.process("x", {"extra": {"batch": 1}})

    assert kwargs["extra"] == {"connector": "gmail-sales", "run_id": "r-9", "batch": 1}


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("de zoé@mercier-traiteur.fr", "de z***@mercier-traiteur.fr"),
        ("élodie.caron@caron-associes.fr", "é***@caron-associes.fr"),
        ("info@bücher.de", "i***@bücher.de"),
        ("contact@xn--bcher-kva.de", "c***@xn--bcher-kva.de"),
        ("ze\u0301lie@cafe\u0301.fr", "z***@cafe\u0301.fr"),  # decomposed accents
        ("संपर्क@डाटामेल.भारत", "स***@डाटामेल.भारत"),
        ("ivan@пример.рф", "i***@пример.рф"),
        ("x.y@example.xn--p1ai", "x***@example.xn--p1ai"),
        ("<zoé@mercier-traiteur.fr>.", "<z***@mercier-traiteur.fr>."),
    ],
)
def test_unicode_emails_and_idn_domains_are_masked(text: str, masked: str) -> None:
    assert Masker()(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "@decorator",
        "@property def name",
        "ping user@ later",
        "a@b",
        "zoé@localhost",
        "a@b.c",
        "left-pad@1.3.0",
        "%(user)s@%(host)s",
        "{user}@{host}.{tld}",
        "%(asctime)s %(levelname)s %(name)s: %(message)s",
    ],
)
def test_at_signs_that_are_not_emails_are_not_masked(text: str) -> None:
    assert Masker()(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+33612345678x123", "+336******78x***"),
        ("+33 6 12 34 56 78 ext. 12", "+336******78 ext. **"),
        ("0612345678;ext=5", "061*****78;ext=*"),
        ("tel 01 23 45 67 89 poste 204.", "tel 012*****89 poste ***."),
        ("+1 (415) 555-2671 #12, thanks", "+141******71 #**, thanks"),
    ],
)
def test_phone_numbers_with_an_extension_are_masked(text: str, masked: str) -> None:
    assert Masker()(text) == masked


# Module constants, so the values are not in the test's source lines a traceback shows.
PARAMETER_VALUE = "Ada Lovelace, 12 rue X"
TITLE_VALUE = "Dr Ada Lovelace"


def failed_insert() -> IntegrityError:
    """A real IntegrityError: NULL into a NOT NULL column of an in-memory SQLite table."""
    engine = sa.create_engine("sqlite://")
    table = sa.Table(
        "contacts",
        sa.MetaData(),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("address", sa.String, nullable=False),
    )
    table.metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), {"name": PARAMETER_VALUE, "address": None})
    except IntegrityError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("the insert did not fail")


def test_describe_error_of_an_integrity_error_keeps_the_kind_and_drops_parameters() -> None:
    exc = failed_insert()
    assert PARAMETER_VALUE in str(exc)  # what the log would otherwise carry

    described = describe_error(exc)

    assert described == "IntegrityError: NOT NULL constraint failed: contacts.address"
    assert "Ada" not in described
    assert "[SQL" not in described


def test_describe_error_of_a_data_error_is_the_first_line_of_the_driver_message() -> None:
    orig = sqlite3.DataError("value too long for type character varying(2)\nDETAIL: row x")
    exc = DBAPIError.instance(
        "INSERT INTO contacts (title) VALUES (?)", (TITLE_VALUE,), orig, sqlite3.Error
    )
    assert isinstance(exc, DataError)

    assert describe_error(exc) == "DataError: value too long for type character varying(2)"


@pytest.mark.parametrize(
    ("message", "described"),
    [
        (
            'invalid input syntax for type integer: "Ada Lovelace"',
            'IntegrityError: invalid input syntax for type integer: "***"',
        ),
        (
            "Duplicate entry 'Ada Lovelace' for key 'contacts.name'",
            "IntegrityError: Duplicate entry '***' for key 'contacts.name'",
        ),
        (
            'duplicate key value violates unique constraint "contacts_email_key"\n'
            "DETAIL:  Key (email)=(ada@example.com) already exists.",
            'IntegrityError: duplicate key value violates unique constraint "contacts_email_key"',
        ),
    ],
)
def test_describe_error_drops_values_the_driver_quotes(message: str, described: str) -> None:
    orig = sqlite3.IntegrityError(message)
    exc = DBAPIError.instance("UPDATE contacts SET x = ?", ("Ada",), orig, sqlite3.Error)

    assert describe_error(exc) == described


def test_describe_error_of_other_errors_is_masked_one_line_and_truncated(
    configure: Configure,
) -> None:
    configure(mask_pii=False, secrets=["tok-s3cr3t-value"])  # PII is masked all the same

    described = describe_error(
        ValueError("bad row for zoé@mercier-traiteur.fr\n+33 6 12 34 56 78 tok-s3cr3t-value")
    )
    long = describe_error(RuntimeError("x" * 2000))

    assert described == "ValueError: bad row for z***@mercier-traiteur.fr +336******78 ***"
    assert len(long) == 500
    assert long.startswith("RuntimeError: xxx")
    assert describe_error(KeyError()) == "KeyError"


def test_describe_error_drops_sql_parameters_from_a_wrapped_database_error() -> None:
    exc = RuntimeError(f"sync failed: {failed_insert()}")

    described = describe_error(exc)

    assert described.startswith("RuntimeError: sync failed: (sqlite3.IntegrityError) NOT NULL")
    assert "[parameters hidden]" in described
    assert "Ada" not in described
    assert "\n" not in described


@pytest.mark.parametrize("json_lines", [True, False])
def test_logged_traceback_of_a_database_error_has_no_parameter_values(
    configure: Configure, json_lines: bool
) -> None:
    stream = configure(json=json_lines)
    exc = failed_insert()
    try:
        raise RuntimeError("wrapped") from exc
    except RuntimeError:
        logging.getLogger("hub.test").exception("store failed: %s", exc)

    text = stream.getvalue()
    assert "NOT NULL constraint failed: contacts.address" in text
    assert "[parameters hidden]" in text
    assert "Ada" not in text
    assert "12 rue" not in text


def test_sql_parameters_block_spanning_lines_is_removed() -> None:
    text = (
        "(psycopg.errors.DataError) value too long\n"
        "[SQL: INSERT INTO contacts (name, address) VALUES (%(name)s, %(address)s)]\n"
        "[parameters: {'name': Name(first='Ada',\n  last='Lovelace'), 'address': '[12] rue X'}]\n"
        "(Background on this error at: https://sqlalche.me/e/20/9h9h)\n"
        "\n"
        "[parameters: ('Grace Hopper', 'unterminated'"
    )

    assert Masker(pii=False)(text) == (
        "(psycopg.errors.DataError) value too long\n"
        "[SQL: INSERT INTO contacts (name, address) VALUES (%(name)s, %(address)s)]\n"
        "[parameters hidden]\n"
        "(Background on this error at: https://sqlalche.me/e/20/9h9h)\n"
        "\n"
        "[parameters hidden]"
    )
