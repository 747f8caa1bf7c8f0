"""Encoders for the spot-check vitals: blood pressure, temperature, pulse oximetry."""

from __future__ import annotations

from firmware_sim.encoders.numbers import date_time, float32, sfloat, u8, u16, u24
from gateway.ble.profiles import blood_pressure as bp
from gateway.ble.profiles import plx
from gateway.ble.profiles.base import DateTime
from gateway.ble.profiles.blood_pressure import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    IntermediateCuffPressure,
)
from gateway.ble.profiles.plx import PlxContinuous, PlxFeatures, PlxSpotCheck, SpO2PR
from gateway.ble.profiles.temperature import TemperatureMeasurement, TemperatureTypeValue


def _bp_tail(
    kpa: bool,
    stamp: DateTime | None,
    pulse: float | None,
    user: int | None,
    status: tuple[str, ...] | None,
) -> tuple[int, bytes]:
    flags = 0x01 if kpa else 0
    tail = b""
    if stamp is not None:
        flags |= 0x02
        tail += date_time(stamp)
    if pulse is not None:
        flags |= 0x04
        tail += sfloat(pulse)
    if user is not None:
        flags |= 0x08
        tail += u8(user)
    if status is not None:
        flags |= 0x10
        tail += u16(bp.MEASUREMENT_STATUS.encode(status))
    return flags, tail


def encode_blood_pressure(m: BloodPressureMeasurement) -> bytes:
    """0x2A35; flags follow from which optional fields are present."""
    flags, tail = _bp_tail(m.kpa, m.time_stamp, m.pulse_rate, m.user_id, m.status)
    values = sfloat(m.systolic) + sfloat(m.diastolic) + sfloat(m.mean_arterial_pressure)
    return u8(flags) + values + tail


def encode_intermediate_cuff_pressure(m: IntermediateCuffPressure) -> bytes:
    """0x2A36: the cuff pressure in the systolic field, diastolic and MAP unused (NaN)."""
    flags, tail = _bp_tail(m.kpa, m.time_stamp, m.pulse_rate, m.user_id, m.status)
    return u8(flags) + sfloat(m.cuff_pressure) + sfloat(None) + sfloat(None) + tail


def encode_blood_pressure_feature(m: BloodPressureFeature) -> bytes:
    return u16(bp.FEATURES.encode(m.features))


def encode_temperature(m: TemperatureMeasurement) -> bytes:
    """0x2A1C or 0x2A1E (the same layout)."""
    flags = 0x01 if m.fahrenheit else 0
    tail = b""
    if m.time_stamp is not None:
        flags |= 0x02
        tail += date_time(m.time_stamp)
    if m.temperature_type is not None:
        flags |= 0x04
        tail += u8(m.temperature_type)
    return u8(flags) + float32(m.temperature) + tail


def encode_temperature_type(m: TemperatureTypeValue) -> bytes:
    return u8(m.temperature_type)


def _pair(pair: SpO2PR) -> bytes:
    return sfloat(pair.spo2) + sfloat(pair.pulse_rate)


def _plx_status(
    status: tuple[str, ...] | None, device: tuple[str, ...] | None, pai: float | None
) -> list[bytes | None]:
    return [
        None if status is None else u16(plx.MEASUREMENT_STATUS.encode(status)),
        None if device is None else u24(plx.DEVICE_SENSOR_STATUS.encode(device)),
        None if pai is None else sfloat(pai),
    ]


def _optional(flags: int, parts: list[bytes | None]) -> tuple[int, bytes]:
    """Set flag bit ``i`` for each present part ``i`` (in order) and join them."""
    body = b""
    for bit, part in enumerate(parts):
        if part is not None:
            flags |= 1 << bit
            body += part
    return flags, body


def encode_plx_spot_check(m: PlxSpotCheck) -> bytes:
    stamp = None if m.time_stamp is None else date_time(m.time_stamp)
    parts = [
        stamp,
        *_plx_status(m.measurement_status, m.device_sensor_status, m.pulse_amplitude_index),
    ]
    flags, body = _optional(0x10 if m.clock_not_set else 0, parts)
    return u8(flags) + _pair(SpO2PR(m.spo2, m.pulse_rate)) + body


def encode_plx_continuous(m: PlxContinuous) -> bytes:
    fast = None if m.fast is None else _pair(m.fast)
    slow = None if m.slow is None else _pair(m.slow)
    parts = [
        fast,
        slow,
        *_plx_status(m.measurement_status, m.device_sensor_status, m.pulse_amplitude_index),
    ]
    flags, body = _optional(0, parts)
    return u8(flags) + _pair(m.normal) + body


def encode_plx_features(m: PlxFeatures) -> bytes:
    features = set(m.features)
    if m.measurement_status_support is not None:
        features.add("measurement_status")
    if m.device_sensor_status_support is not None:
        features.add("device_and_sensor_status")
    out = u16(plx.SUPPORTED_FEATURES.encode(features))
    if "measurement_status" in features:
        out += u16(plx.MEASUREMENT_STATUS.encode(m.measurement_status_support or ()))
    if "device_and_sensor_status" in features:
        out += u24(plx.DEVICE_SENSOR_STATUS.encode(m.device_sensor_status_support or ()))
    return out
