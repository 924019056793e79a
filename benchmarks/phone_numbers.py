"""Valid, distinct phone numbers for generate_outlook.py, written in many notations.

The prefixes come from PHONE_TABLE (outlook_pools.py). A number is "prefix + digits"; the
digits come from a bijection of a serial number, so two people never get the same one.
`check_phones` parses samples with the installed phonenumbers to prove they are valid.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from random import Random
from typing import NamedTuple

from outlook_pools import CALLING_CODES, PHONE_TABLE, TRUNK_ZERO

# Phone notations. National ones only for French numbers: the benchmark's default region
# is FR, so "030 1234567" would be read as a French number and flagged invalid.
INTL, E164, INTL00, INTL_TRUNK, INTL_DASH, NATIONAL, NAT_DOTS, NAT_DASH, NAT_COMPACT = range(9)
STYLES_FR = (NATIONAL, NATIONAL, NATIONAL, NAT_DOTS, NAT_COMPACT, NAT_DASH, INTL, INTL, E164,
             INTL00, INTL_TRUNK)
STYLES_FOREIGN = (INTL, INTL, INTL, E164, E164, INTL00, INTL_DASH, INTL_TRUNK)


class Shape(NamedTuple):
    """Numbers "prefix + rest digits" of one country and kind, and how they are grouped."""

    country: str
    code: str
    prefix: str
    rest: int
    trunk: str
    national: tuple[tuple[int, int], ...]  # slices of trunk + significant number
    international: tuple[tuple[int, int], ...]  # slices of the significant number


def _slices(groups: Sequence[int]) -> tuple[tuple[int, int], ...]:
    bounds, start = [], 0
    for size in groups:
        bounds.append((start, start + size))
        start += size
    return tuple(bounds)


class Phone(NamedTuple):
    shape: Shape
    number: str  # national significant number

    def e164(self) -> str:
        return f"+{self.shape.code}{self.number}"

    def format(self, style: int) -> str:
        shape, number = self.shape, self.number
        if style >= NATIONAL:
            digits = shape.trunk + number
            if style == NAT_COMPACT:
                return digits
            sep = " " if style == NATIONAL else "." if style == NAT_DOTS else "-"
            return sep.join([digits[a:b] for a, b in shape.national])
        if style == E164:
            return f"+{shape.code}{number}"
        groups = [number[a:b] for a, b in shape.international]
        if style == INTL_DASH:
            return f"+{shape.code}-" + "-".join(groups)
        if style == INTL00:
            return f"00{shape.code} " + " ".join(groups)
        if style == INTL_TRUNK and shape.trunk:
            return f"+{shape.code} (0)" + " ".join(groups)
        return f"+{shape.code} " + " ".join(groups)


class PhoneSpace:
    """Hands out distinct numbers of one country and kind: serial s takes shape i = s mod L
    and suffix ((s div L) * K + offset_i) mod 10^rest, a bijection, so no two people share
    a number (up to 10^rest numbers per shape: millions for every country)."""

    def __init__(self, shapes: list[Shape], rng: Random) -> None:
        self.shapes = shapes
        self.serial = 0
        self.offsets = [rng.randrange(10**12) for _ in shapes]

    def take(self) -> Phone:
        serial, self.serial = self.serial, self.serial + 1
        quotient, index = divmod(serial, len(self.shapes))
        shape = self.shapes[index]
        modulus = 10**shape.rest
        if quotient >= modulus:
            raise OverflowError(f"out of distinct {shape.country} numbers")
        suffix = (quotient * 7_919_317 + self.offsets[index]) % modulus
        return Phone(shape, shape.prefix + str(suffix).zfill(shape.rest))


def phone_shapes() -> dict[tuple[str, str], list[Shape]]:
    shapes: dict[tuple[str, str], list[Shape]] = {}
    for country, kind, length, national, international, prefixes in PHONE_TABLE:
        trunk = "0" if country in TRUNK_ZERO else ""
        for prefix in prefixes.split():
            shapes.setdefault((country, kind), []).append(Shape(
                country, CALLING_CODES[country], prefix, length - len(prefix), trunk,
                _slices(national), _slices(international)))
    return shapes


def check_phones(count: int, seed: int) -> int:
    """Parse `count` generated numbers in every notation with phonenumbers (default region
    FR, like the benchmark config); return how many were not valid or not the expected one."""
    import phonenumbers

    rng = Random(seed)
    shapes = [shape for group in phone_shapes().values() for shape in group]
    failures = 0
    for _ in range(count):
        shape = shapes[int(rng.random() * len(shapes))]
        phone = Phone(shape, shape.prefix + str(rng.randrange(10**shape.rest)).zfill(shape.rest))
        styles = STYLES_FR if shape.country == "FR" else STYLES_FOREIGN
        text = phone.format(styles[int(rng.random() * len(styles))])
        try:
            number = phonenumbers.parse(text, "FR")
            ok = phonenumbers.is_valid_number(number) and phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.E164) == phone.e164()
        except phonenumbers.NumberParseException:
            ok = False
        if not ok:
            failures += 1
            if failures <= 10:
                print(f"invalid: {text!r} (expected {phone.e164()})", file=sys.stderr)
    return failures
