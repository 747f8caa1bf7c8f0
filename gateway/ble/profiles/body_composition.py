"""Body Composition Service (0x181B): Body Composition Measurement 0x2A9C.

Layout (Body Composition Service 1.0, §3.2; GATT Specification Supplement §3.37):
flags u16 | body fat percentage u16 (0.1 %) | then, each present when its flag bit is set,
in this order (the ``FIELDS`` table): time stamp (bit 1), user id (2), basal metabolism kJ
(3), muscle percentage (4), muscle mass (5), fat free mass (6), soft lean mass (7), body
water mass (8), impedance 0.1 Ω (9), weight (10), height (11). Bit 0: imperial units;
bit 12: multiple-packet measurement; bits 13–15 reserved for future use: ignored on receipt,
and bytes after the defined fields then belong to a field this version does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.ble.profiles.base import Cursor, DateTime, ProfileError, ProfileReading, Timed
from gateway.ble.profiles.weight import (
    HEIGHT_DIVISOR,
    MASS_DIVISOR,
    UNSUCCESSFUL,
    height_reading,
    mass_reading,
)
from gateway.wire import Metric

NAME = "Body Composition Measurement (0x2A9C)"

FLAG_IMPERIAL: Final = 0x0001
FLAG_MULTIPLE_PACKET: Final = 0x1000
FLAGS_RESERVED: Final = 0xE000

FIELDS: Final = (
    (1 << 1, "time_stamp", "date_time"),
    (1 << 2, "user_id", "u8"),
    (1 << 3, "basal_metabolism_kj", "u16"),
    (1 << 4, "muscle_percent", "percent"),
    (1 << 5, "muscle_mass", "mass"),
    (1 << 6, "fat_free_mass", "mass"),
    (1 << 7, "soft_lean_mass", "mass"),
    (1 << 8, "body_water_mass", "mass"),
    (1 << 9, "impedance_ohm", "tenth"),
    (1 << 10, "weight", "mass"),
    (1 << 11, "height", "height"),
)
"""(flag bit, field, kind) in wire order; kinds: u8, u16, date_time, percent/tenth (0.1),
mass (0.005 kg / 0.01 lb), height (0.001 m / 0.1 in)."""


@dataclass(frozen=True, slots=True)
class BodyCompositionMeasurement(Timed):
    """Masses in kg or lb and height in m or in, as the scale sent them (``imperial``)."""

    body_fat_percent: float | None
    """None: the scale reports the measurement unsuccessful."""
    imperial: bool = False
    time_stamp: DateTime | None = None
    user_id: int | None = None
    basal_metabolism_kj: int | None = None
    muscle_percent: float | None = None
    muscle_mass: float | None = None
    fat_free_mass: float | None = None
    soft_lean_mass: float | None = None
    body_water_mass: float | None = None
    impedance_ohm: float | None = None
    weight: float | None = None
    height: float | None = None
    multiple_packet: bool = False

    def readings(self) -> list[ProfileReading]:
        out = []
        if self.body_fat_percent is not None:
            out.append(ProfileReading(Metric.BODY_FAT, self.body_fat_percent, "%"))
        if self.weight is not None:
            out.append(mass_reading(self.weight, self.imperial))
        if self.height is not None:
            out.append(height_reading(self.height, self.imperial))
        return out


def _read(cur: Cursor, kind: str, field: str, imperial: bool) -> object:
    what = field.replace("_", " ")
    if kind == "date_time":
        return cur.date_time(what)
    if kind == "u8":
        return cur.u8(what)
    raw = cur.u16(what)
    if kind == "u16":
        return raw
    if kind == "mass":
        return None if raw == UNSUCCESSFUL else raw / MASS_DIVISOR[imperial]
    if kind == "height":
        return raw / HEIGHT_DIVISOR[imperial]
    return raw / 10  # percent, tenth


def decode_body_composition(data: bytes) -> BodyCompositionMeasurement:
    cur = Cursor(NAME, data)
    flags = cur.u16("flags")
    imperial = bool(flags & FLAG_IMPERIAL)
    fat = cur.u16("body fat percentage")
    values = {
        field: _read(cur, kind, field, imperial) for bit, field, kind in FIELDS if flags & bit
    }
    cur.done(future_fields=bool(flags & FLAGS_RESERVED))
    if fat == UNSUCCESSFUL and len(values) > ("time_stamp" in values) + ("user_id" in values):
        raise ProfileError(f"{NAME}: measurement unsuccessful but values present")
    return BodyCompositionMeasurement(
        None if fat == UNSUCCESSFUL else fat / 10,
        imperial,
        multiple_packet=bool(flags & FLAG_MULTIPLE_PACKET),
        **values,  # type: ignore[arg-type]
    )
