"""Glucose Service (0x1808): Glucose Measurement 0x2A18 and Glucose Measurement Context 0x2A34.

0x2A18 (Glucose Service 1.0, §3.106 of the GATT Specification Supplement): flags u8 |
sequence number u16 | base time (Date Time) | time offset s16 minutes? | concentration
SFLOAT + type/sample location u8? | sensor status annunciation u16?
flags bit 0 time offset, 1 concentration/type/location, 2 unit mol/L (else kg/L),
3 sensor status annunciation, 4 context information follows; 5–7 reserved.
0x2A34: flags u8 | sequence number u16 | extended flags u8? (bit 7) | carbohydrate id u8 +
carbohydrate SFLOAT kg? (bit 0) | meal u8? (1) | tester/health u8? (2) | exercise duration
u16 s + intensity u8 %? (3) | medication id u8 + medication SFLOAT kg or L? (4; bit 5 = litres)
| HbA1c SFLOAT %? (6).
Reserved flag bits (0x2A18 bits 5–7, every extended flag of 0x2A34) are ignored on receipt,
and bytes after the defined fields then belong to a field this version does not know;
reserved codes (type, location, meal…) decode to the plain number, meaning "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import IntEnum
from typing import Final

from gateway.ble.profiles.base import (
    Cursor,
    DateTime,
    FlagTable,
    ProfileError,
    ProfileReading,
    add_minutes,
    converted,
    known_or_raw,
)
from gateway.wire import Metric

NAME = "Glucose Measurement (0x2A18)"
CONTEXT_NAME = "Glucose Measurement Context (0x2A34)"

KG_PER_L_TO_MG_DL: Final = 100_000.0
MOL_PER_L_TO_MG_DL: Final = 18_016.0
"""Metric table (docs/architecture.md): kg/L × 100000 and mol/L × 18016 give mg/dL (glucose 180.16 g/mol)."""


class GlucoseType(IntEnum):
    """Sample type, low nibble of the type/location byte; 0 and 11–15 reserved (unknown)."""

    CAPILLARY_WHOLE_BLOOD = 1
    CAPILLARY_PLASMA = 2
    VENOUS_WHOLE_BLOOD = 3
    VENOUS_PLASMA = 4
    ARTERIAL_WHOLE_BLOOD = 5
    ARTERIAL_PLASMA = 6
    UNDETERMINED_WHOLE_BLOOD = 7
    UNDETERMINED_PLASMA = 8
    INTERSTITIAL_FLUID = 9
    CONTROL_SOLUTION = 10


class SampleLocation(IntEnum):
    """Sample location, high nibble of the type/location byte; 0 and 5–14 reserved (unknown)."""

    FINGER = 1
    ALTERNATE_SITE_TEST = 2
    EARLOBE = 3
    CONTROL_SOLUTION = 4
    NOT_AVAILABLE = 15


SENSOR_STATUS: Final = FlagTable.bits(
    "sensor status annunciation",
    [
        (0, "battery_low"),
        (1, "sensor_malfunction"),
        (2, "sample_size_insufficient"),
        (3, "strip_insertion_error"),
        (4, "strip_type_incorrect"),
        (5, "result_too_high"),
        (6, "result_too_low"),
        (7, "temperature_too_high"),
        (8, "temperature_too_low"),
        (9, "strip_pulled_too_soon"),
        (10, "general_device_fault"),
        (11, "time_fault"),
    ],
)
"""Bits 0–11; 12–15 reserved (ignored)."""

UNUSABLE_STATUS: Final = frozenset(SENSOR_STATUS.names) - {"battery_low", "time_fault"}
"""Annunciations that make the value itself suspect (a flat battery or a clock fault do not)."""


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """One stored record of a glucose meter; ``concentration`` in kg/L or mol/L as sent."""

    sequence_number: int
    base_time: DateTime
    time_offset_min: int | None = None
    concentration: float | None = None
    mol_per_l: bool = False
    glucose_type: GlucoseType | int | None = None
    """A plain int: a reserved code, the sample type is unknown."""
    sample_location: SampleLocation | int | None = None
    sensor_status: tuple[str, ...] | None = None
    context_follows: bool = False

    @property
    def timestamp(self) -> datetime | None:
        """Base time plus time offset, read as UTC (see ``DateTime``)."""
        return add_minutes(self.base_time.to_datetime(), self.time_offset_min or 0)

    def timestamp_in(self, tz: tzinfo) -> datetime | None:
        return add_minutes(self.base_time.to_datetime(tz), self.time_offset_min or 0)

    @property
    def usable(self) -> bool:
        control = self.glucose_type is GlucoseType.CONTROL_SOLUTION or (
            self.sample_location is SampleLocation.CONTROL_SOLUTION
        )
        return not control and not UNUSABLE_STATUS.intersection(self.sensor_status or ())

    def readings(self) -> list[ProfileReading]:
        if self.concentration is None:
            return []
        factor = MOL_PER_L_TO_MG_DL if self.mol_per_l else KG_PER_L_TO_MG_DL
        unit = "mol/L" if self.mol_per_l else "kg/L"
        flags = self.sensor_status or ()
        if self.glucose_type is GlucoseType.CONTROL_SOLUTION:
            flags = (*flags, "control_solution")
        value = converted(self.concentration, factor)
        return [ProfileReading(Metric.BLOOD_GLUCOSE, value, unit, flags, self.usable)]


def decode_glucose(data: bytes) -> GlucoseMeasurement:
    cur = Cursor(NAME, data)
    flags = cur.u8("flags")
    sequence = cur.u16("sequence number")
    base = cur.date_time("base time")
    offset = cur.s16("time offset") if flags & 0x01 else None
    concentration = kind = location = None
    if flags & 0x02:
        concentration = cur.sfloat("concentration")
        packed = cur.u8("type-sample location")
        kind = known_or_raw(GlucoseType, packed & 0x0F)
        location = known_or_raw(SampleLocation, packed >> 4)
    status = cur.flags(SENSOR_STATUS, size=2) if flags & 0x08 else None
    cur.done(future_fields=bool(flags & 0xE0))
    if base.year == 9999:  # only the last year can overflow (the offset is at most ±23 days)
        try:
            add_minutes(base.to_datetime(), offset or 0)
        except OverflowError:
            raise ProfileError(f"{NAME}: base time plus offset is past year 9999") from None
    return GlucoseMeasurement(
        sequence, base, offset, concentration, bool(flags & 0x04), kind, location, status,
        context_follows=bool(flags & 0x10),
    )  # fmt: skip


class CarbohydrateId(IntEnum):
    BREAKFAST = 1
    LUNCH = 2
    DINNER = 3
    SNACK = 4
    DRINK = 5
    SUPPER = 6
    BRUNCH = 7


class Meal(IntEnum):
    PREPRANDIAL = 1
    POSTPRANDIAL = 2
    FASTING = 3
    CASUAL = 4
    BEDTIME = 5


class Tester(IntEnum):
    SELF = 1
    HEALTH_CARE_PROFESSIONAL = 2
    LAB_TEST = 3
    NOT_AVAILABLE = 15


class Health(IntEnum):
    MINOR_ISSUES = 1
    MAJOR_ISSUES = 2
    DURING_MENSES = 3
    UNDER_STRESS = 4
    NO_ISSUES = 5
    NOT_AVAILABLE = 15


class MedicationId(IntEnum):
    RAPID_ACTING_INSULIN = 1
    SHORT_ACTING_INSULIN = 2
    INTERMEDIATE_ACTING_INSULIN = 3
    LONG_ACTING_INSULIN = 4
    PRE_MIXED_INSULIN = 5


@dataclass(frozen=True, slots=True)
class GlucoseContext:
    """What the patient said about a glucose record (meal, exercise, medication…).

    Every code field holds the enum member, or a plain int for a reserved code (unknown).
    """

    sequence_number: int
    carbohydrate: tuple[CarbohydrateId | int, float | None] | None = None
    """(carbohydrate id, amount in kg as sent, None = no value); None when absent."""
    meal: Meal | int | None = None
    tester: Tester | int | None = None
    health: Health | int | None = None
    exercise_duration_s: int | None = None
    """0xFFFF means "overrun" (longer than the field holds)."""
    exercise_intensity_percent: int | None = None
    medication: tuple[MedicationId | int, float | None] | None = None
    medication_in_litres: bool = False
    hba1c_percent: float | None = None

    @property
    def timestamp(self) -> None:
        return None

    def readings(self) -> list[ProfileReading]:
        return []


def _context_fields(cur: Cursor, flags: int) -> dict[str, object]:
    out: dict[str, object] = {}
    if flags & 0x01:
        carb = known_or_raw(CarbohydrateId, cur.u8("carbohydrate id"))
        out["carbohydrate"] = (carb, cur.sfloat("carbohydrate"))
    if flags & 0x02:
        out["meal"] = known_or_raw(Meal, cur.u8("meal"))
    if flags & 0x04:
        packed = cur.u8("tester-health")
        out["tester"] = known_or_raw(Tester, packed & 0x0F)
        out["health"] = known_or_raw(Health, packed >> 4)
    if flags & 0x08:
        out["exercise_duration_s"] = cur.u16("exercise duration")
        intensity = cur.u8("exercise intensity")
        if intensity > 100:
            raise ProfileError(f"{CONTEXT_NAME}: exercise intensity {intensity} % > 100")
        out["exercise_intensity_percent"] = intensity
    if flags & 0x10:
        med = known_or_raw(MedicationId, cur.u8("medication id"))
        out["medication"] = (med, cur.sfloat("medication"))
    if flags & 0x40:
        out["hba1c_percent"] = cur.sfloat("HbA1c")
    return out


def decode_glucose_context(data: bytes) -> GlucoseContext:
    cur = Cursor(CONTEXT_NAME, data)
    flags = cur.u8("flags")
    sequence = cur.u16("sequence number")
    extended = cur.u8("extended flags") if flags & 0x80 else 0
    fields = _context_fields(cur, flags)
    cur.done(future_fields=bool(extended))  # every extended flag is reserved
    return GlucoseContext(
        sequence,
        medication_in_litres=bool(flags & 0x20),
        **fields,  # type: ignore[arg-type]
    )
