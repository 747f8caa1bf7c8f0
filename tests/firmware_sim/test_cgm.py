"""The simulated CGM: its GATT behaviour (warm-up, 5-minute readings, concatenated records,
RACP by time offset, Specific Ops, E2E-CRC) and the glucose it reads (seeded, with meals,
night lows, compression lows and signal loss)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import numpy as np
import pytest

from firmware_sim.cgm_glucose import CgmGlucoseModel, day_plan
from firmware_sim.devices import ContinuousGlucoseMonitor
from firmware_sim.devices.base import DEFAULT_START
from firmware_sim.devices.cgm import RUN_TIME_H
from firmware_sim.encoders.cgm import encode_cgm_control_point
from gateway.ble.profiles import (
    CgmControlPoint,
    CgmFeature,
    CgmSessionStartTime,
    CgmStatus,
    DateTime,
    RacpNumberOfRecords,
    RacpResponseCode,
    decode,
    encode_request,
)
from gateway.ble.profiles.cgm import CgmSampleLocation, CgmType
from gateway.ble.profiles.cgm_control import CgmCalibration, SocpOpCode, SocpResponse
from gateway.ble.profiles.cgm_session import DstOffset
from gateway.ble.profiles.racp import NUMBER_OF_RECORDS, OpCode, ResponseCode, report_from
from gateway.ble.uuids import normalize_uuid
from gateway.signal.glucose import summary
from tests.firmware_sim._harness import Central

SOCP = normalize_uuid(0x2AAC)
RACP = normalize_uuid(0x2A52)


def test_warm_up_then_a_reading_every_five_minutes_notified_in_chunks() -> None:
    cgm = ContinuousGlucoseMonitor("AA:CG", seed=1)
    central = Central()

    async def run() -> None:
        await central.connect(cgm, 0x2AA7)
        cgm.advance(59 * 60)  # still warming up
        assert central.values(0x2AA7) == []
        cgm.advance(60)  # 60 minutes: the first reading
        cgm.advance(40 * 60)  # 8 more at once: three notifications of 3, 3 and 2 records

    asyncio.run(run())
    batches = central.values(0x2AA7)
    assert [len(b.records) for b in batches] == [1, 3, 3, 2]
    offsets = [r.time_offset_min for b in batches for r in b.records]
    assert offsets == list(range(60, 101, 5))
    assert all(r.crc for b in batches for r in b.records)
    assert [r for b in batches for r in b.records] == cgm.records


def test_readable_values_carry_the_e2e_crc_the_feature_announces() -> None:
    cgm = ContinuousGlucoseMonitor("AA:CG", seed=2, clock_offset_h=1.0)
    cgm.advance(3600 * 5)
    central = Central()

    async def run() -> dict[int, object]:
        conn = await central.connect(cgm)
        return {u: decode(u, await conn.read(normalize_uuid(u))) for u in range(0x2AA8, 0x2AAC)}

    got = asyncio.run(run())
    assert got[0x2AA8] == CgmFeature(
        (
            "calibration",
            "sensor_malfunction_detection",
            "low_battery_detection",
            "e2e_crc",
            "multiple_sessions",
            "trend_information",
            "quality",
        ),
        CgmType.INTERSTITIAL_FLUID,
        CgmSampleLocation.SUBCUTANEOUS_TISSUE,
    )
    assert got[0x2AA9] == CgmStatus(300, crc=True)
    # the session started at 07:00 true time; the sensor's clock runs an hour ahead
    assert got[0x2AAA] == CgmSessionStartTime(
        DateTime(2026, 1, 5, 8, 0, 0), 0, DstOffset.STANDARD, crc=True
    )
    assert got[0x2AAB].hours == RUN_TIME_H  # type: ignore[attr-defined]


def test_racp_reports_stored_records_from_a_time_offset() -> None:
    cgm = ContinuousGlucoseMonitor("AA:CG", seed=3, e2e_crc=False)
    cgm.advance(3 * 3600)
    central = Central()

    async def run() -> None:
        conn = await central.connect(cgm, 0x2AA7, 0x2A52)
        await conn.write(RACP, encode_request(NUMBER_OF_RECORDS))
        await conn.write(RACP, encode_request(report_from(150)))
        await conn.write(RACP, encode_request(report_from(500)))

    asyncio.run(run())
    offsets = [r.time_offset_min for b in central.values(0x2AA7) for r in b.records]
    present = [r.time_offset_min for r in cgm.records]
    assert offsets == [o for o in present if o >= 150]
    assert not any(r.crc for b in central.values(0x2AA7) for r in b.records)
    assert central.values(0x2A52) == [
        RacpNumberOfRecords(len(present)),
        RacpResponseCode(OpCode.REPORT_STORED_RECORDS, ResponseCode.SUCCESS),
        RacpResponseCode(OpCode.REPORT_STORED_RECORDS, ResponseCode.NO_RECORDS_FOUND),
    ]


def test_specific_ops_start_stop_interval_and_calibration() -> None:
    cgm = ContinuousGlucoseMonitor("AA:CG", seed=4, calibration_every_h=2)
    central = Central()
    calibration = CgmCalibration(
        104.0, 130, CgmType.CAPILLARY_WHOLE_BLOOD, CgmSampleLocation.FINGER, 720, 1
    )

    def op(code: SocpOpCode, **fields: object) -> bytes:
        return encode_cgm_control_point(CgmControlPoint(code, crc=True, **fields))  # type: ignore[arg-type]

    async def run() -> None:
        conn = await central.connect(cgm, 0x2AA7, 0x2AAC)
        cgm.advance(2.5 * 3600)
        await conn.write(SOCP, op(SocpOpCode.SET_CALIBRATION_VALUE, calibration=calibration))
        await conn.write(SOCP, op(SocpOpCode.SET_COMMUNICATION_INTERVAL, interval_min=0))
        cgm.advance(3600)  # readings stored, not notified
        await conn.write(SOCP, op(SocpOpCode.GET_COMMUNICATION_INTERVAL))
        await conn.write(SOCP, op(SocpOpCode.STOP_SESSION))
        await conn.write(SOCP, op(SocpOpCode.SET_HYPO_ALERT, level=60.0))
        await conn.write(SOCP, op(SocpOpCode.START_SESSION))

    asyncio.run(run())
    replies = central.values(0x2AAC)
    codes = [(r.request_op_code, r.response) for r in replies if r.op_code == 28]
    assert codes == [
        (SocpOpCode.SET_CALIBRATION_VALUE, SocpResponse.SUCCESS),
        (SocpOpCode.SET_COMMUNICATION_INTERVAL, SocpResponse.SUCCESS),
        (SocpOpCode.STOP_SESSION, SocpResponse.SUCCESS),
        (SocpOpCode.SET_HYPO_ALERT, SocpResponse.OP_CODE_NOT_SUPPORTED),
        (SocpOpCode.START_SESSION, SocpResponse.SUCCESS),
    ]
    assert (
        CgmControlPoint(SocpOpCode.COMMUNICATION_INTERVAL_RESPONSE, interval_min=0, crc=True)
        in replies
    )
    notified = [r for b in central.values(0x2AA7) for r in b.records]
    # calibration required from 2 h (offset 120) until the calibration at 2.5 h (150)
    required = [r.time_offset_min for r in notified if r.cal_temp]
    assert required == list(range(120, 151, 5))
    assert max(r.time_offset_min for r in notified) == 150  # then notifications were off
    assert cgm.records == []  # a new session
    assert cgm.session_start == DEFAULT_START + timedelta(hours=3.5)


def test_the_same_seed_gives_the_same_readings_and_another_seed_others() -> None:
    def fortnight(seed: int) -> list[float | None]:
        cgm = ContinuousGlucoseMonitor("AA:CG", seed=seed)
        cgm.set_time(DEFAULT_START + timedelta(days=2))
        return [r.glucose for r in cgm.records]

    assert fortnight(5) == fortnight(5)
    assert fortnight(5) != fortnight(6)


@pytest.mark.parametrize("seed", [7, 8])
def test_fourteen_days_of_glucose_look_like_a_person_wearing_a_cgm(seed: int) -> None:
    cgm = ContinuousGlucoseMonitor("AA:CG", seed=seed)
    cgm.set_time(DEFAULT_START + timedelta(days=15))
    values = np.array([r.glucose for r in cgm.records], dtype=float)
    times = [cgm.start + timedelta(minutes=r.time_offset_min) for r in cgm.records]
    s = summary(values, times)
    assert 100 < s.mean_mg_dl < 160
    assert 15 < s.cv < 40
    assert s.tir > 70
    assert 90 < s.wear < 100  # signal-loss gaps cost some readings
    assert max(r.time_offset_min for r in cgm.records) == RUN_TIME_H * 60  # then it expires
    assert ((values >= 40) & (values <= 400) & (values == np.round(values))).all()
    hours = np.array([(t.hour + t.minute / 60) for t in times])
    after_meals = values[(hours >= 8.5) & (hours < 10) | (hours >= 19) & (hours < 21)]
    night = values[(hours >= 2) & (hours < 5)]
    assert np.median(after_meals) > np.median(night) + 15


def test_night_artefacts_and_signal_loss_happen_where_the_day_plan_says() -> None:
    cgm = ContinuousGlucoseMonitor("AA:CG", seed=9)
    model = CgmGlucoseModel(cgm.patient)
    plans = [day_plan(9, d) for d in range(14)]
    day, plan = next((d, p) for d, p in enumerate(plans) if p.compression is not None)
    assert plan.compression is not None
    start_h, minutes, depth = plan.compression
    midnight = DEFAULT_START.replace(hour=0) + timedelta(days=day)
    inside = midnight + timedelta(hours=start_h, minutes=minutes / 2)
    reading = model.reading(inside)
    assert reading is not None
    # the sensor reads well below the blood glucose while compressed
    assert reading < model.physiology(inside) - depth + 15
    day, plan = next((d, p) for d, p in enumerate(plans) if p.signal_loss is not None)
    assert plan.signal_loss is not None
    lost_at = DEFAULT_START.replace(hour=0) + timedelta(days=day, hours=plan.signal_loss[0] + 0.2)
    assert model.reading(lost_at) is None
    assert any(p.overnight_low is not None for p in plans)
