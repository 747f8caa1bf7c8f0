"""Encoders for scales, glucose meters (records, context, RACP) and device characteristics."""

from __future__ import annotations

from firmware_sim.encoders.numbers import date_time, s16, scaled, sfloat, u8, u16, u32
from gateway.ble.profiles import body_composition as bc
from gateway.ble.profiles import glucose as gl
from gateway.ble.profiles import weight as ws
from gateway.ble.profiles.base import DateTime
from gateway.ble.profiles.body_composition import BodyCompositionMeasurement
from gateway.ble.profiles.device import (
    BatteryLevel,
    CurrentTime,
    DateTimeValue,
    DeviceString,
    encode_current_time,
)
from gateway.ble.profiles.glucose import GlucoseContext, GlucoseMeasurement
from gateway.ble.profiles.racp import OpCode, RacpNumberOfRecords, RacpResponseCode
from gateway.ble.profiles.weight import WeightMeasurement, WeightScaleFeature


def _mass(value: float | None, imperial: bool) -> bytes:
    if value is None:
        return u16(ws.UNSUCCESSFUL)
    return scaled(value, ws.MASS_DIVISOR[imperial])


def encode_weight(m: WeightMeasurement) -> bytes:
    """0x2A9D; ``bmi`` and ``height`` travel together (flag bit 3)."""
    flags = 0x01 if m.imperial else 0
    body = _mass(m.weight, m.imperial)
    if m.time_stamp is not None:
        flags |= 0x02
        body += date_time(m.time_stamp)
    if m.user_id is not None:
        flags |= 0x04
        body += u8(m.user_id)
    if (m.bmi is None) != (m.height is None):
        raise ValueError("BMI and height are sent together or not at all")
    if m.bmi is not None and m.height is not None:
        flags |= 0x08
        body += scaled(m.bmi, ws.BMI_DIVISOR) + scaled(m.height, ws.HEIGHT_DIVISOR[m.imperial])
    return u8(flags) + body


def _code(table: dict[int, float], value: float | None) -> int:
    return next(code for code, res in table.items() if res == value) if value else 0


def encode_weight_scale_feature(m: WeightScaleFeature) -> bytes:
    value = int(m.time_stamp) | int(m.multiple_users) << 1 | int(m.bmi) << 2
    value |= _code(ws.WEIGHT_RESOLUTIONS, m.weight_resolution_kg) << 3
    value |= _code(ws.HEIGHT_RESOLUTIONS, m.height_resolution_m) << 7
    return u32(value)


def _bc_field(kind: str, value: object, imperial: bool) -> bytes:
    if kind == "date_time":
        assert isinstance(value, DateTime)
        return date_time(value)
    assert isinstance(value, int | float)
    if kind == "u8":
        return u8(int(value))
    if kind == "u16":
        return u16(int(value))
    if kind == "mass":
        return scaled(value, ws.MASS_DIVISOR[imperial])
    if kind == "height":
        return scaled(value, ws.HEIGHT_DIVISOR[imperial])
    return scaled(value, 10)


def encode_body_composition(m: BodyCompositionMeasurement) -> bytes:
    """0x2A9C, driven by the decoder's ``FIELDS`` table (flag bit, field, kind)."""
    flags = (bc.FLAG_IMPERIAL if m.imperial else 0) | (
        bc.FLAG_MULTIPLE_PACKET if m.multiple_packet else 0
    )
    body = u16(ws.UNSUCCESSFUL) if m.body_fat_percent is None else scaled(m.body_fat_percent, 10)
    for bit, field, kind in bc.FIELDS:
        value = getattr(m, field)
        if value is not None:
            flags |= bit
            body += _bc_field(kind, value, m.imperial)
    return u16(flags) + body


def encode_glucose(m: GlucoseMeasurement) -> bytes:
    """0x2A18; concentration, type and location travel together (flag bit 1)."""
    flags = (0x04 if m.mol_per_l else 0) | (0x10 if m.context_follows else 0)
    body = u16(m.sequence_number) + date_time(m.base_time)
    if m.time_offset_min is not None:
        flags |= 0x01
        body += s16(m.time_offset_min)
    if m.glucose_type is not None or m.sample_location is not None:
        if m.glucose_type is None or m.sample_location is None:
            raise ValueError("glucose type and sample location are sent together")
        flags |= 0x02
        body += sfloat(m.concentration) + u8(m.sample_location << 4 | m.glucose_type)
    elif m.concentration is not None:
        raise ValueError("a concentration needs a glucose type and sample location")
    if m.sensor_status is not None:
        flags |= 0x08
        body += u16(gl.SENSOR_STATUS.encode(m.sensor_status))
    return u8(flags) + body


def encode_glucose_context(m: GlucoseContext) -> bytes:
    """0x2A34 (without extended flags, which are all reserved)."""
    flags = 0x20 if m.medication_in_litres else 0
    body = b""
    if m.carbohydrate is not None:
        flags |= 0x01
        body += u8(m.carbohydrate[0]) + sfloat(m.carbohydrate[1])
    if m.meal is not None:
        flags |= 0x02
        body += u8(m.meal)
    if m.tester is not None or m.health is not None:
        if m.tester is None or m.health is None:
            raise ValueError("tester and health are sent together")
        flags |= 0x04
        body += u8(m.health << 4 | m.tester)
    if m.exercise_duration_s is not None or m.exercise_intensity_percent is not None:
        flags |= 0x08
        body += u16(m.exercise_duration_s or 0) + u8(m.exercise_intensity_percent or 0)
    if m.medication is not None:
        flags |= 0x10
        body += u8(m.medication[0]) + sfloat(m.medication[1])
    if m.hba1c_percent is not None:
        flags |= 0x40
        body += sfloat(m.hba1c_percent)
    return u8(flags) + u16(m.sequence_number) + body


def encode_racp_response(m: RacpNumberOfRecords | RacpResponseCode) -> bytes:
    """What a meter indicates on 0x2A52."""
    if isinstance(m, RacpNumberOfRecords):
        return bytes([OpCode.NUMBER_OF_RECORDS_RESPONSE, 0]) + u16(m.count)
    return bytes([OpCode.RESPONSE_CODE, 0, m.request_op_code, m.response])


def encode_date_time_value(m: DateTimeValue) -> bytes:
    return date_time(m.time_stamp)


def encode_current_time_value(m: CurrentTime) -> bytes:
    return encode_current_time(m)


def encode_battery_level(m: BatteryLevel) -> bytes:
    return u8(m.percent)


def encode_device_string(m: DeviceString) -> bytes:
    return m.text.encode()
