"""Least-squares trends over trailing time windows, and trend rules (weight gain in heart failure).

For each sample i the window is ``[t_i − window_s, t_i]``; the slope is the ordinary
least-squares fit of value on time over the usable samples in it, from running sums, so
all windows cost O(N). Slopes are in units per day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from gateway.signal.change import ChangeRule
from gateway.signal.findings import (
    Evaluation,
    Level,
    RuleState,
    episodes,
    level_findings,
)
from gateway.signal.series import DAY, F64, Series


@dataclass(frozen=True, slots=True, eq=False)
class Trend:
    """Per sample: OLS slope (unit/day), samples used, and the window's time span (days)."""

    slope: F64
    n: np.ndarray
    span_days: F64


def slope(t: F64, v: F64) -> float:
    """OLS slope of ``v`` on ``t`` (unit per day) for one window; NaN for < 2 distinct times."""
    if t.size < 2:
        return float("nan")
    td = (t - t.mean()) / DAY
    sxx = float(np.dot(td, td))
    return float(np.dot(td, v - v.mean()) / sxx) if sxx > 0 else float("nan")


def rolling_slope(t: F64, v: F64, window_s: float) -> Trend:
    """OLS slope over ``[t_i − window_s, t_i]`` for every i (``t`` sorted, ``v`` finite).

    Running sums with time in days from the first sample and values centred on their mean,
    which keeps the cancellation error far below clinical resolution for months of data.
    """
    n_all = t.size
    if n_all == 0:
        return Trend(np.empty(0), np.empty(0, dtype=np.intp), np.empty(0))
    x = (t - t[0]) / DAY
    y = v - v.mean()
    lo = np.searchsorted(t, t - window_s, side="left")
    hi = np.arange(1, n_all + 1)

    def window_sum(a: F64) -> F64:
        c = np.concatenate(([0.0], np.cumsum(a)))
        return c[hi] - c[lo]

    n = (hi - lo).astype(np.float64)
    sx, sy = window_sum(x), window_sum(y)
    sxx, sxy = window_sum(x * x), window_sum(x * y)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = sxx - sx * sx / n
        cov = sxy - sx * sy / n
        out = np.where(var > 1e-12 * np.maximum(sxx, 1.0), cov / var, np.nan)
    return Trend(out, hi - lo, x - x[lo])


@dataclass(frozen=True, slots=True)
class TrendRule(ChangeRule):
    """Fires when the fitted change over the window, ``slope × window``, reaches ``rise``
    (or falls by ``fall``), from at least ``min_samples`` usable samples spanning at least
    half the window; clears below ``clear_fraction`` of the amount."""

    KIND: ClassVar[str] = "trend"
    NEEDS: ClassVar[str] = "needs window_s > 0 and min_samples ≥ 2"

    clear_fraction: float = 0.5
    min_samples: int = 2
    confirm_s: float = 0.0
    """Confirmation window (s), see ``gateway.signal.confirm``; 0 alerts at once."""
    confirm_by: str = "next"

    def sound(self) -> bool:
        return self.min_samples >= 2


def evaluate_trend(
    rule: TrendRule, series: Series, now: float, since: float | None, state: RuleState
) -> Evaluation:
    """``rules.evaluate`` for a TrendRule."""
    s = series.until(now)
    t, v = s.t[s.usable], s.v[s.usable]
    tr = rolling_slope(t, v, rule.window_s)
    window_days = rule.window_s / DAY
    change = tr.slope * window_days
    enough = (tr.n >= rule.min_samples) & (tr.span_days >= window_days / 2)
    found = []
    active: dict[str, bool] = {}
    for name, amount, sign in (("rise", rule.rise, 1.0), ("fall", rule.fall, -1.0)):
        if amount is None:
            continue
        with np.errstate(invalid="ignore"):
            beyond = enough & (sign * change >= amount)
            clear = enough & (sign * change < amount * rule.clear_fraction)
        level = Level(name, rule.priority, (("amount", amount), ("window_s", rule.window_s)))
        ep = episodes(t, beyond, clear, rule.persistence, active=state.active.get(name, False))
        extra = {"slope_per_day": tr.slope, "change": change, "n": tr.n.astype(np.float64)}
        found += level_findings(
            rule, level, t, v, ep, span=np.maximum(tr.n, 1), since=since, extra=extra
        )
        active[name] = ep.active_at_end
    found.sort(key=lambda f: (f.ts, f.kind.value != "all_clear"))
    return Evaluation(tuple(found), RuleState(active))
