"""Consensus glucose metrics and the AGP: hand-worked answers, and the pure-Python reference."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gateway.signal.glucose import agp, summary
from gateway.signal.series import SignalError
from tests.signal import glucose_reference as ref

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


def every_5_min(n: int, start: datetime = T0) -> list[datetime]:
    return [start + timedelta(minutes=5 * i) for i in range(n)]


def test_hand_worked_summary() -> None:
    values = [40, 60, 70, 100, 150, 180, 181, 200, 260, 300]
    s = summary(values, every_5_min(10))
    # <54: {40} = 1 of 10; <70: {40, 60} = 2; 70–180 inclusive: {70, 100, 150, 180} = 4;
    # >180: {181, 200, 260, 300} = 4; >250: {260, 300} = 2.
    assert (s.tbr_54, s.tbr_70, s.tir, s.tar_180, s.tar_250) == (10.0, 20.0, 40.0, 40.0, 20.0)
    assert s.tbr_70 + s.tir + s.tar_180 == 100.0
    # Sum 1541 → mean 154.1; GMI 3.31 + 0.02392 × 154.1 = 3.31 + 3.686072 = 6.996072.
    assert s.mean_mg_dl == pytest.approx(154.1)
    assert s.gmi == pytest.approx(6.996072)
    # Σx² = 305361; Σ(x − mean)² = 305361 − 10 × 154.1² = 67892.9; SD = √(67892.9 / 9)
    # = 86.854…; CV = 86.854 / 154.1 × 100 = 56.36 %.
    assert s.cv == pytest.approx(math.sqrt(67892.9 / 9) / 154.1 * 100)
    assert s.cv == pytest.approx(56.36, abs=0.01)
    # 10 readings 5 minutes apart over 45 minutes: 45 / 5 + 1 = 10 expected → 100 %.
    assert s.wear == 100.0
    assert s.n_readings == 10


def test_wear_counts_expected_five_minute_slots() -> None:
    # Readings at 0, 5, 5 (a repeat), 10, 30, 35 minutes: span 35 min → 35 / 5 + 1 = 8
    # expected slots; slots 0, 1, 2, 6, 7 hold readings → 5 / 8 = 62.5 %.
    times = [T0 + timedelta(minutes=m) for m in (0, 5, 5, 10, 30, 35)]
    s = summary([100.0] * 6, times)
    assert s.wear == 62.5
    assert s.cv == 0.0


def test_wear_over_a_stated_period_and_gaps_left_out() -> None:
    # One day (288 slots) asked for, 144 readings in its first half, plus NaN gaps that do
    # not count as readings: 144 / 288 = 50 %.
    times = every_5_min(160)
    values = [120.0] * 144 + [math.nan] * 16
    s = summary(values, times, start=T0, end=T0 + timedelta(days=1) - timedelta(minutes=5))
    assert s.wear == 50.0
    assert s.n_readings == 144


def test_boundaries_are_inclusive_as_the_consensus_says() -> None:
    # 54 is not below 54; 70 and 180 are in range; 250 is above 180 but not above 250.
    s = summary([53.9, 54.0, 69.9, 70.0, 180.0, 180.1, 250.0, 250.1], every_5_min(8))
    assert (s.tbr_54, s.tbr_70, s.tir, s.tar_180, s.tar_250) == (12.5, 37.5, 25.0, 37.5, 12.5)


@pytest.mark.parametrize(
    ("values", "times", "match"),
    [
        ([100.0], every_5_min(1), "at least 2"),
        ([100.0, 110.0], every_5_min(3), "2 glucose values but 3 times"),
        ([100.0, 0.0], every_5_min(2), "positive"),
        ([100.0, 110.0], [datetime(2026, 1, 5), datetime(2026, 1, 5, 0, 5)], "aware"),
    ],
)
def test_bad_input_is_refused(values: list[float], times: list[datetime], match: str) -> None:
    with pytest.raises(SignalError, match=match):
        summary(values, times)


def test_agp_hand_worked_bin() -> None:
    # Five days, one reading each at 00:05: 100, 120, 140, 160, 200 (sorted). Linear
    # interpolation at (n − 1) × q = 4q: p5 at 0.2 → 100 + 0.2 × 20 = 104; p25 at 1 → 120;
    # p50 at 2 → 140; p75 at 3 → 160; p95 at 3.8 → 160 + 0.8 × 40 = 192.
    times = [T0 + timedelta(days=d, minutes=5) for d in range(5)]
    profile = agp([160, 100, 200, 140, 120], times)
    assert profile.bin_start_min.shape == (96,)
    first = (profile.p5[0], profile.p25[0], profile.p50[0], profile.p75[0], profile.p95[0])
    assert first == pytest.approx((104.0, 120.0, 140.0, 160.0, 192.0))
    assert profile.count[0] == 5
    assert profile.count[1:].sum() == 0
    assert np.isnan(profile.p50[1:]).all()


def test_agp_reads_time_of_day_in_the_patients_zone_across_daylight_saving() -> None:
    # Berlin: 23:05 UTC on 28 March 2026 is 00:05 CET; on 29 March (CEST, +2 h) 00:05 local
    # is 22:05 UTC. Both land in the first 15-minute bin of the local day.
    berlin = ZoneInfo("Europe/Berlin")
    times = [datetime(2026, 3, 28, 23, 5, tzinfo=UTC), datetime(2026, 3, 29, 22, 5, tzinfo=UTC)]
    profile = agp([100.0, 200.0], times, tz=berlin)
    assert profile.count[0] == 2
    assert profile.p50[0] == 150.0


def test_agp_uses_the_last_14_days_and_288_bins() -> None:
    times = every_5_min(288 * 20)
    values = np.where(np.arange(288 * 20) < 288 * 6, 400.0, 100.0)  # old days are high
    profile = agp(values, times, bin_minutes=5)
    assert profile.bin_start_min.shape == (288,)
    assert (profile.count == 14).all()
    assert (profile.p95 == 100.0).all()


def _simulated(seed: int, n: int = 288 * 14) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = 1_767_571_200.0 + 300.0 * np.arange(n) + rng.uniform(-20, 20, n)
    v = 140 + 60 * np.sin(np.arange(n) / 40.0) + rng.normal(0, 25, n)
    v = np.clip(np.round(v), 40, 400)
    v[rng.random(n) < 0.05] = np.nan
    return v, t


@pytest.mark.parametrize("seed", range(5))
def test_summary_matches_the_pure_python_reference(seed: int) -> None:
    v, t = _simulated(seed)
    fast = summary(v, t)
    slow = ref.summary(v.tolist(), t.tolist())
    for name, expected in slow.items():
        assert getattr(fast, name) == pytest.approx(expected, rel=1e-12), name


@pytest.mark.parametrize("seed", range(3))
def test_agp_matches_the_pure_python_reference(seed: int) -> None:
    v, t = _simulated(seed, n=288 * 16)
    fast = agp(v, t)
    slow = ref.agp(v.tolist(), t.tolist())
    for i, row in enumerate(slow):
        got = (fast.p5[i], fast.p25[i], fast.p50[i], fast.p75[i], fast.p95[i])
        if row is None:
            assert all(math.isnan(x) for x in got)
        else:
            assert got == pytest.approx(row, rel=1e-12)
    # And numpy's own percentile agrees on one bin.
    hours = np.mod(t, 86400) // 900
    keep = np.isfinite(v) & (t > t[np.isfinite(v)].max() - 14 * 86400) & (hours == 10)
    assert fast.p25[10] == pytest.approx(np.percentile(v[keep], 25))


def test_benchmark_runs_and_agrees_with_its_reference() -> None:
    from tests.bench import cgm

    (fig,) = cgm.run(patients=6, baseline_patients=3)
    assert fig.bench == "cgm"
    assert fig.unit == "s"
    assert fig.figure > 0
    assert fig.baseline is not None
    assert fig.ratio == pytest.approx(fig.baseline / fig.figure, rel=0.01, abs=0.01)
    assert fig.extra is not None
    assert fig.extra["readings"] > 6 * 288 * 14 * 0.9
