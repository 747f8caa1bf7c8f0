"""Cleaning: mark samples unfit for alerts, and say why, without ever dropping one.

Four checks, in order, each a vectorized pass: a non-finite or physiologically implausible
value; a device flag (contact lost, body movement, cuff fit, irregular pulse); for
continuous streams, a spike that a Hampel filter (rolling median ± n robust SDs) refuses;
and for spot metrics such as weight a step no body makes in a day (``artefacts``).
Every rejected sample keeps its value and gets a reason code, counted per reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np

from gateway.signal.artefacts import STEP_LIMIT, steps
from gateway.signal.series import F64, Bool, Series
from gateway.wire import Metric


class Rejection(IntEnum):
    """Why a sample may not drive an alert (0 = it may)."""

    OK = 0
    NON_FINITE = 1
    IMPLAUSIBLE = 2
    DEVICE_FLAG = 3
    SPIKE = 4
    FUTURE = 5
    STEP = 6


PLAUSIBLE: Final[Mapping[Metric, tuple[float, float]]] = {
    # Outside these a value is a sensor or unit error, not a patient state. Bounds are wider
    # than any recorded survivable extreme (e.g. HR 20-300 /min, SpO2 50-100 %, core
    # temperature 25-45 °C) so that a real emergency is never cleaned away.
    Metric.HEART_RATE: (20.0, 300.0),
    Metric.PULSE_RATE: (20.0, 300.0),
    Metric.SYSTOLIC_BP: (40.0, 300.0),
    Metric.DIASTOLIC_BP: (20.0, 200.0),
    Metric.MEAN_ARTERIAL_PRESSURE: (25.0, 250.0),
    Metric.SPO2: (50.0, 100.0),
    Metric.BODY_TEMPERATURE: (25.0, 45.0),
    Metric.BODY_WEIGHT: (10.0, 400.0),
    Metric.BMI: (8.0, 100.0),
    Metric.BODY_HEIGHT: (40.0, 250.0),
    Metric.BODY_FAT: (1.0, 75.0),
    Metric.BLOOD_GLUCOSE: (10.0, 1000.0),  # meters read 20-600 mg/dL
    Metric.RESPIRATORY_RATE: (2.0, 80.0),
    Metric.BATTERY_LEVEL: (0.0, 100.0),
}
"""Physiological plausibility bounds, inclusive, in each metric's canonical unit."""

SPIKE_FLOOR: Final[Mapping[Metric, float]] = {
    # A jump smaller than this is never called a spike, however quiet the neighbours: a
    # beat-to-beat HR change of 15 /min or an SpO2 step of 4 % is physiology.
    Metric.HEART_RATE: 15.0,
    Metric.PULSE_RATE: 15.0,
    Metric.SPO2: 4.0,
    Metric.RESPIRATORY_RATE: 6.0,
}
"""Metrics cleaned for spikes (continuous streams), with the smallest deviation refused."""

UNUSABLE_FLAGS: Final = frozenset({"contact_lost", "body_movement", "cuff_fit", "irregular_pulse"})
"""Device flags (``Quality.flags``) that make a sample unfit for alerts."""

SPIKE_MAX_GAP_S: Final = 30.0
"""Only samples within 30 s of a neighbour are part of a stream that spikes can be judged in;
an isolated spot reading (an oximeter check three times a day) is never called a spike."""
HAMPEL_HALF_WINDOW: Final = 2
"""Neighbours on each side in the Hampel window (5 samples: 5 s at 1 Hz)."""
HAMPEL_SIGMAS: Final = 3.0
"""Pearson's rule: refuse beyond 3 robust SDs (1.4826 × MAD) of the rolling median."""


@dataclass(frozen=True, slots=True, eq=False)
class Cleaned:
    """The series with ``usable`` narrowed, the reason per sample and the count per reason."""

    series: Series
    reason: np.ndarray
    counts: Mapping[Rejection, int]

    @property
    def rejected(self) -> int:
        return int(sum(n for r, n in self.counts.items() if r != Rejection.OK))


def _median5(a: F64, b: F64, c: F64, d: F64, e: F64) -> F64:
    """Elementwise median of five arrays in 9 min/max operations (three buffers):
    ``med3(e, max(min(a,b), min(c,d)), min(max(a,b), max(c,d)))``."""
    lo, tmp, hi = np.minimum(a, b), np.minimum(c, d), np.maximum(a, b)
    np.maximum(lo, tmp, out=lo)
    np.maximum(c, d, out=tmp)
    np.minimum(hi, tmp, out=hi)
    np.maximum(e, lo, out=tmp)
    np.minimum(tmp, hi, out=tmp)
    np.minimum(e, lo, out=lo)
    out: F64 = np.maximum(lo, tmp, out=lo)
    return out


def rolling_median(x: F64, half: int) -> F64:
    """Centred running median over ``2·half+1`` samples; the ends repeat the edge values.

    Odd-even transposition sort of shifted copies: ``O(N·w²)`` elementwise work with no
    Python loop over samples, several times faster than sorting each window for w ≤ 7.
    """
    w = 2 * half + 1
    if x.size == 0 or half == 0:
        return x.copy()
    padded = np.concatenate((np.full(half, x[0]), x, np.full(half, x[-1])))
    n = x.size
    if half == 2:
        return _median5(*(padded[i : i + n] for i in range(5)))
    cols = [padded[i : i + n].copy() for i in range(w)]
    for p in range(w):
        for i in range(p % 2, w - 1, 2):
            lo = np.minimum(cols[i], cols[i + 1])
            np.maximum(cols[i], cols[i + 1], out=cols[i + 1])
            cols[i] = lo
    return cols[half]


def hampel(
    x: F64, *, half: int = HAMPEL_HALF_WINDOW, sigmas: float = HAMPEL_SIGMAS, floor: float = 0.0
) -> Bool:
    """True where ``x`` is a spike: ``|x - median| > max(sigmas·1.4826·MAD, floor)`` locally."""
    med = rolling_median(x, half)
    dev = np.abs(x - med)
    mad = rolling_median(dev, half)
    limit: F64 = np.maximum(sigmas * 1.4826 * mad, floor)
    return dev > limit


def _dense(t: F64) -> Bool:
    """True where a sample has a neighbour within ``SPIKE_MAX_GAP_S``."""
    gap = np.diff(t) <= SPIKE_MAX_GAP_S
    out: Bool = np.concatenate(([False], gap)) | np.concatenate((gap, [False]))
    return out


def clean(
    series: Series,
    metric: Metric,
    *,
    now: float | None = None,
    spikes: bool | None = None,
    future_s: float = 300.0,
) -> Cleaned:
    """Mark non-finite, implausible, device-flagged, future-stamped and spike samples unusable.

    ``series.usable`` False on input means a device flag. ``spikes`` defaults to True for the
    continuous metrics of ``SPIKE_FLOOR`` (dense stretches only). Samples later than
    ``now + future_s`` are refused.
    """
    v = series.v
    reason = np.zeros(v.shape, dtype=np.uint8)
    finite = np.isfinite(v)
    low, high = PLAUSIBLE[metric]
    with np.errstate(invalid="ignore"):
        plausible = (v >= low) & (v <= high)
    reason[~series.usable] = Rejection.DEVICE_FLAG
    if now is not None:
        reason[series.t > now + future_s] = Rejection.FUTURE
    reason[finite & ~plausible] = Rejection.IMPLAUSIBLE
    reason[~finite] = Rejection.NON_FINITE
    if spikes is None:
        spikes = metric in SPIKE_FLOOR
    if spikes:
        ok = np.flatnonzero(reason == Rejection.OK)
        spiky = hampel(v[ok], floor=SPIKE_FLOOR.get(metric, 0.0)) & _dense(series.t[ok])
        reason[ok[spiky]] = Rejection.SPIKE
    limit = STEP_LIMIT.get(metric)
    if limit is not None:
        ok_mask = reason == Rejection.OK
        stepped = steps(series.t, v, ok_mask, limit) & ok_mask
        # Again with the stepped readings out of the reference: one artefact moves nothing.
        stepped = steps(series.t, v, ok_mask & ~stepped, limit) & ok_mask
        reason[stepped] = Rejection.STEP
    counts = np.bincount(reason, minlength=len(Rejection))
    return Cleaned(
        series=Series(series.t, v, reason == Rejection.OK),
        reason=reason,
        counts={r: int(counts[r]) for r in Rejection},
    )


def device_usable(flags: tuple[str, ...], usable: bool = True) -> bool:
    """A reading's ``Quality`` → fit for alerts: the device said so and raised no unusable flag."""
    return usable and not UNUSABLE_FLAGS.intersection(flags)
