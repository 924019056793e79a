"""Reading vCard files (3.0 and 4.0, 2.1 as far as vobject goes), one card at a time.

The file is split into cards on ``BEGIN:VCARD``/``END:VCARD`` lines and each card is
parsed on its own with ``vobject``, so a broken card is rejected and the others still go.
Properties read: FN, N, EMAIL and TEL (TYPE -> label; ``PREF``/``TYPE=pref`` -> primary),
ORG, TITLE, ADR, BDAY (as written, ``--MMDD`` included), URL and X-SOCIALPROFILE (social
profiles -> handles), NOTE, CATEGORIES (-> tags) and UID (-> the external id; without
one, the content key of :mod:`hub_csv.external_ids`, which names the file). ``raw`` holds
the card's text, without PHOTO/LOGO/SOUND/KEY data. BDAY is ISO 8601 by the standard, so
``date_order`` does not apply to it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import vobject

from hub.connectors import Rejected
from hub.records import Observation
from hub_csv.external_ids import ContentKeys
from hub_csv.person import (
    Item,
    PersonBuilder,
    RowContext,
    build_observation,
    parse_label,
    payload_text,
    social_network,
    unidentifiable,
)
from hub_csv.reading import TextEncoding
from hub_csv.source import SourceFile

_BINARY = {"PHOTO", "LOGO", "SOUND", "KEY"}
_NOT_LABELS = {"internet", "pref", "voice", "x400", "msg", "text", "uri"}


@dataclass
class Card:
    line: int
    lines: list[str] = field(default_factory=list)
    raw_lines: list[str] = field(default_factory=list)
    error: str | None = None
    truncated: bool = False

    @property
    def text(self) -> str:
        return "\r\n".join(self.lines) + "\r\n"


def split_cards(stream: TextIO, limit: int) -> Iterator[Card]:
    """The cards of a vCard file with their first line numbers; broken ones carry an error."""
    card: Card | None = None
    size = 0
    skipping = False  # inside a card already rejected as too large
    binary = False  # inside a PHOTO/LOGO/... property (kept out of ``raw``)
    for number, line in enumerate(stream, 1):
        line = line.rstrip("\r\n")
        marker = line.strip().upper()
        if skipping:
            skipping = marker != "END:VCARD"
            continue
        if marker == "BEGIN:VCARD":
            if card is not None:
                card.error = "the card has no END:VCARD before the next BEGIN:VCARD"
                yield card
            card, size, binary = Card(number), 0, False
        if card is None:
            continue  # text between cards is ignored
        card.lines.append(line)
        size += len(line)
        if not line[:1].isspace():
            name = line.split(":", 1)[0].split(";", 1)[0].rsplit(".", 1)[-1].upper()
            binary = name in _BINARY
        if not binary:
            card.raw_lines.append(line)
        if marker == "END:VCARD":
            yield card
            card = None
        elif size > limit:
            card.error = f"the card is larger than {limit} characters"
            yield card
            card, skipping = None, True
    if card is not None:
        card.error = "the file ends inside a card (a truncated export?)"
        card.truncated = True
        yield card


def _text(value: Any, separator: str = " ") -> str:
    if isinstance(value, list | tuple):
        return separator.join(str(part).strip() for part in value if str(part).strip())
    return str(value or "").strip()


def _types(line: Any) -> list[str]:
    return [
        part.strip().strip('"').lower()
        for value in line.params.get("TYPE", [])
        for part in str(value).split(",")
        if part.strip()
    ]


def _label_primary(line: Any) -> tuple[str | None, bool]:
    types = _types(line)
    primary = "pref" in types or "1" in line.params.get("PREF", [])
    for preferred, label in (("fax", "fax"), ("cell", "mobile"), ("main", "main")):
        if preferred in types:
            return label, primary
    others = [t for t in types if t not in _NOT_LABELS]
    return (parse_label(others[0])[0] if others else None), primary


def card_person(component: Any) -> tuple[PersonBuilder, str | None]:
    """The person a parsed vCard describes, and its UID."""
    person = PersonBuilder()
    uid: str | None = None
    for line in component.getChildren():
        name, value = line.name.upper(), line.value
        if name == "FN":
            person.full_name = person.full_name or _text(value) or None
        elif name == "N":
            person.family_name = person.family_name or _text(value.family) or None
            person.given_name = person.given_name or _text(value.given) or None
        elif name == "EMAIL":
            person.add_email(_text(value), *_label_primary(line))
        elif name == "TEL":
            person.add_phone(_text(value), *_label_primary(line))
        elif name == "ORG" and (company := _text(value[:1] if isinstance(value, list) else value)):
            person.company.setdefault("name", company)
        elif name == "TITLE":
            person.title = person.title or _text(value) or None
        elif name == "ADR":
            person.set_address(
                street=_text([value.extended, value.street], ", "),
                city=_text(value.city),
                postcode=_text(value.code),
                region=_text(value.region),
                country=_text(value.country),
            )
        elif name == "BDAY":
            person.birthday = person.birthday or _text(value) or None
        elif name == "URL":
            person.add_url(_text(value))
        elif name == "X-SOCIALPROFILE" and (profile := _text(value)):
            types = [t for t in _types(line) if t not in _NOT_LABELS]
            network = types[0] if types else social_network(profile)
            if network:
                person.handles.setdefault(network, profile)
        elif name == "NOTE" and (note := _text(value)):
            person.custom["notes"] = note
        elif name == "CATEGORIES":
            parts = value if isinstance(value, list) else str(value).split(",")
            person.add_tags([str(part) for part in parts])
        elif name == "UID":
            uid = _text(value) or None
    return person, uid


class VCardFile(SourceFile):
    """One vCard file; ``rows`` counts cards."""

    def items(self, skip: int) -> Generator[Item, None, None]:
        with self.path.open("rb") as stream:
            opened = self.open_checks(stream)
        if isinstance(opened, Rejected):
            yield 0, opened
            return
        encoding = opened.encoding
        keys = ContentKeys(self.key_scope)
        rows = 0
        with self.path.open(
            "r", encoding=encoding.codec, errors=encoding.errors, newline=""
        ) as text:
            for card in split_cards(text, 16 * self.settings.max_field_bytes):
                rows += 1
                result = self._card(card, keys, encoding, emit=rows > skip)
                if result is not None and rows > skip:
                    yield rows, result
        self.rows = rows
        if rows == 0:
            yield 0, self.reject_file("no vCard (BEGIN:VCARD) in the file", opened.head_text)

    def _card(
        self, card: Card, keys: ContentKeys, encoding: TextEncoding, emit: bool
    ) -> Observation | Rejected | None:
        context = RowContext(f"{self.name}:{card.line}", card.text)
        reason = card.error
        if card.truncated:
            self.complete = False
        if reason is None and encoding.undecodable(context.text):
            reason = "the card holds bytes the file's encoding cannot decode (set `encoding`)"
        person, uid = PersonBuilder(), None
        if reason is None:
            try:
                person, uid = card_person(vobject.readOne(context.text, allowQP=True))
            # vobject raises a variety of errors (ParseError, ValueError, binascii.Error,
            # AttributeError on odd structures) for malformed input: any of them means
            # "this card is broken", which is a rejection, not a crash.
            except Exception as exc:
                reason = f"unreadable vCard: {type(exc).__name__}: {exc}"
        if reason is not None:
            return Rejected(
                reason=reason, payload=payload_text(context.text), location=context.location
            )
        if not person.identifies():
            return unidentifiable(context, uid)
        external_id = uid or keys.key_for(person)
        if external_id is None:
            return unidentifiable(context)
        if not emit:
            return None
        raw = {"vcard": "\n".join(card.raw_lines)}
        return build_observation(person, external_id, self.observed_at, raw, context)
