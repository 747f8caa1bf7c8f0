"""Continuous Glucose Monitoring Service (CGMS 1.0.1, 0x181F) and its E2E-CRC.

Layouts (Continuous Glucose Monitoring Service 1.0.1, GATT Specification Supplement):

- 0x2AA7 CGM Measurement, one or more records back to back, each: size u8 (the record's
  length, this byte and the CRC included) | flags u8 | glucose SFLOAT mg/dL | time offset u16
  minutes since session start | status u8? (flag bit 7) | cal/temp u8? (bit 6) | warning u8?
  (bit 5) | trend SFLOAT mg/dL/min? (bit 0) | quality SFLOAT %? (bit 1) | E2E-CRC u16? (when
  the size says so). Bits 2–4 are reserved.
- 0x2AA8 CGM Feature: features u24 | type (low nibble) and sample location (high nibble) u8 |
  E2E-CRC u16, always there: 0xFFFF when the sensor does not support it (feature bit 12).
- 0x2AA9 CGM Status: time offset u16 | status, cal/temp, warning octets | E2E-CRC u16?
- 0x2AAA CGM Session Start Time: Date Time | time zone s8 (15 min; −128 unknown) | DST
  offset u8 (255 unknown) | E2E-CRC u16?
- 0x2AAB CGM Session Run Time: expected run time u16 hours | E2E-CRC u16?
- 0x2AAC CGM Specific Ops Control Point: op code u8 | operand | E2E-CRC u16?

Following the CGMS rule for receivers, reserved flag and feature bits are ignored and
reserved enumeration values are kept as plain numbers ("unknown"), not refused. A present
E2E-CRC that does not match refuses the value: a corrupted glucose value is never stored.
The session characteristics (0x2AA8–0x2AAB) are in ``cgm_session``, the control point in
``cgm_control``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final, TypeVar

from gateway.ble.profiles.base import Cursor, FlagTable, ProfileError, ProfileReading
from gateway.wire import Metric

MEASUREMENT_NAME = "CGM Measurement (0x2AA7)"
FEATURE_NAME = "CGM Feature (0x2AA8)"
STATUS_NAME = "CGM Status (0x2AA9)"
START_TIME_NAME = "CGM Session Start Time (0x2AAA)"
RUN_TIME_NAME = "CGM Session Run Time (0x2AAB)"
SOCP_NAME = "CGM Specific Ops Control Point (0x2AAC)"

E = TypeVar("E", bound=IntEnum)


def e2e_crc(data: bytes) -> int:
    """The CGMS E2E-CRC: CRC-CCITT (x¹⁶ + x¹² + x⁵ + 1), seed 0xFFFF, bits taken LSB first
    (the CRC-16/MCRF4XX parameters; check value 0x6F91 for b"123456789").

    Checked against Nordic's Android-BLE-Common-Library test vectors
    (``ContinuousGlucoseMeasurementDataCallbackTest``: 0x3F8E and 0x6F59).
    """
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def known(enum: type[E], raw: int) -> E | int:
    """The enum member, or the raw number for a value the spec reserves (kept, not refused)."""
    try:
        return enum(raw)
    except ValueError:
        return raw


def check_crc(name: str, body: bytes, sent: int) -> None:
    computed = e2e_crc(body)
    if computed != sent:
        raise ProfileError(
            f"{name}: E2E-CRC mismatch (sent 0x{sent:04x}, computed 0x{computed:04x})"
        )


# --- Sensor status annunciation (CGMS 1.0.1): three octets, 24 bits -------------------

STATUS_OCTET: Final = FlagTable.bits(
    "status octet",
    [
        (0, "session_stopped"),
        (1, "device_battery_low"),
        (2, "sensor_type_incorrect"),
        (3, "sensor_malfunction"),
        (4, "device_specific_alert"),
        (5, "general_device_fault"),
    ],
)
CAL_TEMP_OCTET: Final = FlagTable.bits(
    "cal/temp octet",
    [
        (0, "time_sync_required"),
        (1, "calibration_not_allowed"),
        (2, "calibration_recommended"),
        (3, "calibration_required"),
        (4, "sensor_temperature_too_high"),
        (5, "sensor_temperature_too_low"),
        (6, "calibration_pending"),
    ],
)
WARNING_OCTET: Final = FlagTable.bits(
    "warning octet",
    [
        (0, "below_patient_low"),
        (1, "above_patient_high"),
        (2, "below_hypo_level"),
        (3, "above_hyper_level"),
        (4, "rate_of_decrease_exceeded"),
        (5, "rate_of_increase_exceeded"),
        (6, "below_device_range"),
        (7, "above_device_range"),
    ],
)
STATUS_KNOWN: Final = 0x3F
CAL_TEMP_KNOWN: Final = 0x7F

UNUSABLE_STATUS: Final = frozenset(
    {
        "session_stopped",
        "sensor_type_incorrect",
        "sensor_malfunction",
        "general_device_fault",
        "sensor_temperature_too_high",
        "sensor_temperature_too_low",
        "calibration_required",
    }
)
"""Annunciations that make the value itself unfit for alerts (a low battery, a calibration
merely recommended or a glucose warning do not)."""


def read_octet(table: FlagTable, cur: Cursor, known_bits: int = 0xFF) -> tuple[str, ...]:
    """One annunciation octet; its reserved bits are ignored."""
    return table.decode(cur.u8(table.what) & known_bits)


# --- Type and sample location (CGMS 1.0.1: the Glucose Service's table plus tissue) --


class CgmType(IntEnum):
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


class CgmSampleLocation(IntEnum):
    FINGER = 1
    ALTERNATE_SITE_TEST = 2
    EARLOBE = 3
    CONTROL_SOLUTION = 4
    SUBCUTANEOUS_TISSUE = 5
    NOT_AVAILABLE = 15


# --- 0x2AA7 CGM Measurement --------------------------------------------------------------

FLAG_TREND: Final = 0x01
FLAG_QUALITY: Final = 0x02
FLAG_WARNING: Final = 0x20
FLAG_CAL_TEMP: Final = 0x40
FLAG_STATUS: Final = 0x80
MIN_RECORD: Final = 6
"""Size, flags, glucose and time offset: the shortest record."""


@dataclass(frozen=True, slots=True)
class CgmRecord:
    """One CGM measurement record; ``glucose`` in mg/dL (None: the sensor sent no value).

    The three annunciation octets are None when absent (flag clear), a tuple of names when
    sent; ``crc`` says whether the record carried a (valid) E2E-CRC.
    """

    glucose: float | None
    time_offset_min: int
    status: tuple[str, ...] | None = None
    cal_temp: tuple[str, ...] | None = None
    warning: tuple[str, ...] | None = None
    trend: float | None = None
    """Rate of change, mg/dL/min."""
    quality: float | None = None
    """The sensor's confidence, %."""
    crc: bool = False

    @property
    def annunciations(self) -> tuple[str, ...]:
        return (*(self.status or ()), *(self.cal_temp or ()), *(self.warning or ()))

    @property
    def usable(self) -> bool:
        return not UNUSABLE_STATUS.intersection(self.annunciations)

    @property
    def timestamp(self) -> None:
        """A record carries only minutes since session start (see ``CgmSessionStartTime``)."""
        return None

    @property
    def flags(self) -> tuple[str, ...]:
        """The annunciations, and the trend as ``trend_mg_dl_min:<rate>`` (the wire reading
        has no field of its own for it)."""
        if self.trend is None:
            return self.annunciations
        return (*self.annunciations, f"trend_mg_dl_min:{self.trend:g}")

    def readings(self) -> list[ProfileReading]:
        if self.glucose is None:
            return []
        return [
            ProfileReading(Metric.BLOOD_GLUCOSE, self.glucose, "mg/dL", self.flags, self.usable)
        ]


@dataclass(frozen=True, slots=True)
class CgmMeasurement:
    """One 0x2AA7 notification: the records it carries, in the order sent."""

    records: tuple[CgmRecord, ...]

    @property
    def timestamp(self) -> None:
        return None

    def readings(self) -> list[ProfileReading]:
        return [r for record in self.records for r in record.readings()]


def _record_size(flags: int) -> int:
    size = MIN_RECORD
    for bit, extra in ((FLAG_STATUS, 1), (FLAG_CAL_TEMP, 1), (FLAG_WARNING, 1)):
        size += extra if flags & bit else 0
    return size + (2 if flags & FLAG_TREND else 0) + (2 if flags & FLAG_QUALITY else 0)


def _decode_record(data: bytes, number: int) -> CgmRecord:
    """One record; ``data`` is exactly its ``size`` bytes."""
    name = f"{MEASUREMENT_NAME} record {number}"
    flags = data[1]
    expected = _record_size(flags)
    if len(data) not in (expected, expected + 2):
        raise ProfileError(
            f"{name}: size field {len(data)} inconsistent with flags 0x{flags:02x} "
            f"(expects {expected}, or {expected + 2} with E2E-CRC)"
        )
    crc = len(data) == expected + 2
    if crc:
        check_crc(name, data[:expected], int.from_bytes(data[expected:], "little"))
    cur = Cursor(name, data[:expected])
    cur.u8("size")
    cur.u8("flags")
    glucose = cur.sfloat("glucose concentration")
    offset = cur.u16("time offset")
    status = read_octet(STATUS_OCTET, cur, STATUS_KNOWN) if flags & FLAG_STATUS else None
    cal_temp = read_octet(CAL_TEMP_OCTET, cur, CAL_TEMP_KNOWN) if flags & FLAG_CAL_TEMP else None
    warning = read_octet(WARNING_OCTET, cur) if flags & FLAG_WARNING else None
    trend = cur.sfloat("trend") if flags & FLAG_TREND else None
    quality = cur.sfloat("quality") if flags & FLAG_QUALITY else None
    cur.done()
    return CgmRecord(glucose, offset, status, cal_temp, warning, trend, quality, crc)


def decode_cgm_measurement(data: bytes) -> CgmMeasurement:
    """Every record of a notification; ProfileError if any one is malformed."""
    data = bytes(data)
    if not data:
        raise ProfileError(f"{MEASUREMENT_NAME}: empty value")
    records: list[CgmRecord] = []
    pos = 0
    while pos < len(data):
        size = data[pos]
        number = len(records) + 1
        if size < MIN_RECORD:
            raise ProfileError(
                f"{MEASUREMENT_NAME} record {number}: size field {size} is below the "
                f"minimum {MIN_RECORD}"
            )
        if pos + size > len(data):
            raise ProfileError(
                f"{MEASUREMENT_NAME} record {number}: truncated: size field {size} runs past "
                f"the end of the value ({len(data) - pos} byte(s) left)"
            )
        records.append(_decode_record(data[pos : pos + size], number))
        pos += size
    return CgmMeasurement(tuple(records))
