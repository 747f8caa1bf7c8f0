"""The CGM session characteristics (CGMS 1.0.1): CGM Feature 0x2AA8, CGM Status
0x2AA9, CGM Session Start Time 0x2AAA and CGM Session Run Time 0x2AAB (layouts in
``gateway.ble.profiles.cgm``). Reserved bits are ignored, reserved codes kept as numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Final

from gateway.ble.profiles.base import Cursor, DateTime, FlagTable, ProfileError, ProfileReading
from gateway.ble.profiles.cgm import (
    CAL_TEMP_KNOWN,
    CAL_TEMP_OCTET,
    FEATURE_NAME,
    RUN_TIME_NAME,
    START_TIME_NAME,
    STATUS_KNOWN,
    STATUS_NAME,
    STATUS_OCTET,
    WARNING_OCTET,
    CgmSampleLocation,
    CgmType,
    check_crc,
    known,
    read_octet,
)

# --- 0x2AA8 CGM Feature ------------------------------------------------------------------

FEATURES: Final = FlagTable.bits(
    "CGM feature",
    [
        (0, "calibration"),
        (1, "patient_high_low_alerts"),
        (2, "hypo_alerts"),
        (3, "hyper_alerts"),
        (4, "rate_alerts"),
        (5, "device_specific_alert"),
        (6, "sensor_malfunction_detection"),
        (7, "sensor_temperature_detection"),
        (8, "sensor_result_detection"),
        (9, "low_battery_detection"),
        (10, "sensor_type_error_detection"),
        (11, "general_device_fault"),
        (12, "e2e_crc"),
        (13, "multiple_bond"),
        (14, "multiple_sessions"),
        (15, "trend_information"),
        (16, "quality"),
    ],
)
_FEATURES_KNOWN: Final = (1 << 17) - 1
NO_CRC: Final = 0xFFFF
"""The E2E-CRC field of a sensor that does not support E2E-CRC."""


@dataclass(frozen=True, slots=True)
class CgmFeature:
    features: tuple[str, ...]
    cgm_type: CgmType | int
    sample_location: CgmSampleLocation | int

    @property
    def e2e_crc(self) -> bool:
        return "e2e_crc" in self.features

    def readings(self) -> list[ProfileReading]:
        return []


def decode_cgm_feature(data: bytes) -> CgmFeature:
    cur = Cursor(FEATURE_NAME, data)
    features = FEATURES.decode(cur.u24("features") & _FEATURES_KNOWN)
    packed = cur.u8("type-sample location")
    crc = cur.u16("E2E-CRC")
    cur.done()
    if "e2e_crc" in features:
        check_crc(FEATURE_NAME, bytes(data[:4]), crc)
    return CgmFeature(
        features, known(CgmType, packed & 0x0F), known(CgmSampleLocation, packed >> 4)
    )


def _crc_tail(cur: Cursor, body_size: int, data: bytes) -> bool:
    """An optional trailing E2E-CRC after ``body_size`` bytes: True when present (and valid)."""
    if cur.remaining() == 0:
        return False
    sent = cur.u16("E2E-CRC")
    cur.done()
    check_crc(cur.name, bytes(data[:body_size]), sent)
    return True


# --- 0x2AA9 CGM Status -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CgmStatus:
    time_offset_min: int
    status: tuple[str, ...] = ()
    cal_temp: tuple[str, ...] = ()
    warning: tuple[str, ...] = ()
    crc: bool = False

    @property
    def annunciations(self) -> tuple[str, ...]:
        return (*self.status, *self.cal_temp, *self.warning)

    def readings(self) -> list[ProfileReading]:
        return []


def decode_cgm_status(data: bytes) -> CgmStatus:
    cur = Cursor(STATUS_NAME, data)
    offset = cur.u16("time offset")
    status = read_octet(STATUS_OCTET, cur, STATUS_KNOWN)
    cal_temp = read_octet(CAL_TEMP_OCTET, cur, CAL_TEMP_KNOWN)
    warning = read_octet(WARNING_OCTET, cur)
    crc = _crc_tail(cur, 5, data)
    return CgmStatus(offset, status, cal_temp, warning, crc)


# --- 0x2AAA CGM Session Start Time -------------------------------------------------------


class DstOffset(IntEnum):
    """Minutes added for daylight saving time (GATT Specification Supplement, DST Offset: 0/2/4/8)."""

    STANDARD = 0
    HALF_HOUR = 2
    DAYLIGHT = 4
    DOUBLE = 8


DST_MINUTES: Final = {
    DstOffset.STANDARD: 0,
    DstOffset.HALF_HOUR: 30,
    DstOffset.DAYLIGHT: 60,
    DstOffset.DOUBLE: 120,
}
TIME_ZONE_UNKNOWN: Final = -128
DST_UNKNOWN: Final = 255


@dataclass(frozen=True, slots=True)
class CgmSessionStartTime:
    """When the session started, on the sensor's clock; ``time_zone`` in 15-minute steps
    from UTC and ``dst`` as coded (None: unknown, read as UTC as VitalGate sets clocks)."""

    start: DateTime
    time_zone: int | None = 0
    dst: DstOffset | int | None = DstOffset.STANDARD
    crc: bool = False

    @property
    def timestamp(self) -> datetime | None:
        """The start in UTC (local time less time zone and DST), None when not yet set."""
        local = self.start.to_datetime()
        if local is None:
            return None
        shift = (self.time_zone or 0) * 15
        if isinstance(self.dst, DstOffset):
            shift += DST_MINUTES[self.dst]
        return local - timedelta(minutes=shift)

    def readings(self) -> list[ProfileReading]:
        return []


def decode_cgm_session_start_time(data: bytes) -> CgmSessionStartTime:
    cur = Cursor(START_TIME_NAME, data)
    start = cur.date_time("session start time")
    zone_raw = cur.u8("time zone")
    zone = zone_raw - 256 if zone_raw & 0x80 else zone_raw
    dst_raw = cur.u8("DST offset")
    crc = _crc_tail(cur, 9, data)
    if start.year in (1582, 9999) and start.known:
        # the time zone shift must not carry a date past the calendar's ends
        try:
            CgmSessionStartTime(start, zone, known(DstOffset, dst_raw)).timestamp  # noqa: B018
        except OverflowError:
            raise ProfileError(f"{START_TIME_NAME}: start outside the calendar") from None
    return CgmSessionStartTime(
        start,
        None if zone == TIME_ZONE_UNKNOWN else zone,
        None if dst_raw == DST_UNKNOWN else known(DstOffset, dst_raw),
        crc,
    )


# --- 0x2AAB CGM Session Run Time ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CgmSessionRunTime:
    hours: int
    """How long the sensor is expected to run from session start."""
    crc: bool = False

    def readings(self) -> list[ProfileReading]:
        return []


def decode_cgm_session_run_time(data: bytes) -> CgmSessionRunTime:
    cur = Cursor(RUN_TIME_NAME, data)
    hours = cur.u16("session run time")
    return CgmSessionRunTime(hours, _crc_tail(cur, 2, data))
