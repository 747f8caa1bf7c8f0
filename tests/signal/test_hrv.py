"""HRV time-domain known answers (Task Force ESC/NASPE 1996 definitions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gateway.signal.hrv import time_domain, time_domain_grouped
from gateway.signal.rollup import rollup_hrv
from gateway.signal.series import SignalError


def test_known_answer() -> None:
    # RR 800, 850, 900, 800, 750 ms: successive differences 50, 50, -100, -50.
    r = time_domain([0.8, 0.85, 0.9, 0.8, 0.75])
    assert r.rmssd_ms == pytest.approx(math.sqrt((50**2 + 50**2 + 100**2 + 50**2) / 4))
    assert r.sdnn_ms == pytest.approx(math.sqrt((20**2 + 30**2 + 80**2 + 20**2 + 70**2) / 4))
    assert r.pnn50 == pytest.approx(25.0)  # only |−100| > 50 ms; exactly 50 ms does not count
    assert r.mean_hr == pytest.approx(60 / 0.82)
    assert r.n_intervals == 5


def test_constant_rhythm() -> None:
    r = time_domain(np.full(60, 1.0))
    assert (r.rmssd_ms, r.sdnn_ms, r.pnn50, r.mean_hr) == (0.0, 0.0, 0.0, 60.0)


def test_two_intervals_is_the_minimum() -> None:
    r = time_domain([1.0, 1.1])
    assert r.rmssd_ms == pytest.approx(100.0)
    assert r.sdnn_ms == pytest.approx(math.sqrt(2) * 50.0)
    assert r.pnn50 == 100.0


@pytest.mark.parametrize(
    ("rr", "match"),
    [
        ([], "at least 2"),
        ([0.8], "at least 2"),
        ([0.8, float("nan"), 0.8], "finite"),
        ([0.8, float("inf")], "finite"),
        ([800.0, 810.0], "milliseconds"),
        ([0.8, -0.8], "0.2-3.0"),
    ],
)
def test_bad_input_is_a_clear_error(rr: list[float], match: str) -> None:
    with pytest.raises(SignalError, match=match):
        time_domain(rr)


def test_grouped_matches_single_windows() -> None:
    rng = np.random.default_rng(7)
    rr = rng.uniform(0.6, 1.2, size=500)
    t = np.cumsum(rr)
    out = rollup_hrv(t, rr, period=60.0)
    bins = np.floor(t / 60.0)
    for i, b in enumerate(np.unique(bins)):
        one = time_domain(rr[bins == b])
        assert out["rmssd_ms"][i] == pytest.approx(one.rmssd_ms)
        assert out["sdnn_ms"][i] == pytest.approx(one.sdnn_ms)
        assert out["pnn50"][i] == pytest.approx(one.pnn50)
        assert out["mean_hr"][i] == pytest.approx(one.mean_hr)
        assert out["start"][i] == b * 60.0


def test_grouped_leaves_out_artefacts_and_small_groups() -> None:
    rr = np.array([0.8, 0.9, np.nan, 5.0, 0.7])
    out = time_domain_grouped(rr, np.array([0, 0, 0, 1, 1]))
    assert out["n_intervals"].tolist() == [2.0, 1.0]
    assert out["rmssd_ms"][0] == pytest.approx(100.0)
    assert math.isnan(out["rmssd_ms"][1])


def test_rollups_carry_hrv_on_the_wire() -> None:
    from gateway.signal.rollup import rollup, to_wire
    from gateway.signal.series import Series
    from gateway.wire import Metric

    rr = np.tile([0.8, 0.85, 0.9, 0.8, 0.75], 30)
    t = np.cumsum(rr)
    hr = Series.of(t, 60.0 / rr)
    rows = to_wire(rollup(hr), patient_id="p1", device_id="hr-1", metric=Metric.HEART_RATE,
                   hrv=rollup_hrv(t, rr))  # fmt: skip
    assert len(rows) == 3  # 150 beats of 0.82 s on average: 123 s
    assert rows[0].hrv is not None
    assert rows[0].hrv.n_intervals == rows[0].count
    assert rows[0].hrv.pnn50 == pytest.approx(
        100 * np.mean(np.abs(np.diff(rr[: rows[0].count] * 1000)) > 50)
    )
    assert rows[0].hrv.mean_hr == pytest.approx(60 / rr[: rows[0].count].mean())
