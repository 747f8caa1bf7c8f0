"""Bounded per-patient, per-metric sample windows in numpy arrays.

A window holds at most ``capacity`` samples, sorted by time with unique times, in arrays of
``2 × capacity`` allocated once: appending in order is a slice copy, and when the arrays
fill up the newest ``capacity`` samples move to the front (amortised O(1) per sample,
constant memory however long the gateway runs). Late (out-of-order) samples are merged in
place; a sample whose time is already held is a duplicate and is counted, not stored twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import ArrayLike

from gateway.signal.series import Series, SignalError
from gateway.wire import Metric

MAX_FUTURE_S: Final = 300.0
"""Samples stamped more than 5 min after ``now`` are refused: a device clock is wrong."""

DEFAULT_CAPACITY: Final[Mapping[Metric, int]] = {
    Metric.HEART_RATE: 4 * 3600,  # 4 h of 1 Hz: enough context for persistence and rollups
    Metric.PULSE_RATE: 4 * 3600,
    Metric.SPO2: 4 * 3600,
    Metric.RESPIRATORY_RATE: 4 * 3600,
}
SPOT_CAPACITY: Final = 512
"""Spot metrics (weight, cuff, thermometer, glucose): over a year of several readings a day."""


@dataclass(frozen=True, slots=True)
class Appended:
    """What one ``Window.extend`` did with the samples it was given."""

    stored: int
    duplicates: int
    too_old: int
    future: int


@dataclass(slots=True)
class Window:
    """A bounded, time-ordered ring of (t, v, usable) samples; see the module docstring."""

    capacity: int
    _t: np.ndarray = field(init=False, repr=False)
    _v: np.ndarray = field(init=False, repr=False)
    _u: np.ndarray = field(init=False, repr=False)
    _start: int = field(init=False, default=0)
    _end: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise SignalError("a window needs a capacity of at least one sample")
        self._t = np.empty(2 * self.capacity, dtype=np.float64)
        self._v = np.empty(2 * self.capacity, dtype=np.float64)
        self._u = np.empty(2 * self.capacity, dtype=np.bool_)

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def last_t(self) -> float | None:
        return float(self._t[self._end - 1]) if len(self) else None

    def series(self) -> Series:
        """A read-only view of the samples held, oldest first (valid until the next extend)."""
        s = slice(self._start, self._end)
        t, v, u = self._t[s], self._v[s], self._u[s]
        for a in (t, v, u):
            a.flags.writeable = False
        return Series(t, v, u)

    def extend(
        self, t: ArrayLike, v: ArrayLike, usable: ArrayLike | None = None, *, now: float
    ) -> Appended:
        """Add samples (any order); refuse those more than ``MAX_FUTURE_S`` after ``now``."""
        new = Series.of(t, v, usable)
        future = new.t > now + MAX_FUTURE_S
        n_future = int(future.sum())
        if n_future:
            new = new.select(~future)
        n_in = len(new)
        if n_in == 0:
            return Appended(0, 0, 0, n_future)
        last = self.last_t
        if last is None or new.t[0] > last:
            self._append_sorted(new)
            return Appended(n_in, 0, 0, n_future)
        return self._merge(new, n_future)

    def _append_sorted(self, new: Series) -> None:
        n = len(new)
        if n >= self.capacity:
            new = Series(
                new.t[-self.capacity :], new.v[-self.capacity :], new.usable[-self.capacity :]
            )
            self._start = self._end = 0
            n = self.capacity
        if self._end + n > self._t.shape[0]:
            keep = min(len(self), self.capacity - n)
            self._compact(keep)
        s = slice(self._end, self._end + n)
        self._t[s], self._v[s], self._u[s] = new.t, new.v, new.usable
        self._end += n
        self._start = max(self._start, self._end - self.capacity)

    def _compact(self, keep: int) -> None:
        src = slice(self._end - keep, self._end)
        self._t[:keep] = self._t[src]
        self._v[:keep] = self._v[src]
        self._u[:keep] = self._u[src]
        self._start, self._end = 0, keep

    def _merge(self, new: Series, n_future: int) -> Appended:
        old = self.series()
        held = np.isin(new.t, old.t)
        fresh = new.select(~held)
        full = len(old) == self.capacity
        too_old = fresh.t < old.t[0] if full else np.zeros(len(fresh), dtype=np.bool_)
        fresh = fresh.select(~too_old)
        merged = Series.of(
            np.concatenate((old.t, fresh.t)),
            np.concatenate((old.v, fresh.v)),
            np.concatenate((old.usable, fresh.usable)),
        )
        self._start = self._end = 0
        self._append_sorted(merged)
        return Appended(len(fresh), int(held.sum()), int(too_old.sum()), n_future)


@dataclass(slots=True)
class Windows:
    """The windows of every (patient, metric) a gateway or replay sees, created on first use."""

    capacity: Mapping[Metric, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    _windows: dict[tuple[str, Metric], Window] = field(default_factory=dict, init=False)

    def get(self, patient_id: str, metric: Metric) -> Window:
        key = (patient_id, metric)
        window = self._windows.get(key)
        if window is None:
            window = Window(self.capacity.get(metric, SPOT_CAPACITY))
            self._windows[key] = window
        return window

    def keys(self) -> list[tuple[str, Metric]]:
        return list(self._windows)


__all__ = ["MAX_FUTURE_S", "Appended", "Window", "Windows"]
