"""LTTB keeps the shape, the ends and the extremes, within the point budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cloud.trends.lttb import lttb_indices


def reference_lttb(x: list[float], y: list[float], n_out: int) -> list[int]:
    """The algorithm as published, one plain loop per bucket (slow, obvious)."""
    n = len(x)
    every = (n - 2) / (n_out - 2)
    out, a = [0], 0
    for i in range(n_out - 2):
        lo, hi = int(i * every) + 1, int((i + 1) * every) + 1
        nlo, nhi = hi, min(int((i + 2) * every) + 1, n)
        ax = sum(x[nlo:nhi]) / (nhi - nlo)
        ay = sum(y[nlo:nhi]) / (nhi - nlo)
        best, best_area = lo, -1.0
        for j in range(lo, hi):
            area = abs((x[a] - ax) * (y[j] - y[a]) - (x[a] - x[j]) * (ay - y[a]))
            if area > best_area:
                best, best_area = j, area
        out.append(best)
        a = best
    return [*out, n - 1]


def test_matches_the_published_algorithm() -> None:
    rng = np.random.default_rng(7)
    x = np.arange(5000, dtype=np.float64)
    y = np.cumsum(rng.normal(size=5000))
    got = lttb_indices(x, y, 200, keep_extremes=False)
    assert got.tolist() == reference_lttb(x.tolist(), y.tolist(), 200)


def test_short_series_are_returned_whole() -> None:
    x = np.arange(10, dtype=np.float64)
    assert lttb_indices(x, x, 10).tolist() == list(range(10))
    assert lttb_indices(x, x, 50).tolist() == list(range(10))


def test_a_one_sample_spike_survives() -> None:
    x = np.arange(100_000, dtype=np.float64)
    y = np.full(100_000, 70.0)
    y[123] = 30.0  # a brief bradycardia
    y[54_321] = 180.0
    got = lttb_indices(x, y, 100)
    assert {123, 54_321} <= set(got.tolist())
    assert len(got) <= 100


def test_too_few_points_are_refused() -> None:
    x = np.arange(10, dtype=np.float64)
    with pytest.raises(ValueError, match="at least 3"):
        lttb_indices(x, x, 2)


@settings(max_examples=200, deadline=None)
@given(
    y=hnp.arrays(np.float64, st.integers(5, 400), elements=st.floats(-1e6, 1e6)),
    n_out=st.integers(4, 60),
)
def test_budget_ends_and_extremes_always_hold(y: np.ndarray, n_out: int) -> None:
    x = np.arange(len(y), dtype=np.float64)
    got = lttb_indices(x, y, n_out).tolist()
    assert len(got) <= n_out
    assert got == sorted(set(got))
    assert got[0] == 0
    assert got[-1] == len(y) - 1
    assert y[got].min() == y.min()
    assert y[got].max() == y.max()
