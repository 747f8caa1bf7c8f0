"""Weight Scale Service (0x181D) and Body Composition Service (0x181B): Weight Measurement
0x2A9D, Weight Scale Feature 0x2A9E, Body Composition Measurement 0x2A9C.

Resolutions (Weight Scale Service 1.0 §3.1, Body Composition Service 1.0 §3.2; GATT
Specification Supplement §3.37, §3.250): mass 0.005 kg (SI) or 0.01 lb (imperial); height
0.001 m or 0.1 in; BMI 0.1 kg/m²; percentages 0.1 %; impedance 0.1 Ω. A mass or body-fat
field of 0xFFFF means "measurement unsuccessful" and decodes to None. Flag bits 4–7 of 0x2A9D
are reserved for future use: ignored on receipt, and bytes after the defined fields then
belong to a field this version does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.ble.profiles.base import (
    Cursor,
    DateTime,
    FlagTable,
    ProfileReading,
    Timed,
    converted,
)
from gateway.wire import Metric

NAME = "Weight Measurement (0x2A9D)"
FEATURE_NAME = "Weight Scale Feature (0x2A9E)"

LB_TO_KG: Final = 0.45359237
IN_TO_CM: Final = 2.54
UNSUCCESSFUL: Final = 0xFFFF

MASS_DIVISOR: Final = {False: 200, True: 100}
"""Raw units per kg (0.005 kg) or per lb (0.01 lb), keyed by "imperial"."""
HEIGHT_DIVISOR: Final = {False: 1000, True: 10}
"""Raw units per m (0.001 m) or per inch (0.1 in), keyed by "imperial"."""
BMI_DIVISOR: Final = 10

_FLAG_IMPERIAL = 0x01
_FLAG_TIME = 0x02
_FLAG_USER = 0x04
_FLAG_BMI = 0x08
_FLAGS_RESERVED = 0xF0


def mass_unit(imperial: bool) -> str:
    return "[lb_av]" if imperial else "kg"


def height_unit(imperial: bool) -> str:
    return "[in_i]" if imperial else "m"


def mass_reading(value: float, imperial: bool) -> ProfileReading:
    kg = converted(value, LB_TO_KG) if imperial else value
    return ProfileReading(Metric.BODY_WEIGHT, kg, mass_unit(imperial))


def height_reading(value: float, imperial: bool) -> ProfileReading:
    cm = converted(value, IN_TO_CM if imperial else 100.0)
    return ProfileReading(Metric.BODY_HEIGHT, cm, height_unit(imperial))


def read_mass(cur: Cursor, what: str, imperial: bool) -> float | None:
    raw = cur.u16(what)
    return None if raw == UNSUCCESSFUL else raw / MASS_DIVISOR[imperial]


@dataclass(frozen=True, slots=True)
class WeightMeasurement(Timed):
    """Weight in kg or lb as the scale sent it (``imperial``); height in m or inches."""

    weight: float | None
    imperial: bool = False
    time_stamp: DateTime | None = None
    user_id: int | None = None
    bmi: float | None = None
    height: float | None = None
    """Present together with ``bmi``."""

    def readings(self) -> list[ProfileReading]:
        out = []
        if self.weight is not None:
            out.append(mass_reading(self.weight, self.imperial))
        if self.bmi is not None:
            out.append(ProfileReading(Metric.BMI, self.bmi, "kg/m2"))
        if self.height is not None:
            out.append(height_reading(self.height, self.imperial))
        return out


def decode_weight(data: bytes) -> WeightMeasurement:
    cur = Cursor(NAME, data)
    flags = cur.u8("flags")
    imperial = bool(flags & _FLAG_IMPERIAL)
    weight = read_mass(cur, "weight", imperial)
    stamp = cur.date_time("time stamp") if flags & _FLAG_TIME else None
    user = cur.u8("user id") if flags & _FLAG_USER else None
    bmi = height = None
    if flags & _FLAG_BMI:
        bmi = cur.u16("BMI") / BMI_DIVISOR
        height = cur.u16("height") / HEIGHT_DIVISOR[imperial]
    cur.done(future_fields=bool(flags & _FLAGS_RESERVED))
    return WeightMeasurement(weight, imperial, stamp, user, bmi, height)


FEATURES: Final = FlagTable(
    "feature",
    [
        (0x001, 0x001, "time_stamp"),
        (0x002, 0x002, "multiple_users"),
        (0x004, 0x004, "bmi"),
        *((0x078, code << 3, f"weight_resolution_{code}") for code in range(1, 8)),
        *((0x380, code << 7, f"height_resolution_{code}") for code in range(1, 4)),
    ],
)
"""Bits 0–2 flags, 3–6 weight resolution code (1–7), 7–9 height resolution code (1–3);
other codes and bits 10–31 reserved (WSS 1.0 §3.2.1): ignored, a reserved resolution code
reads as "not specified"."""

WEIGHT_RESOLUTIONS: Final = {1: 0.5, 2: 0.2, 3: 0.1, 4: 0.05, 5: 0.02, 6: 0.01, 7: 0.005}
"""Weight resolution code → kg (the imperial resolution is 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01 lb)."""
HEIGHT_RESOLUTIONS: Final = {1: 0.01, 2: 0.005, 3: 0.001}
"""Height resolution code → m (imperial: 1, 0.5, 0.1 in)."""


@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    time_stamp: bool = False
    multiple_users: bool = False
    bmi: bool = False
    weight_resolution_kg: float | None = None
    """None: not specified by the scale, or a reserved code (unknown)."""
    height_resolution_m: float | None = None

    def readings(self) -> list[ProfileReading]:
        return []


def _code(names: tuple[str, ...], prefix: str) -> int:
    return next((int(n.rsplit("_", 1)[1]) for n in names if n.startswith(prefix)), 0)


def decode_weight_scale_feature(data: bytes) -> WeightScaleFeature:
    cur = Cursor(FEATURE_NAME, data)
    names = cur.flags(FEATURES, size=4)
    cur.done()
    return WeightScaleFeature(
        time_stamp="time_stamp" in names,
        multiple_users="multiple_users" in names,
        bmi="bmi" in names,
        weight_resolution_kg=WEIGHT_RESOLUTIONS.get(_code(names, "weight_resolution_")),
        height_resolution_m=HEIGHT_RESOLUTIONS.get(_code(names, "height_resolution_")),
    )
