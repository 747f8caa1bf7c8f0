"""Simulated devices over the simulated radio: advertising, GATT table, and the
notification / indication behaviour of the real thing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from firmware_sim.devices import (
    DEVICES,
    BloodPressureCuff,
    GlucoseMeter,
    HeartRateStrap,
    PulseOximeter,
    Scale,
    Thermometer,
    household,
)
from firmware_sim.devices.base import DEFAULT_START
from firmware_sim.radio import SimLink, SimRadio
from firmware_sim.scenario import load, parse
from gateway.ble.link import ConnectionLostError
from gateway.ble.profiles import (
    BatteryLevel,
    BloodPressureFeature,
    DeviceKind,
    DeviceString,
    PlxFeatures,
    RacpNumberOfRecords,
    RacpResponseCode,
    WeightScaleFeature,
    current_time_of,
    decode,
    encode_current_time,
    encode_request,
    recognize,
)
from gateway.ble.profiles.glucose import Meal
from gateway.ble.profiles.racp import (
    ABORT,
    NUMBER_OF_RECORDS,
    REPORT_ALL,
    OpCode,
    ResponseCode,
    report_from,
)
from gateway.ble.uuids import normalize_uuid
from tests.firmware_sim._harness import Central


@pytest.mark.parametrize("kind", list(DeviceKind))
def test_each_kind_advertises_what_the_gateway_recognises(kind: DeviceKind) -> None:
    device = DEVICES[kind]("AA:00:00:00:00:01", seed=3)
    radio = SimRadio()
    radio.add(device)
    adverts = asyncio.run(SimLink(radio).scan(timeout=1))
    assert [a.address for a in adverts] == ["AA:00:00:00:00:01"]
    assert recognize(adverts[0].service_uuids) is kind


def test_gatt_table_and_static_characteristics_of_a_cuff() -> None:
    cuff = BloodPressureCuff("AA:BP", seed=1, battery=64)

    async def run() -> dict[int, object]:
        conn = await Central().connect(cuff)
        chars = await conn.characteristics()
        assert {
            normalize_uuid(u) for u in (0x2A35, 0x2A36, 0x2A49, 0x2A19, 0x2A29, 0x2A2B)
        } <= chars
        return {
            u: decode(u, await conn.read(normalize_uuid(u)))
            for u in (0x2A49, 0x2A19, 0x2A29, 0x2A24)
        }

    values = asyncio.run(run())
    assert values == {
        0x2A49: BloodPressureFeature(
            (
                "body_movement_detection",
                "cuff_fit_detection",
                "irregular_pulse_detection",
                "pulse_rate_range_detection",
            )
        ),
        0x2A19: BatteryLevel(64),
        0x2A29: DeviceString("Manufacturer Name String (0x2A29)", "VitalGate Sim"),
        0x2A24: DeviceString("Model Number String (0x2A24)", "VG-BP1"),
    }


def test_measurement_characteristics_are_not_readable() -> None:
    cuff = BloodPressureCuff("AA:BP", seed=1)

    async def run() -> None:
        conn = await Central().connect(cuff)
        await conn.read(normalize_uuid(0x2A35))

    with pytest.raises(ConnectionLostError, match="not readable"):
        asyncio.run(run())


def test_cuff_indicates_after_inflation_then_disconnects() -> None:
    cuff = BloodPressureCuff("AA:BP", seed=7)
    central = Central()

    async def run() -> bool:
        conn = await central.connect(cuff, 0x2A36, 0x2A35)
        cuff.measure(DEFAULT_START + timedelta(hours=2))
        return conn.is_connected

    still_connected = asyncio.run(run())
    measurement = cuff.uploaded[0]
    [bp] = central.values(0x2A35)
    assert measurement == [(normalize_uuid(0x2A35), central.raw[-1][1])]
    assert bp.time_stamp.to_datetime() == DEFAULT_START + timedelta(hours=2)
    assert bp.status == ()
    assert len(central.values(0x2A36)) >= 3  # cuff pressure while inflating
    assert [v.cuff_pressure for v in central.values(0x2A36)][:2] == [20.0, 60.0]
    assert (still_connected, central.disconnects, cuff.stored) == (False, 1, [])


def test_cuff_keeps_readings_taken_offline_until_the_next_connection() -> None:
    cuff = BloodPressureCuff("AA:BP", seed=7, kpa=True)
    first = cuff.measure(DEFAULT_START)
    second = cuff.measure(DEFAULT_START + timedelta(hours=12))
    central = Central()
    asyncio.run(central.connect(cuff, 0x2A35))
    assert central.values(0x2A35) == [first, second]
    assert first.kpa
    assert first.readings()[0].source_unit == "kPa"
    assert central.disconnects == 1


def test_thermometer_settles_then_indicates_and_stores_offline() -> None:
    thermometer = Thermometer("AA:TH", seed=2, fahrenheit=True)
    central = Central()

    async def run() -> None:
        await central.connect(thermometer, 0x2A1E, 0x2A1C)

    asyncio.run(run())
    final = thermometer.measure()
    intermediate = central.values(0x2A1E)
    assert [m.intermediate for m in intermediate] == [True, True, True]
    assert final.temperature is not None
    assert all(m.temperature < final.temperature for m in intermediate)
    assert central.values(0x2A1C) == [final]
    assert final.fahrenheit
    assert 96.0 < final.temperature < 100.0
    assert central.disconnects == 1


def test_scale_indicates_weight_and_body_composition_together() -> None:
    scale = Scale("AA:SC", seed=4)
    weight, composition = scale.measure()
    central = Central()

    async def run() -> None:
        conn = await central.connect(scale, 0x2A9D)
        assert scale.stored  # waits until both indications are enabled
        feature = decode(0x2A9E, await conn.read(normalize_uuid(0x2A9E)))
        assert feature == WeightScaleFeature(True, True, True, 0.005, 0.001)
        await conn.start_notify(normalize_uuid(0x2A9C), central.on_value)

    asyncio.run(run())
    assert central.values(0x2A9D) == [weight]
    assert central.values(0x2A9C) == [composition]
    assert weight.height == 1.72
    assert weight.user_id == 1
    assert weight.bmi == round(weight.weight / 1.72**2, 1)  # type: ignore[operator]


def test_imperial_scale_reports_pounds_and_inches() -> None:
    weight, _ = Scale("AA:SC", seed=4, imperial=True).measure()
    assert weight.imperial
    assert weight.height == 67.7
    [kg, _, cm] = weight.readings()
    assert abs(kg.value - 78.0) < 1.5
    assert abs(cm.value - 171.958) < 1e-9


def test_oximeter_streams_continuous_and_indicates_spot_checks() -> None:
    oximeter = PulseOximeter("AA:OX", seed=5, interval_s=1.0)
    central = Central()

    async def run() -> None:
        conn = await central.connect(oximeter, 0x2A5F, 0x2A5E)
        assert decode(0x2A60, await conn.read(normalize_uuid(0x2A60))) == PlxFeatures(
            ("measurement_status", "device_and_sensor_status", "spot_check_time_stamp"),
            ("measurement_unavailable", "questionable_measurement"),
            ("low_perfusion", "sensor_unconnected_to_user"),
        )

    asyncio.run(run())
    delivered = [oximeter.tick() for _ in range(5)]
    spot = oximeter.spot_check()
    assert delivered == [True] * 5
    assert len(central.values(0x2A5F)) == 5
    assert central.values(0x2A5E) == [spot]
    assert spot.timestamp == DEFAULT_START + timedelta(seconds=5)
    assert all(94 <= v.normal.spo2 <= 100 for v in central.values(0x2A5F))
    assert oximeter.connected  # oximeters stay connected


def test_glucose_meter_serves_records_over_racp() -> None:
    meter = GlucoseMeter("AA:GL", seed=6, mmol=True)
    for day in range(3):
        meter.measure(DEFAULT_START + timedelta(days=day), meal=Meal.FASTING if day == 1 else None)
    central = Central()

    async def run() -> None:
        conn = await central.connect(meter, 0x2A18, 0x2A34, 0x2A52)
        racp = normalize_uuid(0x2A52)
        for request in (NUMBER_OF_RECORDS, REPORT_ALL, report_from(3), report_from(9), ABORT):
            await conn.write(racp, encode_request(request))

    asyncio.run(run())
    assert central.values(0x2A52) == [
        RacpNumberOfRecords(3),
        RacpResponseCode(OpCode.REPORT_STORED_RECORDS, ResponseCode.SUCCESS),
        RacpResponseCode(OpCode.REPORT_STORED_RECORDS, ResponseCode.SUCCESS),
        RacpResponseCode(OpCode.REPORT_STORED_RECORDS, ResponseCode.NO_RECORDS_FOUND),
        RacpResponseCode(OpCode.ABORT_OPERATION, ResponseCode.SUCCESS),
    ]
    records = central.values(0x2A18)
    assert [r.sequence_number for r in records] == [1, 2, 3, 3]
    assert [r for r, _ in meter.records] == records[:3]  # kept until asked to delete
    assert [c.meal for c in central.values(0x2A34)] == [Meal.FASTING]
    assert records[1].context_follows
    assert not records[0].context_follows
    assert records[0].timestamp == DEFAULT_START


def test_glucose_meter_refuses_bad_requests_and_deletes_on_request() -> None:
    meter = GlucoseMeter("AA:GL", seed=6)
    meter.measure()
    central = Central()

    async def run() -> None:
        conn = await central.connect(meter, 0x2A18)
        racp = normalize_uuid(0x2A52)
        await conn.write(racp, encode_request(REPORT_ALL))  # RACP indications off: ignored
        await conn.start_notify(racp, central.on_value)
        await conn.write(racp, bytes([0x09, 0x01]))  # unknown op code
        await conn.write(racp, bytes([0x01, 0x07]))  # unknown operator
        await conn.write(racp, bytes([0x01, 0x03, 0x02, 0x00, 0x00]))  # time filter unsupported
        await conn.write(racp, bytes([0x02, 0x01]))  # delete all

    asyncio.run(run())
    assert central.values(0x2A18) == []
    assert [(r.request_op_code, r.response) for r in central.values(0x2A52)[1:]] == [
        (OpCode.REPORT_STORED_RECORDS, ResponseCode.INVALID_OPERATOR),
        (OpCode.REPORT_STORED_RECORDS, ResponseCode.INVALID_OPERAND),
        (OpCode.DELETE_STORED_RECORDS, ResponseCode.SUCCESS),
    ]
    assert central.raw[0] == (0x2A52, bytes([0x06, 0x00, 0x09, 0x02]))
    assert meter.records == []


def test_clock_offset_fault_and_setting_the_clock() -> None:
    scenario = parse('[[fault]]\nkind = "clock_offset"\nvalue = -5.0\n', source="late.toml")
    cuff = BloodPressureCuff("AA:BP", seed=1, scenario=scenario)
    late = cuff.measure()
    assert late.timestamp == DEFAULT_START - timedelta(hours=5)
    central = Central()

    async def run() -> datetime | None:
        conn = await central.connect(cuff)
        shown: datetime | None = decode(0x2A2B, await conn.read(normalize_uuid(0x2A2B))).timestamp
        value = current_time_of(cuff.now, adjust_reason=("external_reference",))
        await conn.write(normalize_uuid(0x2A2B), encode_current_time(value))
        return shown

    shown = asyncio.run(run())
    assert shown == DEFAULT_START - timedelta(hours=5)
    assert cuff.measure().timestamp == DEFAULT_START


def test_hr_strap_keeps_its_original_interface() -> None:
    strap = HeartRateStrap("AA:HR", seed=1)
    central = Central()
    asyncio.run(central.connect(strap, 0x2A37))
    assert [strap.tick() for _ in range(3)] == [True, True, True]
    assert [m.heart_rate for m in central.values(0x2A37)] == [bpm for _, bpm in strap.emitted]
    assert all(m.sensor_contact for m in central.values(0x2A37))


def test_device_faults_from_a_scenario_file() -> None:
    scenario = parse(
        """
        [[fault]]
        kind = "sensor_contact_lost"
        device = "hr_strap"
        start_h = 0
        end_h = 0.0005
        [[fault]]
        kind = "duplicate_notifications"
        device = "hr_strap"
        [[fault]]
        kind = "low_battery"
        value = 7
        [[fault]]
        kind = "cuff_error"
        detail = "body_movement"
        [[fault]]
        kind = "sensor_contact_lost"
        device = "pulse_oximeter"
        """,
        source="faults.toml",
    )
    strap = HeartRateStrap("AA:HR", seed=1, scenario=scenario)
    central = Central()
    asyncio.run(central.connect(strap, 0x2A37, 0x2A19))
    strap.tick()
    strap.tick()
    strap.tick()
    strap.tick()
    contact = [m.sensor_contact for m in central.values(0x2A37)]
    assert contact == [False] * 4 + [True] * 4  # 0.0005 h = 1.8 s: two ticks, each sent twice
    assert central.values(0x2A19) == [BatteryLevel(7)]

    bp = BloodPressureCuff("AA:BP", seed=1, scenario=scenario).measure()
    assert bp.status == ("body_movement",)
    assert not bp.usable
    spot = PulseOximeter("AA:OX", seed=1, scenario=scenario).spot_check()
    assert (spot.spo2, spot.pulse_rate) == (None, None)
    assert spot.readings() == []
    assert spot.device_sensor_status == ("sensor_unconnected_to_user",)


def test_seeded_devices_are_deterministic() -> None:
    def run(seed: int) -> list[object]:
        cuff = BloodPressureCuff("AA:BP", seed=seed)
        return [cuff.measure(DEFAULT_START + timedelta(hours=h)) for h in range(5)]

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_time_is_aware_utc() -> None:
    assert DEFAULT_START.tzinfo is UTC


def test_a_household_of_devices_for_one_patient() -> None:
    radio = SimRadio()
    devices = household(radio, seed=9, scenario=load("fever"))
    assert set(devices) == set(DeviceKind)
    adverts = asyncio.run(SimLink(radio).scan(timeout=1))
    assert sorted(recognize(a.service_uuids) or "" for a in adverts) == sorted(DeviceKind)
    assert devices[DeviceKind.SCALE].address == "0A:09:00:00:00:05"
