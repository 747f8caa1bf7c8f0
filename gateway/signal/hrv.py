"""Time-domain heart-rate variability from RR intervals.

Definitions follow the Task Force of the ESC and NASPE, "Heart rate variability: standards
of measurement, physiological interpretation and clinical use", Circulation 1996;93:1043-65:
SDNN is the standard deviation of the NN intervals (sample SD, ``ddof=1``), RMSSD the root
mean square of successive differences, pNN50 the percentage of successive differences larger
than 50 ms out of all successive differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from gateway.signal.series import F64, SignalError

RR_PLAUSIBLE_S = (0.2, 3.0)
"""RR intervals outside 0.2-3.0 s (300-20 /min) are artefacts, never beats."""


@dataclass(frozen=True, slots=True)
class HrvTimeDomain:
    """RMSSD and SDNN in ms, pNN50 in percent, mean HR in beats per minute."""

    rmssd_ms: float
    sdnn_ms: float
    pnn50: float
    mean_hr: float
    n_intervals: int


def _intervals(rr_seconds: ArrayLike) -> F64:
    rr = np.asarray(rr_seconds, dtype=np.float64).ravel()
    if not np.isfinite(rr).all():
        raise SignalError("RR intervals must be finite seconds; drop NaN/inf before computing HRV")
    low, high = RR_PLAUSIBLE_S
    if rr.size and ((rr < low) | (rr > high)).any():
        raise SignalError(f"RR intervals must lie in {low}-{high} s; are they in milliseconds?")
    if rr.size < 2:
        raise SignalError(f"HRV needs at least 2 RR intervals, got {rr.size}")
    return rr


def time_domain(rr_seconds: ArrayLike) -> HrvTimeDomain:
    """RMSSD, SDNN (ddof=1), pNN50 and mean HR (= 60 / mean RR, /min) of ``rr_seconds``.

    Raises SignalError for fewer than 2 intervals, non-finite values or values outside
    0.2-3.0 s (milliseconds passed by mistake).
    """
    rr = _intervals(rr_seconds)
    rr_ms = rr * 1000.0
    diffs = np.diff(rr_ms)
    return HrvTimeDomain(
        rmssd_ms=float(np.sqrt(np.mean(diffs**2))),
        sdnn_ms=float(np.std(rr_ms, ddof=1)),
        pnn50=float(100.0 * np.count_nonzero(np.abs(diffs) > 50.0) / diffs.size),
        mean_hr=float(60.0 / rr.mean()),
        n_intervals=int(rr.size),
    )


def time_domain_grouped(rr_seconds: F64, group: np.ndarray) -> dict[str, F64]:
    """``time_domain`` for many windows at once; ``group`` is a sorted window index per interval.

    Returns arrays indexed by the group's position in ``np.unique(group)``: ``rmssd_ms``,
    ``sdnn_ms``, ``pnn50``, ``mean_hr``, ``n_intervals``; groups with fewer than 2 plausible
    intervals get NaN. Implausible or non-finite intervals are left out.
    """
    low, high = RR_PLAUSIBLE_S
    ok = np.isfinite(rr_seconds) & (rr_seconds >= low) & (rr_seconds <= high)
    groups, inverse = np.unique(group, return_inverse=True)
    rr_ms, gi = rr_seconds[ok] * 1000.0, inverse[ok]
    k = groups.size
    n = np.bincount(gi, minlength=k).astype(np.float64)
    s1 = np.bincount(gi, rr_ms, minlength=k)
    s2 = np.bincount(gi, rr_ms**2, minlength=k)
    same = gi[1:] == gi[:-1]
    d = np.diff(rr_ms)[same]
    gd = gi[1:][same]
    nd = np.bincount(gd, minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = np.maximum(s2 - n * mean**2, 0.0) / (n - 1)
        out = {
            "rmssd_ms": np.sqrt(np.bincount(gd, d**2, minlength=k) / nd),
            "sdnn_ms": np.sqrt(var),
            "pnn50": 100.0 * np.bincount(gd, np.abs(d) > 50.0, minlength=k) / nd,
            "mean_hr": 60000.0 / mean,
            "n_intervals": n,
        }
    too_few = n < 2
    for key in ("rmssd_ms", "sdnn_ms", "pnn50", "mean_hr"):
        out[key][too_few] = np.nan
    return out
