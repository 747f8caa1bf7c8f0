"""Cleaning marks and counts, never drops; rollups agree with the obvious computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gateway import wire
from gateway.signal.clean import Rejection, clean, device_usable, rolling_median
from gateway.signal.rollup import rollup, to_wire
from gateway.signal.series import Series, SignalError
from gateway.wire import Metric
from tests.signal import reference


def test_each_reason_is_marked_and_counted() -> None:
    t = np.arange(12.0)
    v = np.array([70, 71, np.nan, 72, 400, 71, 150, 70, 71, np.inf, 72, 71], dtype=float)
    usable = np.ones(12, dtype=bool)
    usable[7] = False  # contact lost
    c = clean(Series(t, v, usable), Metric.HEART_RATE, now=5.0, future_s=0.5)
    assert c.reason.tolist() == [0, 0, 1, 0, 2, 0, 5, 5, 5, 1, 5, 5]
    c = clean(Series(t, v, usable), Metric.HEART_RATE)
    assert c.reason.tolist() == [0, 0, 1, 0, 2, 0, 4, 3, 0, 1, 0, 0]
    assert c.counts[Rejection.SPIKE] == 1
    assert c.counts[Rejection.NON_FINITE] == 2
    assert c.rejected == 5
    assert np.array_equal(c.series.v, v, equal_nan=True)  # evidence kept


def test_small_steps_and_spot_metrics_are_not_spikes() -> None:
    hr = np.array([60, 62, 75, 76, 77, 78, 64, 63], dtype=float)  # a real step up and down
    assert clean(Series.of(np.arange(8.0), hr), Metric.HEART_RATE).rejected == 0
    weight = np.array([80, 80.1, 95, 80.2, 80.1], dtype=float)
    cleaned = clean(Series.of(np.arange(5.0), weight), Metric.BODY_WEIGHT)
    # Not a spike: a step no body makes (another person on the scale), flagged as such.
    assert cleaned.counts[Rejection.SPIKE] == 0
    assert cleaned.reason.tolist() == [0, 0, Rejection.STEP, 0, 0]


def test_agrees_with_the_reference_on_random_streams() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        n = 400
        v = 70 + np.cumsum(rng.normal(0, 1, n))
        spikes = rng.random(n) < 0.03
        v[spikes] += rng.choice([-60.0, 60.0, 500.0], spikes.sum())
        v[rng.random(n) < 0.01] = np.nan
        u = rng.random(n) > 0.02
        t = np.cumsum(rng.choice([1.0, 1.0, 1.0, 45.0], n))  # 1 Hz with gaps
        got = clean(Series(t, v, u & np.isfinite(v)), Metric.HEART_RATE).series.usable
        want = reference.clean(Metric.HEART_RATE, t.tolist(), v.tolist(), u.tolist())
        assert got.tolist() == want


@pytest.mark.parametrize("half", [0, 1, 2, 3])
def test_rolling_median(half: int) -> None:
    x = np.random.default_rng(half).normal(size=101)
    pad = np.concatenate((np.full(half, x[0]), x, np.full(half, x[-1])))
    want = [float(np.median(pad[i : i + 2 * half + 1])) for i in range(x.size)]
    assert rolling_median(x, half).tolist() == pytest.approx(want)


def test_device_flags() -> None:
    assert device_usable(("contact_lost",)) is False
    assert device_usable(("low_battery",)) is True
    assert device_usable((), usable=False) is False


def test_rollup_known_answer() -> None:
    t = np.array([0, 10, 20, 59.9, 60, 61, 130], dtype=float)
    v = np.array([70, 74, 72, 80, 90, 91, 60], dtype=float)
    u = np.array([1, 1, 1, 1, 1, 0, 0], dtype=bool)
    r = rollup(Series(t, v, u))
    assert r.start.tolist() == [0.0, 60.0, 120.0]
    assert r.count.tolist() == [4, 1, 0]
    assert r.rejected.tolist() == [0, 1, 1]
    assert r.min[:2].tolist() == [70.0, 90.0]
    assert r.max[:2].tolist() == [80.0, 90.0]
    assert r.mean[:2].tolist() == [74.0, 90.0]
    assert r.median[:2].tolist() == [73.0, 90.0]
    assert r.last[:2].tolist() == [80.0, 90.0]
    assert math.isnan(r.mean[2])
    rows = to_wire(r, patient_id="p1", device_id="hr-1", metric=Metric.HEART_RATE)
    assert [x.count for x in rows] == [4, 1]
    assert rows[0].median == 73.0
    assert isinstance(rows[0], wire.Rollup)
    assert rows[1].rejected == 1


def test_rollup_agrees_with_the_reference() -> None:
    rng = np.random.default_rng(11)
    t = np.sort(rng.uniform(0, 3600, 2000))
    v = rng.normal(70, 8, t.size).round(1)
    u = rng.random(t.size) > 0.1
    r = rollup(Series(t, v, u), period=60.0)
    want = reference.rollup(t.tolist(), v.tolist(), u.tolist(), 60.0)
    got = {float(s): i for i, s in enumerate(r.start) if r.count[i] > 0}
    assert set(got) == set(want)
    for start, i in got.items():
        for key in ("count", "min", "max", "mean", "median", "last"):
            assert getattr(r, key)[i] == pytest.approx(want[start][key]), key


def test_rollup_of_nothing_and_bad_period() -> None:
    assert len(rollup(Series.empty())) == 0
    with pytest.raises(SignalError, match="positive"):
        rollup(Series.empty(), period=0)


def test_spot_readings_are_never_spikes() -> None:
    """An oximeter check three times a day: a real desaturation must reach the rules."""
    t = np.array([0.0, 6, 12, 18, 24]) * 3600
    c = clean(Series.of(t, [96.0, 95.0, 86.0, 96.0, 95.0]), Metric.SPO2)
    assert c.rejected == 0
    dense = clean(Series.of(np.arange(5.0), [96.0, 95.0, 86.0, 96.0, 95.0]), Metric.SPO2)
    assert dense.reason.tolist() == [0, 0, 4, 0, 0]
