"""Canonical units, time stamps, medical floats, the registry and the gateway's own encoders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from firmware_sim.encoders import float_raw, sfloat_raw
from gateway.ble.profiles import (
    DateTime,
    DeviceKind,
    ProfileReading,
    characteristic,
    current_time_of,
    decode,
    encode_current_time,
    encode_request,
    recognize,
    service,
)
from gateway.ble.profiles.ieee11073 import float_value, sfloat_value
from gateway.ble.profiles.racp import ABORT, NUMBER_OF_RECORDS, REPORT_ALL, report_from
from gateway.wire import Metric
from tests.profiles.vectors import STAMP_HEX

M = Metric


# (raw, value): IEEE 11073-20601 Annex F.8, worked by hand. 0xf16d: exponent 0xf = −1,
# mantissa 0x16d = 365 → 36.5. 0xe4d2: −2, 1234 → 12.34. 0x0fff: 0, −1 → −1.0.
# 0x7001: 7, 1 → 1e7. 0x8001: −8, 1 → 1e-8. 0xf7ff: −1, 2047 → 204.7 (not NaN: exponent ≠ 0).
# 0x0800 NRes, 0x07ff NaN, 0x07fe +INF, 0x0802 −INF, 0x0801 reserved → None.
@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0x0078, 120.0),
        (0xF16D, 36.5),
        (0xE4D2, 12.34),
        (0x0FFF, -1.0),
        (0xFFFF, -0.1),
        (0x7001, 1e7),
        (0x8001, 1e-8),
        (0xF7FF, 204.7),
        (0x07FF, None),
        (0x0800, None),
        (0x07FE, None),
        (0x0802, None),
        (0x0801, None),
    ],
)
def test_sfloat(raw: int, value: float | None) -> None:
    assert sfloat_value(raw) == value
    if value is not None:
        assert sfloat_value(sfloat_raw(value)) == value


# 0xff00016c: exponent −1, mantissa 364 → 36.4; 0xfd0f4240: −3, 1 000 000 → 1000.0;
# 0x00ffffff: 0, −1 → −1.0; specials 0x007fffff NaN, 0x00800000 NRes, 0x007ffffe +INF,
# 0x00800002 −INF, 0x00800001 reserved.
@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0xFF00016C, 36.4),
        (0xFD0F4240, 1000.0),
        (0x00FFFFFF, -1.0),
        (0x007FFFFF, None),
        (0x00800000, None),
        (0x007FFFFE, None),
        (0x00800002, None),
        (0x00800001, None),
    ],
)
def test_float32(raw: int, value: float | None) -> None:
    assert float_value(raw) == value
    if value is not None:
        assert float_value(float_raw(value)) == value


@pytest.mark.parametrize("value", [2046.0, -2047.0, 0.123456789, 1e12])
def test_sfloat_encoder_refuses_what_it_cannot_carry_exactly(value: float) -> None:
    with pytest.raises(ValueError, match=r"SFLOAT|mantissa"):
        sfloat_raw(value)


@pytest.mark.parametrize(
    ("uuid", "hex_", "readings"),
    [
        # kPa → mm[Hg] (× 7.50062): 16.0 → 120.00992, 10.7 → 80.256634, 12.4 → 93.007688.
        (
            0x2A35,
            "01a0f06bf07cf0",
            [
                ProfileReading(M.SYSTOLIC_BP, 120.00992, "kPa"),
                ProfileReading(M.DIASTOLIC_BP, 80.256634, "kPa"),
                ProfileReading(M.MEAN_ARTERIAL_PRESSURE, 93.007688, "kPa"),
            ],
        ),
        # Body movement makes a cuff reading unusable; the flags travel with every value.
        (
            0x2A35,
            "14780050005d0048000100",
            [
                ProfileReading(M.SYSTOLIC_BP, 120.0, "mm[Hg]", ("body_movement",), False),
                ProfileReading(M.DIASTOLIC_BP, 80.0, "mm[Hg]", ("body_movement",), False),
                ProfileReading(M.MEAN_ARTERIAL_PRESSURE, 93.0, "mm[Hg]", ("body_movement",), False),
                ProfileReading(M.PULSE_RATE, 72.0, "/min", ("body_movement",), False),
            ],
        ),
        # 98.6 °F → 37.0 Cel.
        (0x2A1C, "01da0300ff", [ProfileReading(M.BODY_TEMPERATURE, 37.0, "[degF]")]),
        # 154.3 lb × 0.45359237 = 69.989302691 kg; BMI 22.6; 69.1 in × 2.54 = 175.514 cm.
        (
            0x2A9D,
            "09463ce200b302",
            [
                ProfileReading(M.BODY_WEIGHT, 69.989302691, "[lb_av]"),
                ProfileReading(M.BMI, 22.6, "kg/m2"),
                ProfileReading(M.BODY_HEIGHT, 175.514, "[in_i]"),
            ],
        ),
        # 0.00101 kg/L × 100000 = 101 mg/dL; 0.0056 mol/L × 18016 = 100.8896 mg/dL.
        (
            0x2A18,
            "020100" + STAMP_HEX + "65b011",
            [ProfileReading(M.BLOOD_GLUCOSE, 101.0, "kg/L")],
        ),
        (
            0x2A18,
            "060100" + STAMP_HEX + "38c012",
            [ProfileReading(M.BLOOD_GLUCOSE, 100.8896, "mol/L")],
        ),
        # Control solution is never a patient value.
        (
            0x2A18,
            "020100" + STAMP_HEX + "65b04a",
            [ProfileReading(M.BLOOD_GLUCOSE, 101.0, "kg/L", ("control_solution",), False)],
        ),
        # SpO2 with "sensor displaced": kept, flagged, unusable.
        (
            0x2A5F,
            "085f005000002000",
            [
                ProfileReading(M.SPO2, 95.0, "%", ("sensor_displaced",), False),
                ProfileReading(M.PULSE_RATE, 80.0, "/min", ("sensor_displaced",), False),
            ],
        ),
        (
            0x2A37,
            "0448",
            [ProfileReading(M.HEART_RATE, 72.0, None, ("sensor_contact_lost",), False)],
        ),
        (0x2A9C, "0000eb00", [ProfileReading(M.BODY_FAT, 23.5, "%")]),
        (0x2A19, "0f", [ProfileReading(M.BATTERY_LEVEL, 15.0, "%")]),
        (0x2A35, "00ff07ff07ff07", []),
    ],
)
def test_readings_are_in_canonical_units(
    uuid: int, hex_: str, readings: list[ProfileReading]
) -> None:
    result = decode(uuid, bytes.fromhex(hex_))
    assert result.readings() == readings
    spec = characteristic(uuid)
    assert spec is not None
    assert {r.metric for r in readings} <= set(spec.metrics)


def test_units_match_the_wire_contract() -> None:
    reading = decode(0x2A35, bytes.fromhex("01a0f06bf07cf0")).readings()[0]
    assert (reading.unit, reading.source_unit) == ("mm[Hg]", "kPa")


def test_time_stamp_is_read_as_utc_unless_told_otherwise() -> None:
    m = decode(0x2A35, bytes.fromhex("02780050005d00" + STAMP_HEX))
    assert m.timestamp == datetime(2026, 11, 23, 8, 30, 15, tzinfo=UTC)
    plus_two = timezone(timedelta(hours=2))
    assert m.timestamp_in(plus_two) == datetime(2026, 11, 23, 6, 30, 15, tzinfo=UTC)


def test_glucose_time_is_base_time_plus_offset() -> None:
    m = decode(0x2A18, bytes.fromhex("010100" + STAMP_HEX + "fbff"))
    assert m.timestamp == datetime(2026, 11, 23, 8, 25, 15, tzinfo=UTC)
    assert m.timestamp_in(timezone(timedelta(hours=-5))) == datetime(
        2026, 11, 23, 13, 25, 15, tzinfo=UTC
    )


def test_unknown_date_gives_no_timestamp() -> None:
    m = decode(0x2A35, bytes.fromhex("02780050005d00" + "00000000081e0f"))
    assert m.time_stamp == DateTime(0, 0, 0, 8, 30, 15)
    assert m.timestamp is None


def test_oximeter_with_unset_clock_gives_no_timestamp() -> None:
    unset = decode(0x2A5E, bytes.fromhex("1161004800" + STAMP_HEX))
    set_ = decode(0x2A5E, bytes.fromhex("0161004800" + STAMP_HEX))
    assert unset.time_stamp == set_.time_stamp
    assert (unset.timestamp, set_.timestamp) == (
        None,
        datetime(2026, 11, 23, 8, 30, 15, tzinfo=UTC),
    )


def test_hr_has_no_timestamp_and_rr_in_seconds() -> None:
    m = decode(0x2A37, bytes.fromhex("10480004"))
    assert (m.timestamp, m.rr_intervals, m.usable) == (None, (1.0,), True)


def test_current_time_encoding_sets_a_device_clock() -> None:
    # 2026-11-23 09:30:15.5 at +01:00 is 08:30:15.5 UTC, a Monday; 0.5 s = 128/256.
    moment = datetime(2026, 11, 23, 9, 30, 15, 500_000, tzinfo=timezone(timedelta(hours=1)))
    value = current_time_of(moment, adjust_reason=("external_reference",))
    data = encode_current_time(value)
    assert data == bytes.fromhex(STAMP_HEX + "018002")
    assert decode(0x2A2B, data) == value
    assert value.precise == datetime(2026, 11, 23, 8, 30, 15, 500_000, tzinfo=UTC)


# GLS 1.0 §3.6.2: op code | operator | operand (filter type 0x01 = sequence number, u16).
@pytest.mark.parametrize(
    ("request_", "hex_"),
    [
        (REPORT_ALL, "0101"),
        (report_from(5), "0103010500"),  # ≥ 5: operator 3, filter 1, 0x0005
        (report_from(0x1234), "0103013412"),
        (NUMBER_OF_RECORDS, "0401"),
        (ABORT, "0300"),
    ],
)
def test_racp_requests(request_: object, hex_: str) -> None:
    assert encode_request(request_).hex() == hex_  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("services", "kind"),
    [
        ([0x180D, 0x180F], DeviceKind.HR_STRAP),
        (["00001810-0000-1000-8000-00805f9b34fb"], DeviceKind.BP_CUFF),
        (["1822"], DeviceKind.PULSE_OXIMETER),
        ([0x1809], DeviceKind.THERMOMETER),
        ([0x181D, 0x181B], DeviceKind.SCALE),
        ([0x181B], DeviceKind.SCALE),
        ([0x1808, 0x180A], DeviceKind.GLUCOSE_METER),
        ([0x1810, 0x180D], DeviceKind.BP_CUFF),
        ([0x180F, 0x180A], None),
        (["6e400001-b5a3-f393-e0a9-e50e24dcca9e", "garbage"], None),
        ([], None),
    ],
)
def test_device_kind_from_advertised_services(
    services: list[int | str], kind: DeviceKind | None
) -> None:
    assert recognize(services) == kind


def test_registry_rows_carry_units_and_loinc() -> None:
    spec = characteristic("00002a35-0000-1000-8000-00805f9b34fb")
    assert spec is not None
    assert spec.units[M.SYSTOLIC_BP] == "mm[Hg]"
    assert spec.loinc == {
        M.SYSTOLIC_BP: "8480-6",
        M.DIASTOLIC_BP: "8462-4",
        M.MEAN_ARTERIAL_PRESSURE: "8478-0",
        M.PULSE_RATE: "8867-4",
    }
    assert characteristic("not a uuid") is None
    glucose = service(0x1808)
    assert glucose is not None
    assert (glucose.kind, glucose.characteristics) == (
        DeviceKind.GLUCOSE_METER,
        (0x2A18, 0x2A34, 0x2A52),
    )
    assert service("zz") is None
