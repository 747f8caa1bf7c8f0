"""Continuous glucose: the time-in-range metrics and the ambulatory glucose profile (AGP).

Ranges follow the international consensus on time in range (Battelino T et al., Diabetes
Care 2019;42:1593–1603): below 54 mg/dL (level 2), below 70 (levels 1 and 2, so it includes
below 54), 70–180 inclusive, above 180 (levels 1 and 2, so it includes above 250), above
250. GMI is Bergenstal RM et al., Diabetes Care 2018;41:2275–80: 3.31 + 0.02392 × mean
glucose in mg/dL (percent). CV is the sample standard deviation (ddof=1) over the mean.

Percent of time is the percent of readings: a CGM reads at a fixed interval, so each reading
stands for one interval and a gap stands for none (gaps lower ``wear``, they are not filled).
Times are aware datetimes, numpy ``datetime64`` (read as UTC) or UTC epoch seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gateway.signal.series import F64, SignalError

URGENT_LOW: Final = 54.0
LOW: Final = 70.0
HIGH: Final = 180.0
VERY_HIGH: Final = 250.0
"""Consensus thresholds, mg/dL."""
GMI_INTERCEPT: Final = 3.31
GMI_SLOPE: Final = 0.02392
CGM_INTERVAL_S: Final = 300.0
"""The 5-minute reading interval wear is measured against."""
AGP_DAYS: Final = 14.0
"""The consensus asks for 14 days of data for an AGP report."""
AGP_PERCENTILES: Final = (5.0, 25.0, 50.0, 75.0, 95.0)
DAY_S: Final = 86_400.0
ZERO: Final = timedelta(0)


@dataclass(frozen=True, slots=True)
class GlucoseSummary:
    """Consensus metrics: the five ranges, CV and wear in percent; mean in mg/dL; GMI in %."""

    tbr_54: float
    tbr_70: float
    tir: float
    tar_180: float
    tar_250: float
    mean_mg_dl: float
    gmi: float
    cv: float
    wear: float
    n_readings: int


@dataclass(frozen=True, slots=True)
class AgpProfile:
    """Percentiles of glucose (mg/dL) by time of day; NaN for a bin without readings.

    ``bin_start_min`` is minutes after local midnight; the percentile arrays share its shape.
    """

    bin_start_min: F64
    p5: F64
    p25: F64
    p50: F64
    p75: F64
    p95: F64
    count: NDArray[np.int64]

    @property
    def median(self) -> F64:
        return self.p50


def epoch_seconds(ts: ArrayLike | Sequence[datetime]) -> F64:
    """UTC epoch seconds of aware datetimes, ``datetime64`` (as UTC) or numbers (as given)."""
    arr = np.asarray(ts)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[us]").astype(np.int64).astype(np.float64) / 1e6
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64).ravel()
    out = np.empty(arr.size, dtype=np.float64)
    for i, moment in enumerate(arr.ravel()):
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise SignalError("glucose times must be aware datetimes (or UTC epoch seconds)")
        out[i] = moment.timestamp()
    return out


def _readings(mg_dl: ArrayLike, ts: ArrayLike | Sequence[datetime]) -> tuple[F64, F64]:
    """Finite, positive values with their times (in the order given)."""
    v = np.asarray(mg_dl, dtype=np.float64).ravel()
    t = epoch_seconds(ts)
    if v.size != t.size:
        raise SignalError(f"{v.size} glucose values but {t.size} times")
    keep = np.isfinite(v) & np.isfinite(t)
    v, t = v[keep], t[keep]
    if (v <= 0).any():
        raise SignalError("glucose values must be positive mg/dL; are they in mmol/L × 0?")
    return v, t


def wear_percent(
    t: F64, *, interval_s: float = CGM_INTERVAL_S, start: float | None = None,
    end: float | None = None,
) -> float:  # fmt: skip
    """Percent of the expected readings (one per ``interval_s``) present between ``start``
    and ``end`` (default: the first and the last reading, both included). A slot counts once
    however many readings fall in it, so duplicates cannot lift wear above 100 %."""
    if t.size == 0:
        return 0.0
    first = float(t.min()) if start is None else start
    last = float(t.max()) if end is None else end
    inside = t[(t >= first) & (t <= last)]
    expected = int((last - first) // interval_s) + 1
    slots = int(np.count_nonzero(np.bincount(((inside - first) // interval_s).astype(np.int64))))
    return float(100.0 * min(slots, expected) / expected)


def summary(
    mg_dl: ArrayLike,
    ts: ArrayLike | Sequence[datetime],
    *,
    interval_s: float = CGM_INTERVAL_S,
    start: datetime | None = None,
    end: datetime | None = None,
) -> GlucoseSummary:
    """The consensus metrics of glucose readings (mg/dL) taken at ``ts``.

    Non-finite values (sensor gaps) are left out; ``start``/``end`` set the period wear is
    measured over (default: first to last reading). SignalError with fewer than 2 readings.
    """
    v, t = _readings(mg_dl, ts)
    if start is not None or end is not None:
        lo = -np.inf if start is None else start.timestamp()
        hi = np.inf if end is None else end.timestamp()
        inside = (t >= lo) & (t <= hi)
        v, t = v[inside], t[inside]
    n = v.size
    if n < 2:
        raise SignalError(f"glucose metrics need at least 2 readings, got {n}")
    mean = float(v.mean())
    pct = 100.0 / n
    return GlucoseSummary(
        tbr_54=float(np.count_nonzero(v < URGENT_LOW) * pct),
        tbr_70=float(np.count_nonzero(v < LOW) * pct),
        tir=float(np.count_nonzero((v >= LOW) & (v <= HIGH)) * pct),
        tar_180=float(np.count_nonzero(v > HIGH) * pct),
        tar_250=float(np.count_nonzero(v > VERY_HIGH) * pct),
        mean_mg_dl=mean,
        gmi=GMI_INTERCEPT + GMI_SLOPE * mean,
        cv=float(v.std(ddof=1) / mean * 100.0),
        wear=wear_percent(
            t,
            interval_s=interval_s,
            start=None if start is None else start.timestamp(),
            end=None if end is None else end.timestamp(),
        ),
        n_readings=n,
    )


def local_seconds_of_day(t: F64, tz: tzinfo) -> F64:
    """Seconds after local midnight in ``tz`` of UTC epoch seconds ``t``.

    The zone's offset is looked up once per distinct UTC hour (offsets change on whole
    hours), so a daylight-saving change lands in the right hour.
    """
    if tz is UTC or t.size == 0:
        return np.mod(t, DAY_S)
    hours, inverse = np.unique(np.floor(t / 3600.0), return_inverse=True)
    offsets = np.array(
        [
            (datetime.fromtimestamp(h * 3600.0, tz).utcoffset() or ZERO).total_seconds()
            for h in hours
        ],
        dtype=np.float64,
    )
    return np.mod(t + offsets[inverse], DAY_S)


def _grouped_percentiles(values: F64, group: NDArray[np.int64], k: int) -> tuple[F64, ...]:
    """Linear-interpolation percentiles (numpy's default, Hyndman–Fan 7) per group 0..k−1."""
    by_value = np.argsort(values)
    order = by_value[np.argsort(group[by_value], kind="stable")]
    v = values[order]
    count = np.bincount(group, minlength=k)
    first = np.concatenate(([0], np.cumsum(count)[:-1]))
    has = count > 0
    out = []
    for q in AGP_PERCENTILES:
        pos = (count - 1) * (q / 100.0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
        frac = pos - lo
        lo_v = v[np.where(has, first + lo, 0)] if v.size else np.zeros(k)
        hi_v = v[np.where(has, first + hi, 0)] if v.size else np.zeros(k)
        out.append(np.where(has, lo_v + (hi_v - lo_v) * frac, np.nan))
    return tuple(out)


def agp(
    mg_dl: ArrayLike,
    ts: ArrayLike | Sequence[datetime],
    *,
    bin_minutes: int = 15,
    tz: tzinfo = UTC,
    days: float = AGP_DAYS,
    end: datetime | None = None,
) -> AgpProfile:
    """The AGP: 5/25/50/75/95th percentiles of glucose by time of day in ``tz``.

    Uses the ``days`` before ``end`` (default: the last reading); ``bin_minutes`` must
    divide the day (15 → 96 bins, 5 → 288).
    """
    if bin_minutes <= 0 or 1440 % bin_minutes:
        raise SignalError(f"bin_minutes must divide 1440; got {bin_minutes}")
    v, t = _readings(mg_dl, ts)
    if t.size:
        hi = float(t.max()) if end is None else end.timestamp()
        inside = (t > hi - days * DAY_S) & (t <= hi)
        v, t = v[inside], t[inside]
    k = 1440 // bin_minutes
    group = (local_seconds_of_day(t, tz) // (bin_minutes * 60.0)).astype(np.int64)
    p5, p25, p50, p75, p95 = _grouped_percentiles(v, group, k)
    return AgpProfile(
        bin_start_min=np.arange(k, dtype=np.float64) * bin_minutes,
        p5=p5,
        p25=p25,
        p50=p50,
        p75=p75,
        p95=p95,
        count=np.bincount(group, minlength=k).astype(np.int64),
    )
