"""A slow, obvious pure-Python reference of the signal rules, to check the vectorized code.

One loop over samples, one state variable per level, written straight from the rule
definitions in gateway/signal; no numpy. Also the baseline of the signal_replay benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.signal.clean import (
    HAMPEL_HALF_WINDOW,
    HAMPEL_SIGMAS,
    PLAUSIBLE,
    SPIKE_FLOOR,
    SPIKE_MAX_GAP_S,
)
from gateway.signal.findings import Persistence
from gateway.signal.rules import ThresholdRule
from gateway.signal.trends import TrendRule
from gateway.wire import Metric


@dataclass(frozen=True)
class Event:
    level: str
    kind: str  # "fire" | "all_clear"
    ts: float
    value: float


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return (s[(n - 1) // 2] + s[n // 2]) / 2


def clean(metric: Metric, t: list[float], v: list[float], usable: list[bool]) -> list[bool]:
    """Usable after plausibility, device flags and the Hampel filter (edges repeat)."""
    low, high = PLAUSIBLE[metric]
    ok = [u and math.isfinite(x) and low <= x <= high for x, u in zip(v, usable, strict=True)]
    if metric not in SPIKE_FLOOR:
        return ok
    idx = [i for i, good in enumerate(ok) if good]
    xs = [v[i] for i in idx]
    k, n = HAMPEL_HALF_WINDOW, len(xs)

    def window(a: list[float], i: int) -> list[float]:
        return [a[min(max(j, 0), n - 1)] for j in range(i - k, i + k + 1)]

    med = [median(window(xs, i)) for i in range(n)]
    dev = [abs(x - m) for x, m in zip(xs, med, strict=True)]
    ts = [t[i] for i in idx]
    for i in range(n):
        near_prev = i > 0 and ts[i] - ts[i - 1] <= SPIKE_MAX_GAP_S
        near_next = i < n - 1 and ts[i + 1] - ts[i] <= SPIKE_MAX_GAP_S
        mad = median(window(dev, i))
        spike = dev[i] > max(HAMPEL_SIGMAS * 1.4826 * mad, SPIKE_FLOOR[metric])
        if spike and (near_prev or near_next):
            ok[idx[i]] = False
    return ok


def rollup(
    t: list[float], v: list[float], usable: list[bool], period: float
) -> dict[float, dict[str, float]]:
    """Per period start: count, min, max, mean, median, last of usable samples."""
    groups: dict[float, list[float]] = {}
    for ti, vi, ui in zip(t, v, usable, strict=True):
        if ui:
            groups.setdefault(math.floor(ti / period) * period, []).append(vi)
    return {
        start: {"count": len(xs), "min": min(xs), "max": max(xs), "mean": sum(xs) / len(xs),
                "median": median(xs), "last": xs[-1]}
        for start, xs in groups.items()
    }  # fmt: skip


def _persistent(p: Persistence, history: list[tuple[float, bool]]) -> bool:
    """Has the latest sample's condition persisted? ``history``: (t, beyond) so far."""
    if not history[-1][1]:
        return False
    if p.k_of_n is not None:
        k, n = p.k_of_n
        return sum(b for _, b in history[-n:]) >= k
    run = 0
    for _, b in reversed(history):
        if not b:
            break
        run += 1
    start_t = history[-run][0]
    return run >= p.count and history[-1][0] - start_t >= p.seconds


def episodes(
    level: str, p: Persistence, samples: list[tuple[float, float, bool, bool]]
) -> list[Event]:
    """The state machine, one sample at a time: samples are (t, value, beyond, clear)."""
    events = []
    active = False
    history: list[tuple[float, bool]] = []
    for ti, vi, beyond, clear in samples:
        history.append((ti, beyond))
        if not active and _persistent(p, history):
            active = True
            events.append(Event(level, "fire", ti, vi))
        elif active and clear:
            active = False
            events.append(Event(level, "all_clear", ti, vi))
    return events


def threshold(
    rule: ThresholdRule, t: list[float], v: list[float], usable: list[bool]
) -> list[Event]:
    """Fire and all-clear events of a threshold rule."""
    events = []
    for band in rule.bands():
        samples = []
        for ti, vi, ui in zip(t, v, usable, strict=True):
            if not ui:
                continue
            if band.direction > 0:
                samples.append((ti, vi, vi >= band.fire, vi < band.clear))
            else:
                samples.append((ti, vi, vi <= band.fire, vi > band.clear))
        events += episodes(band.level.name, rule.persistence, samples)
    return sorted(events, key=lambda e: (e.ts, e.kind != "all_clear"))


def trend_rise(rule: TrendRule, t: list[float], v: list[float]) -> list[Event]:
    """A TrendRule with ``rise`` on usable samples: fitted change over the window."""
    assert rule.rise is not None
    days = rule.window_s / 86400
    slopes = trailing_slope(t, v, rule.window_s)
    samples = []
    start = 0
    for i, (ti, vi, b) in enumerate(zip(t, v, slopes, strict=True)):
        while t[start] < ti - rule.window_s:
            start += 1
        enough = i - start + 1 >= rule.min_samples and (ti - t[start]) / 86400 >= days / 2
        ok = enough and not math.isnan(b)
        beyond = ok and b * days >= rule.rise
        clear = ok and b * days < rule.rise * rule.clear_fraction
        samples.append((ti, vi, beyond, clear))
    return episodes("rise", rule.persistence, samples)


def trailing_slope(t: list[float], v: list[float], window_s: float) -> list[float]:
    """OLS slope per day over [t_i − window, t_i], NaN for fewer than 2 distinct times."""
    out = []
    start = 0
    for i in range(len(t)):
        while t[start] < t[i] - window_s:
            start += 1
        xs = [(t[j] - t[i]) / 86400 for j in range(start, i + 1)]
        ys = [v[j] for j in range(start, i + 1)]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        out.append(sxy / sxx if sxx > 1e-12 else math.nan)
    return out


def cusum(x: list[float]) -> list[float]:
    s, out = 0.0, []
    for xi in x:
        s = max(0.0, s + xi)
        out.append(s)
    return out
