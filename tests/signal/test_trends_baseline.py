"""Slopes on constructed lines, trend rules, baselines, CUSUM."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.signal import FindingKind, Series, SignalError, evaluate
from gateway.signal.baseline import BaselineRule, CusumRule, cusum, rolling_baseline, summarise
from gateway.signal.series import DAY, HOUR
from gateway.signal.trends import TrendRule, rolling_slope, slope
from gateway.wire import Metric
from tests.signal import reference


def test_slope_of_constructed_lines() -> None:
    t = np.arange(10.0) * DAY
    assert slope(t, 80 + 0.5 * np.arange(10.0)) == pytest.approx(0.5)
    assert slope(t, np.full(10, 3.0)) == 0.0
    assert np.isnan(slope(t[:1], np.ones(1)))
    hourly = np.arange(0, 7 * DAY, HOUR)
    tr = rolling_slope(hourly, 70 - 2.0 * hourly / DAY, 3 * DAY)
    assert tr.slope[1:] == pytest.approx(np.full(hourly.size - 1, -2.0))
    assert np.isnan(tr.slope[0])
    assert tr.n[0] == 1
    assert tr.n[-1] == 73


def test_rolling_slope_agrees_with_the_reference() -> None:
    rng = np.random.default_rng(2)
    t = np.sort(rng.choice(np.arange(0.0, 30 * DAY, 600), 300, replace=False))
    v = 80 + rng.normal(0, 1, t.size)
    got = rolling_slope(t, v, 3 * DAY).slope
    want = reference.trailing_slope(t.tolist(), v.tolist(), 3 * DAY)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_weight_trend_rule_fires_on_a_gain_and_clears() -> None:
    days = np.arange(12.0)
    weight = np.array([80, 80.2, 79.9, 80.1, 80.8, 81.5, 82.3, 82.2, 81.0, 80.3, 80.1, 80.0])
    rule = TrendRule(
        "hf.w3", "p", Metric.BODY_WEIGHT, window_s=3 * DAY + 2 * HOUR, rise=2.0, min_samples=3
    )
    got = evaluate(rule, Series.of(days * DAY + 8 * HOUR, weight), now=1e9).findings
    assert [(f.kind, f.ts // DAY) for f in got] == [
        (FindingKind.FIRE, 6),
        (FindingKind.ALL_CLEAR, 8),
    ]
    feats = dict(got[0].evidence.features)
    assert feats["slope_per_day"] == pytest.approx(slope(days[3:7] * DAY, weight[3:7]))
    assert float(feats["change"]) >= 2.0
    assert feats["n"] == 4.0


def test_trend_needs_enough_samples() -> None:
    rule = TrendRule("w", "p", Metric.BODY_WEIGHT, window_s=3 * DAY, rise=2.0, min_samples=3)
    s = Series.of([0.0, 2 * DAY], [80.0, 85.0])
    assert evaluate(rule, s, now=1e9).findings == ()
    with pytest.raises(SignalError):
        TrendRule("w", "p", Metric.BODY_WEIGHT, window_s=DAY)


def test_rolling_baseline_is_the_median_and_mad_of_the_past() -> None:
    t = np.arange(20.0) * DAY
    v = np.array([70, 72, 71, 90, 70, 69, 71, 72, 70, 71, 73, 70, 72, 71, 70, 95, 71, 70, 72, 71.0])
    b = rolling_baseline(t, v, 14 * DAY)
    for i in range(1, 20):
        past = v[max(0, i - 14) : i]
        assert b.median[i] == pytest.approx(np.median(past))
        assert b.mad[i] == pytest.approx(np.median(np.abs(past - np.median(past))))
    assert np.isnan(b.median[0])
    assert b.n.tolist()[:3] == [0, 1, 2]
    assert b.n[-1] == 14


def test_baseline_rule_fires_on_a_personal_outlier() -> None:
    t = np.arange(20.0) * DAY
    v = np.array(
        [
            130,
            132,
            128,
            131,
            129,
            130,
            133,
            131,
            129,
            130,
            128,
            131,
            160,
            131,
            130,
            129,
            131,
            130,
            132,
            130.0,
        ]
    )
    rule = BaselineRule("b", "p", Metric.SYSTOLIC_BP, z=3.0, min_delta=15.0, low=False)
    got = evaluate(rule, Series.of(t, v), now=1e9).findings
    assert [(f.kind, f.ts // DAY) for f in got] == [
        (FindingKind.FIRE, 12),
        (FindingKind.ALL_CLEAR, 13),
    ]
    assert dict(got[0].evidence.features)["baseline_median"] == 130.0


def test_cusum_equals_the_recursion() -> None:
    x = np.random.default_rng(4).normal(-0.2, 1, 500)
    assert cusum(x).tolist() == pytest.approx(reference.cusum(x.tolist()))


def test_cusum_rule_catches_a_slow_drift_a_threshold_misses() -> None:
    days = np.arange(40.0)
    spo2 = np.where(days < 25, 95.0, 95.0 - 0.5 * (days - 24))  # −0.5 %/day from day 25
    spo2 = np.maximum(spo2, 91.0) + np.random.default_rng(1).normal(0, 0.3, days.size)
    rule = CusumRule("c", "p", Metric.SPO2, direction="down", slack=1.0, h=5.0)
    got = evaluate(rule, Series.of(days * DAY, spo2), now=1e9).findings
    fires = [f.ts / DAY for f in got if f.kind is FindingKind.FIRE]
    assert len(fires) == 1
    assert 26 <= fires[0] <= 33
    assert float(dict(got[0].evidence.features)["cusum"]) >= 5.0


def test_summarise_stamps_complete_periods_at_their_end() -> None:
    t = np.arange(0.0, 2.5 * DAY, 60.0)
    hr = 70 + 10 * np.sin(2 * np.pi * t / DAY)
    s = summarise(Series.of(t, hr), ((300.0, "median"), (DAY, "min")))
    assert s.t.tolist() == [DAY, 2 * DAY, 3 * DAY]
    assert s.until(2.5 * DAY).v == pytest.approx([60.0, 60.0], abs=0.1)


@pytest.mark.parametrize("seed", range(6))
def test_trend_rule_agrees_with_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.choice(np.arange(0.0, 40 * DAY, HOUR), 200, replace=False))
    v = 80 + np.cumsum(rng.normal(0, 0.4, t.size))
    rule = TrendRule("w", "p", Metric.BODY_WEIGHT, window_s=3 * DAY, rise=1.0, min_samples=3)
    got = evaluate(rule, Series.of(t, v), now=1e12).findings
    want = reference.trend_rise(rule, t.tolist(), v.tolist())
    assert len(want) > 0
    assert [(f.kind.value, f.ts) for f in got] == [(e.kind, e.ts) for e in want]
