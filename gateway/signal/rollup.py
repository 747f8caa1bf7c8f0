"""Per-period aggregates of continuous streams (count, min, max, mean, median, last, HRV).

Periods are ``[origin + k·period, origin + (k+1)·period)`` in UTC epoch seconds, so a minute
rollup starts on the minute whatever the first sample's time. Only usable samples are
aggregated; refused ones are counted in ``rejected``. A period with no usable sample but
some refused ones yields a rollup with ``count == 0`` and NaN aggregates, which
``to_wire`` leaves out (the wire needs at least one value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway import wire
from gateway.signal.hrv import time_domain_grouped
from gateway.signal.series import F64, MINUTE, Series, SignalError, from_epoch


@dataclass(frozen=True, slots=True, eq=False)
class Rollups:
    """One row per period that holds samples; arrays of equal length, times in epoch seconds."""

    start: F64
    period: float
    count: np.ndarray
    rejected: np.ndarray
    min: F64
    max: F64
    mean: F64
    median: F64
    last: F64

    def __len__(self) -> int:
        return int(self.start.size)

    def as_series(self, field: str = "mean") -> Series:
        """One aggregate as a series stamped at each period's end, so that a period still
        under way (end after ``now``) is not evaluated before it is complete."""
        has = self.count > 0
        values: F64 = getattr(self, field)
        end = self.start[has] + self.period
        return Series(end, values[has], np.ones(end.size, dtype=np.bool_))


def _group_median(v: F64, gi: np.ndarray, first: np.ndarray, n: np.ndarray) -> F64:
    """Median of each contiguous group (``first``: start index, ``n``: size, both per group).

    Groups of similar size (the usual case: a minute of 1 Hz samples) go into one NaN-padded
    matrix sorted row by row; otherwise one sort of ``group + scaled value`` sorts within
    groups.
    """
    width = int(n.max(initial=0))
    if v.size and width * n.size <= 4 * v.size:
        group = np.repeat(np.arange(n.size), n)
        table = np.full((n.size, width), np.nan)
        table[group, np.arange(v.size) - first[group]] = v
        table.sort(axis=1)
        rows = np.arange(n.size)
        out: F64 = (table[rows, (n - 1) // 2] + table[rows, n // 2]) / 2.0
        return out
    span = float(np.ptp(v)) if v.size else 0.0
    key = gi + (v - v.min()) / (2.0 * span + 1.0) if v.size else gi.astype(np.float64)
    ordered = v[np.argsort(key, kind="stable")]
    lo = first + (n - 1) // 2
    hi = first + n // 2
    res: F64 = (ordered[lo] + ordered[hi]) / 2.0
    return res


def _sorted_groups(bins: F64) -> tuple[F64, np.ndarray]:
    """``np.unique(bins, return_inverse=True)`` for sorted ``bins``, without a sort."""
    if bins.size == 0:
        return bins, np.empty(0, dtype=np.intp)
    change = np.empty(bins.size, dtype=np.bool_)
    change[0] = True
    np.not_equal(bins[1:], bins[:-1], out=change[1:])
    return bins[change], np.cumsum(change) - 1


def rollup(series: Series, *, period: float = MINUTE, origin: float = 0.0) -> Rollups:
    """Aggregate ``series`` into periods of ``period`` seconds (usable samples only)."""
    if not period > 0:
        raise SignalError("a rollup period must be a positive number of seconds")
    bins = np.floor((series.t - origin) / period)
    all_starts, all_inverse = _sorted_groups(bins)
    k = all_starts.size
    total = np.bincount(all_inverse, minlength=k)
    u = series.usable
    v, gi = series.v[u], all_inverse[u]
    count = np.bincount(gi, minlength=k)
    nan = np.full(k, np.nan)
    mins, maxs, means, meds, lasts = nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy()
    has = count > 0
    if v.size:
        first = np.concatenate(([0], np.cumsum(count[has])[:-1]))
        mins[has] = np.minimum.reduceat(v, first)
        maxs[has] = np.maximum.reduceat(v, first)
        means[has] = np.add.reduceat(v, first) / count[has]
        lasts[has] = v[first + count[has] - 1]
        meds[has] = _group_median(v, gi, first, count[has])
    return Rollups(
        start=origin + all_starts * period,
        period=float(period),
        count=count,
        rejected=total - count,
        min=mins,
        max=maxs,
        mean=np.clip(means, mins, maxs),
        median=meds,
        last=lasts,
    )


def rollup_hrv(
    rr_t: F64, rr_seconds: F64, *, period: float = MINUTE, origin: float = 0.0
) -> dict[str, F64]:
    """HRV per period from RR intervals stamped ``rr_t``; keys as ``hrv.time_domain_grouped``
    plus ``start``."""
    bins = np.floor((rr_t - origin) / period)
    out = time_domain_grouped(rr_seconds, bins)
    out["start"] = origin + np.unique(bins) * period
    return out


def to_wire(
    rollups: Rollups,
    *,
    patient_id: str,
    device_id: str,
    metric: wire.Metric,
    hrv: dict[str, F64] | None = None,
) -> list[wire.Rollup]:
    """Wire rollups for the periods that hold at least one usable value."""
    hrv_at: dict[float, wire.Hrv] = {}
    if hrv is not None:
        for i in np.flatnonzero(hrv["n_intervals"] >= 2):
            hrv_at[float(hrv["start"][i])] = wire.Hrv(
                rmssd_ms=float(hrv["rmssd_ms"][i]),
                sdnn_ms=float(hrv["sdnn_ms"][i]),
                pnn50=float(hrv["pnn50"][i]),
                mean_hr=float(hrv["mean_hr"][i]),
                n_intervals=int(hrv["n_intervals"][i]),
            )
    out = []
    for i in np.flatnonzero(rollups.count > 0):
        start = float(rollups.start[i])
        out.append(
            wire.Rollup(
                id=f"{device_id}.{metric.value}.{int(start)}",
                patient_id=patient_id,
                device_id=device_id,
                metric=metric,
                unit=wire.CANONICAL_UNITS[metric],
                start=from_epoch(start),
                end=from_epoch(start + rollups.period),
                count=int(rollups.count[i]),
                min=float(rollups.min[i]),
                max=float(rollups.max[i]),
                mean=float(rollups.mean[i]),
                median=float(rollups.median[i]),
                last=float(rollups.last[i]),
                rejected=int(rollups.rejected[i]),
                hrv=hrv_at.get(start),
            )
        )
    return out
