"""Personal baselines (robust rolling median and spread) and CUSUM drift detection.

A baseline at sample i is the median and MAD of the usable samples in the preceding
``window_s`` (default 14 days), the sample itself excluded. Deviation rules fire when a
value leaves ``median ± max(z · 1.4826 · MAD, min_delta)``. CUSUM (Page 1954) accumulates
small deviations from a target — the personal baseline by default — and fires on slow
drifts a threshold misses (SpO2 in COPD, resting HR in heart failure). The one-sided
statistic ``S_i = max(0, S_{i−1} + x_i)`` equals ``C_i − min(0, min_{j≤i} C_j)`` with
``C`` the cumulative sum of ``x``, so it is computed without a loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np

from gateway import wire
from gateway.signal.findings import (
    Evaluation,
    Level,
    Persistence,
    RuleState,
    episodes,
    level_findings,
)
from gateway.signal.rollup import rollup
from gateway.signal.series import DAY, F64, Series, SignalError

BASELINE_WINDOW_S: Final = 14 * DAY
BASELINE_WARMUP_S: Final = 7 * DAY
"""A week of home readings before a personal baseline may judge one (both weekdays and a
weekend, and about 14 readings of a twice-daily routine)."""
MAX_BASELINE_SAMPLES: Final = 256
"""A baseline uses at most the latest 256 samples of its window (summarise dense streams first)."""

Stat = Literal["mean", "median", "min", "max", "last"]
Stages = tuple[tuple[float, Stat], ...]
"""Summaries applied in turn before a rule, e.g. ((300, "median"), (DAY, "min")): the
lowest 5-minute median HR of each day, a resting heart rate."""


@dataclass(frozen=True, slots=True, eq=False)
class Baseline:
    """Per sample: median and MAD of the preceding window, and how many samples they used."""

    median: F64
    mad: F64
    n: np.ndarray


def summarise(series: Series, stages: Stages) -> Series:
    """Apply rollup stages in turn; each output sample is stamped at its period's end."""
    for period, stat in stages:
        series = rollup(series, period=period).as_series(stat)
    return series


def _row_median(rows: F64, n: np.ndarray) -> F64:
    """Median of each row's first ``n`` finite entries (NaN padding sorts last)."""
    s = np.sort(rows, axis=1)
    r = np.arange(rows.shape[0])
    lo, hi = np.maximum((n - 1) // 2, 0), np.maximum(n // 2, 0)
    out: F64 = (s[r, lo] + s[r, hi]) / 2.0
    out[n == 0] = np.nan
    return out


def rolling_baseline(
    t: F64, v: F64, window_s: float = BASELINE_WINDOW_S, max_samples: int = MAX_BASELINE_SAMPLES
) -> Baseline:
    """Median and MAD of ``v`` over ``[t_i − window_s, t_i)`` for each i (``v`` finite)."""
    size = t.size
    lo = np.searchsorted(t, t - window_s, side="left")
    i = np.arange(size)
    lo = np.maximum(lo, i - max_samples)
    n = i - lo
    width = int(n.max(initial=0))
    med, mad = np.full(size, np.nan), np.full(size, np.nan)
    if width == 0:
        return Baseline(med, mad, n)
    for start in range(0, size, 4096):  # bounded memory: 4096 rows × width at a time
        rows = slice(start, min(start + 4096, size))
        idx = i[rows, None] - 1 - np.arange(width)[None, :]
        inside = idx >= lo[rows, None]
        window = np.where(inside, v[np.maximum(idx, 0)], np.nan)
        med[rows] = _row_median(window, n[rows])
        mad[rows] = _row_median(np.abs(window - med[rows, None]), n[rows])
    return Baseline(med, mad, n)


@dataclass(frozen=True, slots=True)
class BaselineRule:
    """Deviation from the personal baseline (both sides unless ``high``/``low`` is False)."""

    rule_id: str
    patient_id: str
    metric: wire.Metric
    z: float = 3.0
    min_delta: float = 0.0
    clear_fraction: float = 0.5
    high: bool = True
    low: bool = True
    window_s: float = BASELINE_WINDOW_S
    min_samples: int = 7
    stages: Stages = ()
    version: int = 1
    priority: wire.Priority = wire.Priority.LOW
    persistence: Persistence = field(default_factory=Persistence)
    category: wire.Category = wire.Category.CLINICAL
    warmup_s: float = BASELINE_WARMUP_S
    """The rule may fire only once the series spans this long (the first usable sample at
    least ``warmup_s`` before): a baseline of a few days' readings is not yet the patient's."""
    confirm_s: float = 0.0
    """Confirmation window (s), see ``gateway.signal.confirm``; 0 alerts at once."""
    confirm_by: str = "next"

    def __post_init__(self) -> None:
        if not (self.z > 0 and self.min_delta >= 0 and 0 < self.clear_fraction <= 1):
            raise SignalError(
                f"rule {self.rule_id}: needs z > 0, min_delta ≥ 0, 0 < clear_fraction ≤ 1"
            )


@dataclass(frozen=True, slots=True)
class CusumRule:
    """One-sided CUSUM of ``direction × (value − target) − slack``; fires at ``h``, clears
    below ``clear_h`` (default ``h / 2``). ``target`` None: the personal baseline median."""

    rule_id: str
    patient_id: str
    metric: wire.Metric
    direction: Literal["up", "down"]
    slack: float
    h: float
    clear_h: float | None = None
    target: float | None = None
    window_s: float = BASELINE_WINDOW_S
    min_samples: int = 7
    stages: Stages = ()
    version: int = 1
    priority: wire.Priority = wire.Priority.MEDIUM
    persistence: Persistence = field(default_factory=Persistence)
    category: wire.Category = wire.Category.CLINICAL

    def __post_init__(self) -> None:
        if not (self.slack >= 0 and self.h > 0) or (
            self.clear_h is not None and not 0 <= self.clear_h <= self.h
        ):
            raise SignalError(f"rule {self.rule_id}: needs slack ≥ 0, h > 0 and 0 ≤ clear_h ≤ h")


def _prepared(series: Series, now: float, stages: Stages) -> tuple[F64, F64]:
    s = series.until(now)
    s = s.select(s.usable)
    if stages:
        s = summarise(s, stages).until(now)
    return s.t, s.v


def cusum(x: F64) -> F64:
    """Page's one-sided CUSUM ``S_i = max(0, S_{i−1} + x_i)``, ``S_{−1} = 0``; NaN counts as 0."""
    c = np.cumsum(np.nan_to_num(x, nan=0.0))
    floor: F64 = np.minimum(np.minimum.accumulate(c), 0.0)
    return c - floor


def evaluate_baseline(
    rule: BaselineRule, series: Series, now: float, since: float | None, state: RuleState
) -> Evaluation:
    """``rules.evaluate`` for a BaselineRule."""
    t, v = _prepared(series, now, rule.stages)
    b = rolling_baseline(t, v, rule.window_s)
    warm = t - t[0] >= rule.warmup_s if t.size else np.zeros(0, dtype=np.bool_)
    enough = (b.n >= rule.min_samples) & warm
    limit = np.maximum(rule.z * 1.4826 * b.mad, rule.min_delta)
    dev = v - b.median
    found = []
    active: dict[str, bool] = {}
    for name, on, sign in (("high", rule.high, 1.0), ("low", rule.low, -1.0)):
        if not on:
            continue
        with np.errstate(invalid="ignore"):
            beyond = enough & (sign * dev >= limit)
            clear = enough & (sign * dev < rule.clear_fraction * limit)
        level = Level(name, rule.priority, (("z", rule.z), ("min_delta", rule.min_delta)))
        ep = episodes(t, beyond, clear, rule.persistence, active=state.active.get(name, False))
        extra = {"baseline_median": b.median, "baseline_mad": b.mad, "deviation": dev}
        found += level_findings(
            rule, level, t, v, ep, span=rule.persistence.span, since=since, extra=extra
        )
        active[name] = ep.active_at_end
    found.sort(key=lambda f: (f.ts, f.kind.value != "all_clear"))
    return Evaluation(tuple(found), RuleState(active))


def evaluate_cusum(
    rule: CusumRule, series: Series, now: float, since: float | None, state: RuleState
) -> Evaluation:
    """``rules.evaluate`` for a CusumRule."""
    t, v = _prepared(series, now, rule.stages)
    if rule.target is None:
        b = rolling_baseline(t, v, rule.window_s)
        target = np.where(b.n >= rule.min_samples, b.median, np.nan)
    else:
        target = np.full(t.size, rule.target)
    sign = 1.0 if rule.direction == "up" else -1.0
    s = cusum(sign * (v - target) - rule.slack)
    clear_h = rule.h / 2 if rule.clear_h is None else rule.clear_h
    level = Level(rule.direction, rule.priority, (("h", rule.h), ("slack", rule.slack)))
    ep = episodes(
        t,
        s >= rule.h,
        s < clear_h,
        rule.persistence,
        active=state.active.get(rule.direction, False),
    )
    found = level_findings(
        rule,
        level,
        t,
        v,
        ep,
        span=rule.persistence.span,
        since=since,
        extra={"cusum": s, "target": target},
    )
    return Evaluation(tuple(found), RuleState({rule.direction: ep.active_at_end}))
