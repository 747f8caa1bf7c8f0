"""Blood Pressure Service (0x1810): Blood Pressure Measurement 0x2A35, Intermediate Cuff
Pressure 0x2A36, Blood Pressure Feature 0x2A49.

Layout (Blood Pressure Service 1.0, §3.1–3.3; GATT Specification Supplement §3.31):
flags u8 | systolic SFLOAT | diastolic SFLOAT | MAP SFLOAT | time stamp (Date Time)? |
pulse rate SFLOAT? | user id u8? | measurement status u16?
flags bit 0: unit kPa (else mmHg); bit 1: time stamp; bit 2: pulse rate; bit 3: user id;
bit 4: measurement status; bits 5–7 reserved for future use: ignored on receipt, and bytes
after the defined fields then belong to a field this version does not know. In 0x2A36 the systolic field carries the
current cuff pressure and the diastolic and MAP fields are unused (NaN).
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

NAME = "Blood Pressure Measurement (0x2A35)"
CUFF_NAME = "Intermediate Cuff Pressure (0x2A36)"
FEATURE_NAME = "Blood Pressure Feature (0x2A49)"

KPA_TO_MMHG: Final = 7.50062
"""Metric table (docs/architecture.md): kPa × 7.50062 = mm[Hg]."""
UNKNOWN_USER: Final = 0xFF

_FLAG_KPA = 0x01
_FLAG_TIME = 0x02
_FLAG_PULSE = 0x04
_FLAG_USER = 0x08
_FLAG_STATUS = 0x10
_FLAGS_RESERVED = 0xE0

MEASUREMENT_STATUS: Final = FlagTable(
    "measurement status",
    [
        (0x0001, 0x0001, "body_movement"),
        (0x0002, 0x0002, "cuff_too_loose"),
        (0x0004, 0x0004, "irregular_pulse"),
        (0x0018, 0x0008, "pulse_rate_above_upper_limit"),
        (0x0018, 0x0010, "pulse_rate_below_lower_limit"),
        (0x0020, 0x0020, "improper_measurement_position"),
    ],
)
"""Bits 0–5 of the measurement status (§3.1.1.7); bits 3–4 value 3 and bits 6–15 reserved,
ignored on receipt (no name)."""

UNUSABLE_STATUS: Final = frozenset(
    {"body_movement", "cuff_too_loose", "improper_measurement_position"}
)
"""Conditions under which the cuff itself says the reading is not trustworthy."""

FEATURES: Final = FlagTable.bits(
    "feature",
    [
        (0, "body_movement_detection"),
        (1, "cuff_fit_detection"),
        (2, "irregular_pulse_detection"),
        (3, "pulse_rate_range_detection"),
        (4, "measurement_position_detection"),
        (5, "multiple_bonds"),
    ],
)
"""BLS 1.0 §3.3.1 bits 0–5; the bits newer versions define (6–15 here) are ignored."""


def _unit(kpa: bool) -> str:
    return "kPa" if kpa else "mm[Hg]"


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement(Timed):
    """One cuff reading in the unit the cuff sent (``kpa`` says which); None = no value."""

    systolic: float | None
    diastolic: float | None
    mean_arterial_pressure: float | None
    kpa: bool = False
    time_stamp: DateTime | None = None
    pulse_rate: float | None = None
    user_id: int | None = None
    """0xFF means "unknown user" on a shared cuff."""
    status: tuple[str, ...] | None = None
    """Measurement status flag names; None when the cuff did not send the status field."""

    @property
    def usable(self) -> bool:
        return not UNUSABLE_STATUS.intersection(self.status or ())

    def readings(self) -> list[ProfileReading]:
        unit = _unit(self.kpa)
        factor = KPA_TO_MMHG if self.kpa else 1.0
        flags, usable = self.status or (), self.usable
        pressures = (
            (Metric.SYSTOLIC_BP, self.systolic),
            (Metric.DIASTOLIC_BP, self.diastolic),
            (Metric.MEAN_ARTERIAL_PRESSURE, self.mean_arterial_pressure),
        )
        out = [
            ProfileReading(metric, converted(value, factor), unit, flags, usable)
            for metric, value in pressures
            if value is not None
        ]
        if self.pulse_rate is not None:
            out.append(ProfileReading(Metric.PULSE_RATE, self.pulse_rate, "/min", flags, usable))
        return out


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure(Timed):
    """The cuff pressure during inflation/deflation: progress, not a clinical reading."""

    cuff_pressure: float | None
    kpa: bool = False
    time_stamp: DateTime | None = None
    pulse_rate: float | None = None
    user_id: int | None = None
    status: tuple[str, ...] | None = None

    def readings(self) -> list[ProfileReading]:
        return []


def _decode_common(name: str, data: bytes) -> tuple[int, list[float | None], Cursor]:
    cur = Cursor(name, data)
    flags = cur.u8("flags")
    values = [cur.sfloat("systolic"), cur.sfloat("diastolic"), cur.sfloat("mean arterial")]
    return flags, values, cur


def _decode_tail(
    flags: int, cur: Cursor
) -> tuple[DateTime | None, float | None, int | None, tuple[str, ...] | None]:
    stamp = cur.date_time("time stamp") if flags & _FLAG_TIME else None
    pulse = cur.sfloat("pulse rate") if flags & _FLAG_PULSE else None
    user = cur.u8("user id") if flags & _FLAG_USER else None
    status = cur.flags(MEASUREMENT_STATUS, size=2) if flags & _FLAG_STATUS else None
    cur.done(future_fields=bool(flags & _FLAGS_RESERVED))
    return stamp, pulse, user, status


def decode_blood_pressure(data: bytes) -> BloodPressureMeasurement:
    flags, (sys_, dia, mean), cur = _decode_common(NAME, data)
    stamp, pulse, user, status = _decode_tail(flags, cur)
    return BloodPressureMeasurement(
        sys_, dia, mean, bool(flags & _FLAG_KPA), stamp, pulse, user, status
    )


def decode_intermediate_cuff_pressure(data: bytes) -> IntermediateCuffPressure:
    flags, (cuff, _, _), cur = _decode_common(CUFF_NAME, data)
    stamp, pulse, user, status = _decode_tail(flags, cur)
    return IntermediateCuffPressure(cuff, bool(flags & _FLAG_KPA), stamp, pulse, user, status)


@dataclass(frozen=True, slots=True)
class BloodPressureFeature:
    features: tuple[str, ...]

    def readings(self) -> list[ProfileReading]:
        return []


def decode_blood_pressure_feature(data: bytes) -> BloodPressureFeature:
    cur = Cursor(FEATURE_NAME, data)
    features = cur.flags(FEATURES, size=2)
    cur.done()  # a feature word announces no fields: its length is fixed
    return BloodPressureFeature(features)
