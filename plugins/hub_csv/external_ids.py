"""External ids for rows and cards that carry no id of their own.

The rule, so that re-reading the same file gives the same ids:

1. the id column (``id_column`` or a mapping to ``external_id``; a vCard's ``UID``), as
   written, when the record has one;
2. otherwise a content key ``"k:" + file name + ":" + sha1(text)[:16]`` where *text* is the
   first of: the first e-mail, lower-cased; the first phone, digits only; the first profile
   handle (``"linkedin:" + URL`` lower-cased, kept before the name because a LinkedIn export
   has no e-mail and the company changes when the person moves); the full name, case- and
   accent-folded, with ``"|"`` and the folded company name; the first identifier
   (``"name=value"``);
3. a second record with the same content key in the same file gets ``#2``, a third
   ``#3``... in file order, so keys are unique within a file and deterministic.

Ids given by the file are not suffixed: two rows with the same id are the same record, and
the later one wins.

A content key names the file (its name, not its path: moving the whole folder keeps the
ids), because each configured file is its own snapshot: the same person in ``a.csv`` and
``b.csv`` of one connector is two source records, so leaving ``b.csv`` tombstones only the
second, and the two files' values do not overwrite each other (the core matches the two
records to one contact). Drop-folder files are the exception: they are successive
deliveries of one append-only feed, so their keys are ``"k:" + sha1(text)[:16]`` without
the file name, and the same person in two dropped exports is one source record, updated
by the later one.
"""

from __future__ import annotations

import hashlib
import unicodedata

from hub_csv.person import PersonBuilder


def fold(text: str) -> str:
    """Case-, accent- and space-insensitive form of a name."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def content_text(builder: PersonBuilder) -> str | None:
    """What the content key of a record is computed from (rule 2 above)."""
    if builder.emails:
        return str(builder.emails[0]["value"]).strip().lower()
    for phone in builder.phones:
        digits = "".join(ch for ch in str(phone["value"]) if ch.isdigit())
        if digits:
            return digits
    if builder.handles:
        network, handle = next(iter(builder.handles.items()))
        return f"{network}:{handle.strip().lower()}"
    name = builder.full_name or " ".join(
        part for part in (builder.given_name, builder.family_name) if part
    )
    if name:
        return f"{fold(name)}|{fold(builder.company.get('name') or '')}"
    if builder.identifiers:
        key, value = next(iter(builder.identifiers.items()))
        return f"{key}={value}"
    return None


class ContentKeys:
    """Hands out the content keys of one file (``file_name``; ``None`` for a drop-folder
    file), numbering repeats within it (rule 3 above).

    Only 64-bit integers of the keys already seen are kept, so a million-row file costs
    tens of megabytes, not hundreds.
    """

    def __init__(self, file_name: str | None = None) -> None:
        self._prefix = f"k:{file_name}:" if file_name else "k:"
        self._seen: set[int] = set()
        self._repeats: dict[int, int] = {}

    def key_for(self, builder: PersonBuilder) -> str | None:
        text = content_text(builder)
        return None if text is None else self.key_for_text(text)

    def key_for_text(self, text: str) -> str:
        """The key of a record known by ``text`` (an activity's time, channel, people...)."""
        digest = hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        number = int(digest, 16)
        key = self._prefix + digest
        if number not in self._seen:
            self._seen.add(number)
            return key
        count = self._repeats.get(number, 1) + 1
        self._repeats[number] = count
        return f"{key}#{count}"
