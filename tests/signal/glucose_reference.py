"""Slow, obvious pure-Python glucose metrics: the check on ``gateway.signal.glucose``."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def summary(values: list[float], times: list[float], interval_s: float = 300.0) -> dict[str, float]:
    """The consensus metrics, one reading at a time (times: UTC epoch seconds)."""
    pairs = sorted((t, v) for t, v in zip(times, values, strict=True) if math.isfinite(v))
    vs = [v for _, v in pairs]
    n = len(vs)
    below_54 = below_70 = in_range = above_180 = above_250 = 0
    total = 0.0
    for v in vs:
        total += v
        if v < 54:
            below_54 += 1
        if v < 70:
            below_70 += 1
        elif v <= 180:
            in_range += 1
        else:
            above_180 += 1
            if v > 250:
                above_250 += 1
    mean = total / n
    var = sum((v - mean) ** 2 for v in vs) / (n - 1)
    first, last = pairs[0][0], pairs[-1][0]
    slots = {int((t - first) // interval_s) for t, _ in pairs}
    expected = int((last - first) // interval_s) + 1
    return {
        "tbr_54": 100 * below_54 / n,
        "tbr_70": 100 * below_70 / n,
        "tir": 100 * in_range / n,
        "tar_180": 100 * above_180 / n,
        "tar_250": 100 * above_250 / n,
        "mean_mg_dl": mean,
        "gmi": 3.31 + 0.02392 * mean,
        "cv": 100 * math.sqrt(var) / mean,
        "wear": 100 * min(len(slots), expected) / expected,
    }


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (Hyndman–Fan 7, numpy's default)."""
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def agp(
    values: list[float], times: list[float], bin_minutes: int = 15
) -> list[tuple[float, float, float, float, float] | None]:
    """Per time-of-day bin (UTC): the 5/25/50/75/95th percentiles, None when empty. Uses the
    14 days up to the last reading."""
    last = max(t for t, v in zip(times, values, strict=True) if math.isfinite(v))
    bins: list[list[float]] = [[] for _ in range(1440 // bin_minutes)]
    for t, v in zip(times, values, strict=True):
        if not math.isfinite(v) or not last - 14 * 86400 < t <= last:
            continue
        moment = datetime.fromtimestamp(t, UTC)
        minute = moment.hour * 60 + moment.minute + moment.second / 60
        bins[int(minute // bin_minutes)].append(v)
    out: list[tuple[float, float, float, float, float] | None] = []
    for b in bins:
        if not b:
            out.append(None)
            continue
        s = sorted(b)
        p5, p25, p50, p75, p95 = (percentile(s, q) for q in (5, 25, 50, 75, 95))
        out.append((p5, p25, p50, p75, p95))
    return out
