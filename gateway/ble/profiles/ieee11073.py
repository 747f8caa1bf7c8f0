"""IEEE 11073-20601 medical floats: 16-bit SFLOAT and 32-bit FLOAT (Annex F.6 / F.8).

Both are ``mantissa × 10^exponent`` with a signed base-10 exponent, so decimal readings
such as 36.5 °C travel exactly. Five reserved bit patterns (exponent 0) are not numbers:
NaN, NRes (not at this resolution), +INF, −INF and a reserved value. They decode to
``None`` ("no value"): a device saying "no reading" must never become a number downstream.

Values are returned as the float nearest to the exact decimal (Python's integer division
is correctly rounded), so ``365 × 10⁻¹`` is exactly ``36.5`` and ``1234 × 10⁻²`` is ``12.34``.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache
from typing import Final


class Special(Enum):
    """The IEEE 11073 special values (Personal Health Devices Transcoding White Paper §2.2)."""

    NAN = "NaN"
    NRES = "NRes"
    POS_INFINITY = "+INF"
    NEG_INFINITY = "-INF"
    RESERVED = "reserved"


SFLOAT_SPECIALS: Final[dict[int, Special]] = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x07FE: Special.POS_INFINITY,
    0x0802: Special.NEG_INFINITY,
    0x0801: Special.RESERVED,
}
"""Raw 16-bit SFLOAT patterns (exponent 0, mantissa 2047, −2048, 2046, −2046, −2047)."""

FLOAT_SPECIALS: Final[dict[int, Special]] = {
    0x007FFFFF: Special.NAN,
    0x00800000: Special.NRES,
    0x007FFFFE: Special.POS_INFINITY,
    0x00800002: Special.NEG_INFINITY,
    0x00800001: Special.RESERVED,
}
"""Raw 32-bit FLOAT patterns (exponent 0, mantissa 2²³−1, −2²³, 2²³−2, −2²³+2, −2²³+1)."""

SFLOAT_NAN: Final = 0x07FF
FLOAT_NAN: Final = 0x007FFFFF


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scale(mantissa: int, exponent: int) -> float:
    power: int = 10 ** abs(exponent)
    if exponent >= 0:
        return float(mantissa * power)
    return mantissa / power  # int / int is correctly rounded: exact decimals stay exact


def sfloat_parts(raw: int) -> tuple[int, int]:
    """(mantissa, exponent) of a raw 16-bit SFLOAT: 4-bit exponent, 12-bit mantissa."""
    return _signed(raw & 0x0FFF, 12), _signed(raw >> 12, 4)


def float_parts(raw: int) -> tuple[int, int]:
    """(mantissa, exponent) of a raw 32-bit FLOAT: 8-bit exponent, 24-bit mantissa."""
    return _signed(raw & 0x00FFFFFF, 24), _signed(raw >> 24, 8)


@lru_cache(maxsize=4096)  # a device repeats few distinct values; decoding is pure
def sfloat_value(raw: int) -> float | None:
    """The number a raw SFLOAT carries, or None for a special value."""
    if raw in SFLOAT_SPECIALS:
        return None
    return _scale(*sfloat_parts(raw))


@lru_cache(maxsize=4096)
def float_value(raw: int) -> float | None:
    """The number a raw 32-bit FLOAT carries, or None for a special value."""
    if raw in FLOAT_SPECIALS:
        return None
    return _scale(*float_parts(raw))
