"""Pulse Oximeter Service (0x1822): PLX Spot-Check Measurement 0x2A5E, PLX Continuous
Measurement 0x2A5F, PLX Features 0x2A60.

Layouts (Pulse Oximeter Service 1.0.1, §3.1–3.3; GATT Specification Supplement §3.163–3.165):
0x2A5E: flags u8 | SpO2 SFLOAT | PR SFLOAT | time stamp? | measurement status u16? |
        device and sensor status u24? | pulse amplitude index SFLOAT?
        flags bit 0 time stamp, 1 measurement status, 2 device/sensor status, 3 PAI,
        4 device clock not set; 5–7 reserved.
0x2A5F: flags u8 | SpO2PR-Normal (2 SFLOAT) | SpO2PR-Fast? | SpO2PR-Slow? |
        measurement status u16? | device and sensor status u24? | PAI SFLOAT?
        flags bit 0 fast, 1 slow, 2 measurement status, 3 device/sensor status, 4 PAI; 5–7 reserved.
0x2A60: supported features u16 | measurement status support u16? | device/sensor support u24?
Reserved bits (flags, status words, features) are ignored on receipt; when a reserved flag
or feature bit is set, bytes after the defined fields belong to a field this version does
not know and are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Final

from gateway.ble.profiles.base import (
    Cursor,
    DateTime,
    FlagTable,
    ProfileReading,
    Timed,
)
from gateway.wire import Metric

SPOT_NAME = "PLX Spot-Check Measurement (0x2A5E)"
CONTINUOUS_NAME = "PLX Continuous Measurement (0x2A5F)"
FEATURES_NAME = "PLX Features (0x2A60)"

MEASUREMENT_STATUS: Final = FlagTable.bits(
    "measurement status",
    [
        (5, "measurement_ongoing"),
        (6, "early_estimated_data"),
        (7, "validated_data"),
        (8, "fully_qualified_data"),
        (9, "data_from_storage"),
        (10, "data_for_demonstration"),
        (11, "data_for_testing"),
        (12, "calibration_ongoing"),
        (13, "measurement_unavailable"),
        (14, "questionable_measurement"),
        (15, "invalid_measurement"),
    ],
)
"""PLXS §3.1.1.4; bits 0–4 reserved (ignored)."""

DEVICE_SENSOR_STATUS: Final = FlagTable.bits(
    "device and sensor status",
    [
        (0, "extended_display_update_ongoing"),
        (1, "equipment_malfunction"),
        (2, "signal_processing_irregularity"),
        (3, "inadequate_signal"),
        (4, "poor_signal"),
        (5, "low_perfusion"),
        (6, "erratic_signal"),
        (7, "nonpulsatile_signal"),
        (8, "questionable_pulse"),
        (9, "signal_analysis_ongoing"),
        (10, "sensor_interference"),
        (11, "sensor_unconnected_to_user"),
        (12, "unknown_sensor_connected"),
        (13, "sensor_displaced"),
        (14, "sensor_malfunctioning"),
        (15, "sensor_disconnected"),
    ],
)
"""PLXS §3.1.1.5; bits 16–23 reserved (ignored)."""

SUPPORTED_FEATURES: Final = FlagTable.bits(
    "supported features",
    [
        (0, "measurement_status"),
        (1, "device_and_sensor_status"),
        (2, "spot_check_storage"),
        (3, "spot_check_time_stamp"),
        (4, "spo2pr_fast"),
        (5, "spo2pr_slow"),
        (6, "pulse_amplitude_index"),
        (7, "multiple_bonds"),
    ],
)
"""PLXS §3.3.1.1; bits 8–15 reserved (ignored)."""

UNUSABLE: Final = frozenset(
    {
        "measurement_unavailable",
        "questionable_measurement",
        "invalid_measurement",
        "calibration_ongoing",
        "equipment_malfunction",
        "sensor_unconnected_to_user",
        "sensor_displaced",
        "sensor_malfunctioning",
        "sensor_disconnected",
    }
)
"""Status words under which an SpO2 value must not drive an alert."""

_SPOT_RESERVED = 0xE0
_CONT_RESERVED = 0xE0


@dataclass(frozen=True, slots=True)
class SpO2PR:
    """An (SpO2 %, pulse rate /min) pair; None = no value (IEEE 11073 special)."""

    spo2: float | None
    pulse_rate: float | None


def _pair(cur: Cursor, what: str) -> SpO2PR:
    return SpO2PR(cur.sfloat(f"{what} SpO2"), cur.sfloat(f"{what} pulse rate"))


def _readings(
    pair: SpO2PR, status: tuple[str, ...] | None, device: tuple[str, ...] | None
) -> list[ProfileReading]:
    flags = (status or ()) + (device or ())
    usable = not UNUSABLE.intersection(flags)
    out = []
    if pair.spo2 is not None:
        out.append(ProfileReading(Metric.SPO2, pair.spo2, "%", flags, usable))
    if pair.pulse_rate is not None:
        out.append(ProfileReading(Metric.PULSE_RATE, pair.pulse_rate, "/min", flags, usable))
    return out


@dataclass(frozen=True, slots=True)
class PlxSpotCheck(Timed):
    spo2: float | None
    pulse_rate: float | None
    time_stamp: DateTime | None = None
    measurement_status: tuple[str, ...] | None = None
    device_sensor_status: tuple[str, ...] | None = None
    pulse_amplitude_index: float | None = None
    """Percent; None when absent or a special value."""
    clock_not_set: bool = False
    """The oximeter says its clock was never set: its time stamp means nothing."""

    def timestamp_in(self, tz: tzinfo) -> datetime | None:
        return None if self.clock_not_set else Timed.timestamp_in(self, tz)

    def readings(self) -> list[ProfileReading]:
        pair = SpO2PR(self.spo2, self.pulse_rate)
        return _readings(pair, self.measurement_status, self.device_sensor_status)


def decode_plx_spot_check(data: bytes) -> PlxSpotCheck:
    cur = Cursor(SPOT_NAME, data)
    flags = cur.u8("flags")
    pair = _pair(cur, "spot-check")
    stamp = cur.date_time("time stamp") if flags & 0x01 else None
    status = cur.flags(MEASUREMENT_STATUS, size=2) if flags & 0x02 else None
    device = cur.flags(DEVICE_SENSOR_STATUS, size=3) if flags & 0x04 else None
    pai = cur.sfloat("pulse amplitude index") if flags & 0x08 else None
    cur.done(future_fields=bool(flags & _SPOT_RESERVED))
    return PlxSpotCheck(
        pair.spo2, pair.pulse_rate, stamp, status, device, pai, clock_not_set=bool(flags & 0x10)
    )


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    normal: SpO2PR
    fast: SpO2PR | None = None
    slow: SpO2PR | None = None
    measurement_status: tuple[str, ...] | None = None
    device_sensor_status: tuple[str, ...] | None = None
    pulse_amplitude_index: float | None = None

    @property
    def timestamp(self) -> None:
        """Continuous measurements carry no time stamp; the gateway stamps arrival."""
        return None

    def readings(self) -> list[ProfileReading]:
        return _readings(self.normal, self.measurement_status, self.device_sensor_status)


def decode_plx_continuous(data: bytes) -> PlxContinuous:
    cur = Cursor(CONTINUOUS_NAME, data)
    flags = cur.u8("flags")
    normal = _pair(cur, "normal")
    fast = _pair(cur, "fast") if flags & 0x01 else None
    slow = _pair(cur, "slow") if flags & 0x02 else None
    status = cur.flags(MEASUREMENT_STATUS, size=2) if flags & 0x04 else None
    device = cur.flags(DEVICE_SENSOR_STATUS, size=3) if flags & 0x08 else None
    pai = cur.sfloat("pulse amplitude index") if flags & 0x10 else None
    cur.done(future_fields=bool(flags & _CONT_RESERVED))
    return PlxContinuous(normal, fast, slow, status, device, pai)


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    features: tuple[str, ...]
    measurement_status_support: tuple[str, ...] | None = None
    device_sensor_status_support: tuple[str, ...] | None = None

    def readings(self) -> list[ProfileReading]:
        return []


def decode_plx_features(data: bytes) -> PlxFeatures:
    cur = Cursor(FEATURES_NAME, data)
    word = cur.uint(2, "supported features")
    features = SUPPORTED_FEATURES.decode(word)
    status = None
    device = None
    if "measurement_status" in features:
        status = cur.flags(MEASUREMENT_STATUS, size=2)
    if "device_and_sensor_status" in features:
        device = cur.flags(DEVICE_SENSOR_STATUS, size=3)
    cur.done(future_fields=bool(SUPPORTED_FEATURES.reserved(word)))
    return PlxFeatures(features, status, device)
