"""HRV in the edge's per-minute rollups: the heart-rate strap's RR intervals, decoded from its
0x2A37 notifications, give each minute's RMSSD and SDNN, checked against a computation by
hand (Task Force of the ESC and NASPE, Circulation 1996;93:1043: SDNN the sample standard
deviation of the intervals, RMSSD the root mean square of successive differences)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from firmware_sim.devices.hr_strap import HeartRateStrap
from gateway import wire
from gateway.app import rows_readings_rr
from gateway.ble.measurement import Measurement
from gateway.ble.profiles.heart_rate import decode_heart_rate
from gateway.signal.hrv import time_domain
from gateway.signal.stage import EdgeStage

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HR_UUID = "00002a37-0000-1000-8000-00805f9b34fb"


def by_hand(rr_s: list[float]) -> tuple[float, float]:
    """(RMSSD, SDNN) in ms, with loops: the slow, obvious reference."""
    ms = [x * 1000.0 for x in rr_s]
    diffs = [b - a for a, b in pairwise(ms)]
    rmssd = math.sqrt(sum(d * d for d in diffs) / len(diffs))
    mean = sum(ms) / len(ms)
    sdnn = math.sqrt(sum((x - mean) ** 2 for x in ms) / (len(ms) - 1))
    return rmssd, sdnn


def test_minute_rollups_carry_the_hrv_of_the_straps_rr_intervals() -> None:
    strap = HeartRateStrap("C0:FF:EE:00:0A:01", seed=11)
    stage = EdgeStage()
    rollups: list[wire.Rollup] = []
    rr_of_minute: dict[int, list[float]] = {0: [], 1: []}
    for i in range(150):  # 2.5 min at 1 Hz
        at = T0 + timedelta(seconds=i)
        decoded = decode_heart_rate(strap.measure())
        if i < 120:
            rr_of_minute[i // 60] += decoded.rr_intervals
        m = Measurement("hrm-1", "p-hrv", HR_UUID, decoded, received_at=at)
        _, readings, rr = rows_readings_rr([m])
        assert rr == ({readings[0].id: decoded.rr_intervals} if decoded.rr_intervals else {})
        rollups += stage.observe(readings, now=at.timestamp(), rr=rr)[1]
    rollups += stage.flush(now=(T0 + timedelta(minutes=4)).timestamp())

    assert [r.start for r in rollups] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    for minute in (0, 1):
        hrv = rollups[minute].hrv
        assert hrv is not None
        intervals = rr_of_minute[minute]
        assert len(intervals) >= 50  # a beat or so a second, every interval kept
        rmssd, sdnn = by_hand(intervals)
        assert hrv.n_intervals == len(intervals)
        assert hrv.rmssd_ms == pytest.approx(rmssd, rel=1e-9)
        assert hrv.sdnn_ms == pytest.approx(sdnn, rel=1e-9)
        reference = time_domain(intervals)
        assert (hrv.rmssd_ms, hrv.sdnn_ms) == pytest.approx((reference.rmssd_ms, reference.sdnn_ms))
        assert 0 < hrv.rmssd_ms < 200  # a resting adult's range, not milliseconds taken as s
    # The rollup is a wire message: the cloud stores its HRV with it (cloud.store.edge_records).
    batch = wire.RollupBatch(gateway_id="gw-1", batch_id="b-1", sent_at=T0, rollups=tuple(rollups))
    back = wire.decode(wire.encode(batch), expect="vg.rollups/1")
    assert isinstance(back, wire.RollupBatch)
    assert back.rollups[0].hrv == rollups[0].hrv


def test_no_rr_intervals_no_hrv_and_lost_contact_leaves_them_out() -> None:
    stage = EdgeStage()
    out: list[wire.Rollup] = []
    for i in range(60):
        at = T0 + timedelta(seconds=i)
        reading = wire.Reading(
            id=f"r-{i}",
            patient_id="p-hrv",
            device_id="hrm-1",
            metric=wire.Metric.HEART_RATE,
            value=70.0,
            unit="/min",
            ts=at,
            quality=wire.Quality(
                source="2a37",
                usable=i % 2 == 0,
                flags=() if i % 2 == 0 else ("sensor_contact_lost",),
            ),
        )
        rr = {reading.id: (0.85, 0.86)} if i < 2 else {}
        out += stage.observe([reading], now=at.timestamp(), rr=rr)[1]
    out += stage.flush(now=(T0 + timedelta(minutes=2)).timestamp())
    (minute,) = out
    # Only reading 0 (usable) brought intervals: 2 of them, so HRV of 2 intervals.
    assert minute.hrv is not None
    assert minute.hrv.n_intervals == 2
    assert minute.hrv.rmssd_ms == pytest.approx(10.0)
    quiet = EdgeStage()
    plain = [
        r.model_copy(update={"id": f"q-{i}", "ts": T0 + timedelta(seconds=i)})
        for i, r in enumerate([minute_reading()] * 10)
    ]
    for r in plain:
        quiet.observe([r], now=r.ts.timestamp())
    (no_hrv,) = quiet.flush(now=(T0 + timedelta(minutes=2)).timestamp())
    assert no_hrv.hrv is None


def minute_reading() -> wire.Reading:
    return wire.Reading(
        id="q",
        patient_id="p-hrv",
        device_id="hrm-1",
        metric=wire.Metric.HEART_RATE,
        value=72.0,
        unit="/min",
        ts=T0,
        quality=wire.Quality(source="2a37"),
    )
