"""Bounded windows: order, duplicates, late and future samples, constant memory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.signal.series import Series, SignalError
from gateway.signal.window import MAX_FUTURE_S, Appended, Window, Windows
from gateway.wire import Metric


def test_in_order_appends_keep_the_newest_capacity() -> None:
    w = Window(5)
    for start in range(0, 12, 3):
        w.extend(np.arange(start, start + 3.0), np.arange(start, start + 3.0) * 10, now=100.0)
    s = w.series()
    assert s.t.tolist() == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert s.v.tolist() == [70.0, 80.0, 90.0, 100.0, 110.0]


def test_late_samples_merge_and_duplicates_are_counted() -> None:
    w = Window(10)
    w.extend([1.0, 2.0, 4.0], [1.0, 2.0, 4.0], now=10.0)
    got = w.extend([3.0, 2.0, 5.0], [3.0, 99.0, 5.0], now=10.0)
    assert got == Appended(stored=2, duplicates=1, too_old=0, future=0)
    assert w.series().t.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert w.series().v.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]  # the first value of t=2 kept


def test_samples_older_than_a_full_window_are_refused() -> None:
    w = Window(3)
    w.extend([10.0, 11.0, 12.0], [1.0, 2.0, 3.0], now=20.0)
    got = w.extend([5.0, 11.5], [0.0, 2.5], now=20.0)
    assert got == Appended(stored=1, duplicates=0, too_old=1, future=0)
    assert w.series().t.tolist() == [11.0, 11.5, 12.0]


def test_future_samples_are_refused() -> None:
    w = Window(4)
    got = w.extend([1.0, 2.0, 1000.0], [1.0, 2.0, 3.0], now=2.0 + MAX_FUTURE_S - 1)
    assert got.future == 1
    assert w.series().t.tolist() == [1.0, 2.0]


def test_nan_values_are_kept_but_unusable_and_nan_times_refused() -> None:
    w = Window(4)
    w.extend([1.0, 2.0], [np.nan, 70.0], now=5.0)
    assert w.series().usable.tolist() == [False, True]
    with pytest.raises(SignalError, match="finite"):
        w.extend([np.nan], [70.0], now=5.0)


def test_views_are_read_only() -> None:
    w = Window(4)
    w.extend([1.0], [70.0], now=5.0)
    with pytest.raises(ValueError, match="read-only"):
        w.series().v[0] = 1.0


def test_memory_is_constant() -> None:
    w = Window(100)
    buffers = (w._t, w._v, w._u)
    for k in range(1000):
        w.extend(np.arange(k * 7, k * 7 + 7.0), np.ones(7), now=1e9)
    assert all(a is b for a, b in zip(buffers, (w._t, w._v, w._u), strict=True))
    assert len(w) == 100
    assert w.series().t[-1] == 6999.0


def test_windows_are_per_patient_and_metric() -> None:
    ws = Windows()
    assert ws.get("p1", Metric.HEART_RATE) is ws.get("p1", Metric.HEART_RATE)
    assert ws.get("p1", Metric.HEART_RATE) is not ws.get("p2", Metric.HEART_RATE)
    assert ws.get("p1", Metric.BODY_WEIGHT).capacity == 512


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    batches=st.lists(
        st.lists(st.integers(0, 200), min_size=0, max_size=20), min_size=1, max_size=15
    ),
    capacity=st.integers(1, 30),
)
def test_any_arrival_order_matches_sorting_everything(
    batches: list[list[int]], capacity: int
) -> None:
    """The window always holds a sorted, unique subset; with room for all, exactly all."""
    w = Window(capacity)
    for b in batches:
        w.extend(np.array(b, dtype=float), np.array(b, dtype=float) * 2, now=1e6)
    s = w.series()
    assert (np.diff(s.t) > 0).all()
    assert len(s) <= capacity
    assert np.array_equal(s.v, s.t * 2)
    everything = np.unique(np.concatenate([np.array(b, dtype=float) for b in batches]))
    assert set(s.t.tolist()) <= set(everything.tolist())
    assert s.t[-1:].tolist() == everything[-1:].tolist()
    big = Window(10_000)
    for b in batches:
        big.extend(np.array(b, dtype=float), np.array(b, dtype=float), now=1e6)
    assert np.array_equal(big.series().t, everything)


def test_series_of_sorts_and_dedups() -> None:
    s = Series.of([3.0, 1.0, 2.0, 1.0], [30.0, 10.0, 20.0, 11.0])
    assert s.t.tolist() == [1.0, 2.0, 3.0]
    assert s.v.tolist() == [10.0, 20.0, 30.0]
