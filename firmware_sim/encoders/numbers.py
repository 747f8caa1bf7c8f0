"""IEEE 11073 SFLOAT / FLOAT and Date Time encoders (inverse of ``gateway.ble.profiles``)."""

from __future__ import annotations

from decimal import Decimal

from gateway.ble.profiles.base import DateTime
from gateway.ble.profiles.ieee11073 import (
    FLOAT_NAN,
    FLOAT_SPECIALS,
    SFLOAT_NAN,
    SFLOAT_SPECIALS,
    Special,
)

_SFLOAT = (12, -8, 7)
_FLOAT = (24, -128, 127)


def decimal_parts(value: float, mantissa_bits: int, exp_min: int, exp_max: int) -> tuple[int, int]:
    """(mantissa, exponent) with ``mantissa × 10^exponent == value`` and the exponent nearest 0.

    ``repr`` gives the shortest decimal that reads back as ``value``, so a value decoded
    from a medical float is re-encoded exactly. ValueError if it does not fit.
    """
    sign, digits, exp = Decimal(repr(float(value))).normalize().as_tuple()
    if not isinstance(exp, int):
        raise ValueError(f"{value!r} is not a finite number")
    mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
    limit = 1 << (mantissa_bits - 1)
    while exp > 0 and -limit <= mantissa * 10 < limit:
        mantissa, exp = mantissa * 10, exp - 1
    if mantissa == 0:
        exp = 0
    if not (exp_min <= exp <= exp_max and -limit <= mantissa < limit):
        raise ValueError(f"{value!r} does not fit a {mantissa_bits}-bit mantissa exactly")
    return mantissa, exp


def sfloat_raw(value: float | None, special: Special = Special.NAN) -> int:
    """The raw 16-bit SFLOAT of ``value``; None becomes ``special`` (NaN by default)."""
    if value is None:
        return next(raw for raw, s in SFLOAT_SPECIALS.items() if s is special)
    mantissa, exp = decimal_parts(value, *_SFLOAT)
    raw = ((exp & 0x0F) << 12) | (mantissa & 0x0FFF)
    if raw in SFLOAT_SPECIALS:
        raise ValueError(f"{value!r} collides with a reserved SFLOAT pattern")
    return raw


def float_raw(value: float | None, special: Special = Special.NAN) -> int:
    """The raw 32-bit FLOAT of ``value``; None becomes ``special`` (NaN by default)."""
    if value is None:
        return next(raw for raw, s in FLOAT_SPECIALS.items() if s is special)
    mantissa, exp = decimal_parts(value, *_FLOAT)
    raw = ((exp & 0xFF) << 24) | (mantissa & 0x00FFFFFF)
    if raw in FLOAT_SPECIALS:
        raise ValueError(f"{value!r} collides with a reserved FLOAT pattern")
    return raw


def sfloat(value: float | None) -> bytes:
    return sfloat_raw(value).to_bytes(2, "little")


def float32(value: float | None) -> bytes:
    return float_raw(value).to_bytes(4, "little")


def u8(value: int) -> bytes:
    return value.to_bytes(1, "little")


def u16(value: int) -> bytes:
    return value.to_bytes(2, "little")


def s16(value: int) -> bytes:
    return value.to_bytes(2, "little", signed=True)


def u24(value: int) -> bytes:
    return value.to_bytes(3, "little")


def u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def date_time(value: DateTime) -> bytes:
    """GATT Date Time: year u16, month, day, hours, minutes, seconds."""
    return u16(value.year) + bytes(
        [value.month, value.day, value.hours, value.minutes, value.seconds]
    )


def scaled(value: float, divisor: int) -> bytes:
    """A fixed-point u16 (``round(value × divisor)``), refusing what does not fit."""
    raw = round(value * divisor)
    if not 0 <= raw <= 0xFFFF:
        raise ValueError(f"{value!r} × {divisor} does not fit 16 bits")
    return u16(raw)


__all__ = [
    "FLOAT_NAN",
    "SFLOAT_NAN",
    "date_time",
    "decimal_parts",
    "float32",
    "float_raw",
    "s16",
    "scaled",
    "sfloat",
    "sfloat_raw",
    "u8",
    "u16",
    "u24",
    "u32",
]
