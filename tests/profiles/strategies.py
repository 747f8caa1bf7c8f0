"""Hypothesis strategies: one per characteristic, producing values a device can send.

Medical floats are drawn as (mantissa, exponent) pairs and converted the way the decoder
does, so every value is exactly representable; flag words are drawn as raw words and named
through the decoders' tables, so they respect multi-bit fields.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from hypothesis import strategies as st

from gateway.ble.profiles import (
    BatteryLevel,
    BloodPressureFeature,
    BloodPressureMeasurement,
    BodyCompositionMeasurement,
    BodySensorLocation,
    CurrentTime,
    DateTime,
    DateTimeValue,
    DeviceString,
    GlucoseContext,
    GlucoseMeasurement,
    HeartRateMeasurement,
    IntermediateCuffPressure,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
    RacpNumberOfRecords,
    RacpRequest,
    RacpResponseCode,
    SpO2PR,
    TemperatureMeasurement,
    TemperatureTypeValue,
    WeightMeasurement,
    WeightScaleFeature,
    plx,
)
from gateway.ble.profiles import blood_pressure as bp
from gateway.ble.profiles import glucose as gl
from gateway.ble.profiles import weight as ws
from gateway.ble.profiles.base import FlagTable
from gateway.ble.profiles.device import ADJUST_REASON
from gateway.ble.profiles.heart_rate import SensorLocation
from gateway.ble.profiles.ieee11073 import (
    FLOAT_SPECIALS,
    SFLOAT_SPECIALS,
    float_value,
    sfloat_value,
)
from gateway.ble.profiles.racp import OpCode, Operator, ResponseCode
from gateway.ble.profiles.temperature import TemperatureType
from tests.profiles.strategies_cgm import CGM_STRATEGIES

SFLOATS = st.integers(0, 0xFFFF).filter(lambda raw: raw not in SFLOAT_SPECIALS).map(sfloat_value)
FLOATS = st.integers(0, 0xFFFFFFFF).filter(lambda raw: raw not in FLOAT_SPECIALS).map(float_value)
MAYBE_SFLOAT = st.none() | SFLOATS
U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)


def flags(table: FlagTable, *, optional: bool = True) -> st.SearchStrategy[Any]:
    """Flag-name tuples of ``table``: what a word of its names decodes to (two values of one
    multi-bit field make a reserved value, which decodes to no name)."""
    names = st.lists(st.sampled_from(table.names), unique=True).map(table.encode).map(table.decode)
    return st.none() | names if optional else names


def codes(enum: type[IntEnum], *, bits: int = 8) -> st.SearchStrategy[int]:
    """A code of ``enum``: a defined member, or a reserved number (decoded as "unknown")."""
    return st.sampled_from(list(enum)) | st.integers(0, (1 << bits) - 1)


@st.composite
def date_times(draw: st.DrawFn) -> DateTime:
    known = draw(st.booleans())
    year = draw(st.integers(1582, 9999)) if known else draw(st.sampled_from([0, 2026]))
    month = draw(st.integers(1, 12)) if known else draw(st.integers(0, 12))
    day = draw(st.integers(1, 28)) if known else draw(st.integers(0, 28))
    return DateTime(
        year,
        month,
        day,
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(U8.map(lambda s: s % 60)),
    )


MAYBE_STAMP = st.none() | date_times()


@st.composite
def heart_rates(draw: st.DrawFn) -> HeartRateMeasurement:
    u16 = draw(st.booleans())
    return HeartRateMeasurement(
        heart_rate=draw(U16 if u16 else U8),
        sensor_contact=draw(st.none() | st.booleans()),
        energy_expended_kj=draw(st.none() | U16),
        rr_intervals=tuple(r / 1024 for r in draw(st.lists(U16, max_size=9))),
        uint16_format=u16,
    )


BP_STATUS = flags(bp.MEASUREMENT_STATUS)
BP_COMMON: dict[str, Any] = {
    "kpa": st.booleans(),
    "time_stamp": MAYBE_STAMP,
    "pulse_rate": MAYBE_SFLOAT,
    "user_id": st.none() | U8,
    "status": BP_STATUS,
}
PLX_STATUS = flags(plx.MEASUREMENT_STATUS)
PLX_DEVICE = flags(plx.DEVICE_SENSOR_STATUS)
PLX_STATUS_SUPPORT = flags(plx.MEASUREMENT_STATUS, optional=False)
PLX_DEVICE_SUPPORT = flags(plx.DEVICE_SENSOR_STATUS, optional=False)
PAIRS = st.builds(SpO2PR, MAYBE_SFLOAT, MAYBE_SFLOAT)


@st.composite
def plx_features(draw: st.DrawFn) -> PlxFeatures:
    names = draw(flags(plx.SUPPORTED_FEATURES, optional=False))
    status = PLX_STATUS_SUPPORT if "measurement_status" in names else st.none()
    device = PLX_DEVICE_SUPPORT if "device_and_sensor_status" in names else st.none()
    return PlxFeatures(names, draw(status), draw(device))


def _mass(imperial: bool) -> st.SearchStrategy[float | None]:
    return st.none() | st.integers(0, 0xFFFE).map(lambda r: r / ws.MASS_DIVISOR[imperial])


def _tenths() -> st.SearchStrategy[float]:
    return U16.map(lambda r: r / 10)


@st.composite
def weights(draw: st.DrawFn) -> WeightMeasurement:
    imperial = draw(st.booleans())
    with_bmi = draw(st.booleans())
    height = draw(U16) / ws.HEIGHT_DIVISOR[imperial] if with_bmi else None
    return WeightMeasurement(
        draw(_mass(imperial)),
        imperial,
        draw(MAYBE_STAMP),
        draw(st.none() | U8),
        draw(_tenths()) if with_bmi else None,
        height,
    )


@st.composite
def body_compositions(draw: st.DrawFn) -> BodyCompositionMeasurement:
    imperial = draw(st.booleans())
    fat = draw(st.none() | st.integers(0, 0xFFFE).map(lambda r: r / 10))
    base: dict[str, Any] = {
        "imperial": imperial,
        "time_stamp": draw(MAYBE_STAMP),
        "user_id": draw(st.none() | U8),
        "multiple_packet": draw(st.booleans()),
    }
    if fat is None:
        return BodyCompositionMeasurement(None, **base)
    mass = st.none() | st.integers(0, 0xFFFE).map(lambda r: r / ws.MASS_DIVISOR[imperial])
    return BodyCompositionMeasurement(
        fat,
        basal_metabolism_kj=draw(st.none() | U16),
        muscle_percent=draw(st.none() | _tenths()),
        muscle_mass=draw(mass),
        fat_free_mass=draw(mass),
        soft_lean_mass=draw(mass),
        body_water_mass=draw(mass),
        impedance_ohm=draw(st.none() | _tenths()),
        weight=draw(mass),
        height=draw(st.none() | U16.map(lambda r: r / ws.HEIGHT_DIVISOR[imperial])),
        **base,
    )


@st.composite
def glucose_measurements(draw: st.DrawFn) -> GlucoseMeasurement:
    with_value = draw(st.booleans())
    stamp = draw(date_times())
    if stamp.year == 9999:
        stamp = DateTime(9998, stamp.month, stamp.day, stamp.hours, stamp.minutes, stamp.seconds)
    return GlucoseMeasurement(
        draw(U16),
        stamp,
        draw(st.none() | st.integers(-0x8000, 0x7FFF)),
        draw(MAYBE_SFLOAT) if with_value else None,
        draw(st.booleans()),
        draw(codes(gl.GlucoseType, bits=4)) if with_value else None,
        draw(codes(gl.SampleLocation, bits=4)) if with_value else None,
        draw(flags(gl.SENSOR_STATUS)),
        draw(st.booleans()),
    )


@st.composite
def glucose_contexts(draw: st.DrawFn) -> GlucoseContext:
    tested = draw(st.booleans())
    exercised = draw(st.booleans())
    return GlucoseContext(
        draw(U16),
        draw(st.none() | st.tuples(codes(gl.CarbohydrateId), MAYBE_SFLOAT)),
        draw(st.none() | codes(gl.Meal)),
        draw(codes(gl.Tester, bits=4)) if tested else None,
        draw(codes(gl.Health, bits=4)) if tested else None,
        draw(U16) if exercised else None,
        draw(st.integers(0, 100)) if exercised else None,
        draw(st.none() | st.tuples(codes(gl.MedicationId), MAYBE_SFLOAT)),
        draw(st.booleans()),
        draw(MAYBE_SFLOAT),
    )


@st.composite
def racp_requests(draw: st.DrawFn) -> RacpRequest:
    op = draw(
        st.sampled_from(
            [
                OpCode.REPORT_STORED_RECORDS,
                OpCode.DELETE_STORED_RECORDS,
                OpCode.REPORT_NUMBER_OF_RECORDS,
                OpCode.ABORT_OPERATION,
            ]
        )
    )
    if op is OpCode.ABORT_OPERATION:
        return RacpRequest(op, Operator.NULL)
    operator = draw(st.sampled_from([o for o in Operator if o is not Operator.NULL]))
    count = {Operator.LESS_THAN_OR_EQUAL: 1, Operator.GREATER_THAN_OR_EQUAL: 1}.get(
        operator, 2 if operator is Operator.WITHIN_RANGE else 0
    )
    return RacpRequest(op, operator, tuple(draw(st.lists(U16, min_size=count, max_size=count))))


def _device_string(name: str) -> st.SearchStrategy[DeviceString]:
    text = st.text(max_size=20).filter(lambda t: not t.endswith("\x00"))
    return text.map(lambda t: DeviceString(name, t))


_DIS = {
    0x2A29: "Manufacturer Name String (0x2A29)",
    0x2A24: "Model Number String (0x2A24)",
    0x2A25: "Serial Number String (0x2A25)",
    0x2A27: "Hardware Revision String (0x2A27)",
    0x2A26: "Firmware Revision String (0x2A26)",
    0x2A28: "Software Revision String (0x2A28)",
}

STRATEGIES: dict[int, st.SearchStrategy[Any]] = {
    0x2A37: heart_rates(),
    0x2A38: st.builds(BodySensorLocation, codes(SensorLocation)),
    0x2A35: st.builds(
        BloodPressureMeasurement, MAYBE_SFLOAT, MAYBE_SFLOAT, MAYBE_SFLOAT, **BP_COMMON
    ),
    0x2A36: st.builds(IntermediateCuffPressure, MAYBE_SFLOAT, **BP_COMMON),
    0x2A49: st.builds(BloodPressureFeature, flags(bp.FEATURES, optional=False)),
    0x2A1C: st.builds(
        TemperatureMeasurement,
        st.none() | FLOATS,
        st.booleans(),
        MAYBE_STAMP,
        st.none() | codes(TemperatureType),
        st.just(False),
    ),
    0x2A1E: st.builds(
        TemperatureMeasurement,
        st.none() | FLOATS,
        st.booleans(),
        MAYBE_STAMP,
        st.none() | codes(TemperatureType),
        st.just(True),
    ),
    0x2A1D: st.builds(TemperatureTypeValue, codes(TemperatureType)),
    0x2A5E: st.builds(
        PlxSpotCheck,
        MAYBE_SFLOAT,
        MAYBE_SFLOAT,
        MAYBE_STAMP,
        PLX_STATUS,
        PLX_DEVICE,
        MAYBE_SFLOAT,
        st.booleans(),
    ),
    0x2A5F: st.builds(
        PlxContinuous,
        PAIRS,
        st.none() | PAIRS,
        st.none() | PAIRS,
        PLX_STATUS,
        PLX_DEVICE,
        MAYBE_SFLOAT,
    ),
    0x2A60: plx_features(),
    0x2A9D: weights(),
    0x2A9E: st.builds(
        WeightScaleFeature,
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.none() | st.sampled_from(sorted(ws.WEIGHT_RESOLUTIONS.values())),
        st.none() | st.sampled_from(sorted(ws.HEIGHT_RESOLUTIONS.values())),
    ),
    0x2A9C: body_compositions(),
    0x2A18: glucose_measurements(),
    0x2A34: glucose_contexts(),
    0x2A52: st.builds(RacpNumberOfRecords, U16)
    | st.builds(
        RacpResponseCode,
        st.sampled_from(OpCode) | st.integers(7, 255),
        codes(ResponseCode),
    ),
    0x2A08: st.builds(DateTimeValue, date_times()),
    0x2A2B: st.builds(
        CurrentTime,
        date_times(),
        st.integers(0, 7),
        U8,
        flags(ADJUST_REASON, optional=False),
    ),
    0x2A19: st.builds(BatteryLevel, st.integers(0, 100)),
    **{uuid: _device_string(name) for uuid, name in _DIS.items()},
    **CGM_STRATEGIES,
}
"""Characteristic (16-bit) → strategy for its decoded dataclass."""
