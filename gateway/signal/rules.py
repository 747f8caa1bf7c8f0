"""Threshold and rate-of-change rules as data, and ``evaluate``: one pure function for all rules.

``evaluate(rule, series, now=…)`` looks only at samples at or before ``now``, uses only
usable ones for clinical rules, and returns the findings (fire and all-clear, with evidence)
plus the state to pass to the next call. Called with a month of history it reports every
episode; called on a live window with ``since=`` the previous ``now`` and the previous
state, it reports only what is new. Levels are checked against the metric's plausible
range, so a rule written in another unit (°F, lb, mmol/L) is refused when it is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import ClassVar, Final

import numpy as np

from gateway import wire
from gateway.signal import artefacts, baseline, cgm, missing, trends
from gateway.signal.change import ChangeRule
from gateway.signal.clean import PLAUSIBLE
from gateway.signal.findings import (
    Evaluation,
    Finding,
    Level,
    Persistence,
    RuleState,
    episodes,
    level_findings,
)
from gateway.signal.series import F64, Series, SignalError


def check_levels(metric: wire.Metric, rule_id: str, **levels: float | None) -> None:
    """Refuse levels outside the metric's plausible range: most likely another unit."""
    low, high = PLAUSIBLE[metric]
    for name, value in levels.items():
        if value is not None and not low <= value <= high:
            raise SignalError(
                f"rule {rule_id}: {name}={value} is outside {low}-{high} "
                f"{wire.CANONICAL_UNITS[metric]} for {metric.value}; levels must be in the "
                f"canonical unit {wire.CANONICAL_UNITS[metric]!r}"
            )


@dataclass(frozen=True, slots=True)
class Band:
    """One direction of a threshold: fire at or beyond ``fire``, end strictly inside ``clear``."""

    level: Level
    direction: int
    fire: float
    clear: float


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """Low / high / urgent levels with hysteresis and persistence (wire ``ThresholdRule`` plus).

    High side: fires when ``v ≥ fire_high`` has persisted, ends when ``v < clear_high``
    (default ``fire_high``). Low side mirrored. ``urgent_*`` levels are a second band at
    ``urgent_priority`` whose clear level keeps the same hysteresis gap.
    """

    rule_id: str
    patient_id: str
    metric: wire.Metric
    version: int = 1
    priority: wire.Priority = wire.Priority.MEDIUM
    fire_low: float | None = None
    fire_high: float | None = None
    clear_low: float | None = None
    clear_high: float | None = None
    urgent_low: float | None = None
    urgent_high: float | None = None
    urgent_priority: wire.Priority = wire.Priority.HIGH
    persistence: Persistence = field(default_factory=Persistence)
    category: wire.Category = wire.Category.CLINICAL
    confirm_s: float = 0.0
    """Confirmation window (s): a non-urgent fire waits this long for a re-measurement
    (``gateway.signal.confirm``); 0 alerts at once."""
    confirm_by: str = "next"
    """``next``: the first usable re-measurement decides; ``mean``: the mean of the first
    reading and the re-measurement (home blood pressure practice)."""

    def __post_init__(self) -> None:
        if self.fire_low is None and self.fire_high is None:
            raise SignalError(f"rule {self.rule_id}: a threshold rule needs fire_low or fire_high")
        check_levels(
            self.metric, self.rule_id, fire_low=self.fire_low, fire_high=self.fire_high,
            clear_low=self.clear_low, clear_high=self.clear_high,
            urgent_low=self.urgent_low, urgent_high=self.urgent_high,
        )  # fmt: skip
        hi, clear_hi = self.fire_high, self.clear_high
        if hi is not None and clear_hi is not None and clear_hi > hi:
            raise SignalError(f"rule {self.rule_id}: clear_high must not exceed fire_high")
        lo, clear_lo = self.fire_low, self.clear_low
        if lo is not None and clear_lo is not None and clear_lo < lo:
            raise SignalError(f"rule {self.rule_id}: clear_low must not be below fire_low")

    @classmethod
    def from_wire(cls, rule: wire.ThresholdRule) -> ThresholdRule:
        """The evaluable form of a rule received in a gateway config or stored by the cloud."""
        return cls(
            rule_id=rule.rule_id,
            patient_id=rule.patient_id,
            metric=rule.metric,
            version=rule.version,
            priority=rule.priority,
            fire_low=rule.fire_low,
            fire_high=rule.fire_high,
            clear_low=rule.clear_low,
            clear_high=rule.clear_high,
            persistence=Persistence(rule.persistence_count, rule.persistence_seconds),
        )

    def bands(self) -> list[Band]:
        """The levels to evaluate, each with its own episode state."""
        out = []
        for side, fire, clear, urgent in (
            (+1, self.fire_high, self.clear_high, self.urgent_high),
            (-1, self.fire_low, self.clear_low, self.urgent_low),
        ):
            name = "high" if side > 0 else "low"
            if fire is not None:
                gap = fire if clear is None else clear
                out.append(
                    Band(
                        Level(name, self.priority, (("fire", fire), ("clear", gap))),
                        side,
                        fire,
                        gap,
                    )
                )
            if urgent is not None:
                clr = urgent - (0.0 if fire is None or clear is None else fire - clear)
                lvl = Level(
                    f"urgent_{name}", self.urgent_priority, (("fire", urgent), ("clear", clr))
                )
                out.append(Band(lvl, side, urgent, clr))
        return out


@dataclass(frozen=True, slots=True)
class RateRule(ChangeRule):
    """Rate of change: the current value against the lowest (rise) or highest (fall) usable
    value in the preceding ``window_s`` seconds. Fires at ``rise``/``fall`` (positive amounts
    in the metric's unit), clears below ``clear_fraction`` of that amount."""

    KIND: ClassVar[str] = "rate"
    NEEDS: ClassVar[str] = "window_s > 0 and 0 < clear_fraction ≤ 1"

    def sound(self) -> bool:
        return 0 < self.clear_fraction <= 1


def range_reduce(x: F64, lo: np.ndarray, hi: np.ndarray, op: np.ufunc) -> F64:
    """``op.reduce(x[lo[i]:hi[i]])`` for every i (NaN where empty), by a sparse table.

    ``O(N log W)`` work and memory for windows of at most W samples: meant for spot
    metrics and rollups, not for days of 1 Hz samples.
    """
    length = hi - lo
    out = np.full(lo.shape, np.nan)
    if x.size == 0 or not (length > 0).any():
        return out
    levels = [x]
    while 2 ** len(levels) <= length.max():
        prev, step = levels[-1], 2 ** (len(levels) - 1)
        levels.append(op(prev[:-step], prev[step:]) if prev.size > step else prev[:0])
    ok = length > 0
    k = np.floor(np.log2(length[ok])).astype(np.intp)
    table = np.full((len(levels), x.size), np.nan)
    for j, row in enumerate(levels):
        table[j, : row.size] = row
    out[ok] = op(table[k, lo[ok]], table[k, hi[ok] - 2**k])
    return out


def _usable(series: Series, now: float) -> tuple[F64, F64]:
    s = series.until(now)
    return s.t[s.usable], s.v[s.usable]


def _threshold(
    rule: ThresholdRule, series: Series, now: float, since: float | None, state: RuleState
) -> Evaluation:
    t, v = _usable(series, now)
    found: list[Finding] = []
    active: dict[str, bool] = {}
    for band in rule.bands():
        if band.direction > 0:
            beyond, clear = v >= band.fire, v < band.clear
        else:
            beyond, clear = v <= band.fire, v > band.clear
        ep = episodes(
            t, beyond, clear, rule.persistence, active=state.active.get(band.level.name, False)
        )
        found += level_findings(rule, band.level, t, v, ep, span=rule.persistence.span, since=since)
        active[band.level.name] = ep.active_at_end
    return Evaluation(sort_findings(found), RuleState(active))


def _rate(
    rule: RateRule, series: Series, now: float, since: float | None, state: RuleState
) -> Evaluation:
    t, v = _usable(series, now)
    lo = np.searchsorted(t, t - rule.window_s, side="left")
    hi = np.arange(t.size)
    found: list[Finding] = []
    active: dict[str, bool] = {}
    for name, amount, op, sign in (
        ("rise", rule.rise, np.minimum, 1.0),
        ("fall", rule.fall, np.maximum, -1.0),
    ):
        if amount is None:
            continue
        ref = range_reduce(v, lo, hi, op)
        with np.errstate(invalid="ignore"):
            delta = sign * (v - ref)
            beyond, clear = delta >= amount, delta < amount * rule.clear_fraction
        level = Level(name, rule.priority, (("amount", amount), ("window_s", rule.window_s)))
        ep = episodes(t, beyond, clear, rule.persistence, active=state.active.get(name, False))
        found += level_findings(
            rule,
            level,
            t,
            v,
            ep,
            span=rule.persistence.span,
            since=since,
            extra={"delta": sign * delta, "reference": ref},
        )
        active[name] = ep.active_at_end
    return Evaluation(sort_findings(found), RuleState(active))


def sort_findings(found: list[Finding]) -> tuple[Finding, ...]:
    """Oldest first; at one instant an all-clear before a fire of the same rule."""
    return tuple(sorted(found, key=lambda f: (f.ts, f.kind.value != "all_clear", f.rule)))


Rule = (
    ThresholdRule
    | RateRule
    | trends.TrendRule
    | baseline.BaselineRule
    | baseline.CusumRule
    | missing.StaleRule
    | missing.MissedMeasurementRule
    | artefacts.StepRule
    | cgm.GlucoseRule
    | cgm.PredictedLowRule
    | cgm.SignalLossRule
)

_EVALUATORS: Final[Mapping[type, Callable[..., Evaluation]]] = {
    ThresholdRule: _threshold,
    RateRule: _rate,
    trends.TrendRule: trends.evaluate_trend,
    baseline.BaselineRule: baseline.evaluate_baseline,
    baseline.CusumRule: baseline.evaluate_cusum,
    missing.StaleRule: missing.evaluate_stale,
    missing.MissedMeasurementRule: missing.evaluate_missed,
    artefacts.StepRule: artefacts.evaluate_step,
    cgm.GlucoseRule: cgm.evaluate_glucose,
    cgm.PredictedLowRule: cgm.evaluate_predicted_low,
    cgm.SignalLossRule: cgm.evaluate_signal_loss,
}


def evaluate(
    rule: Rule | wire.ThresholdRule,
    series: Series,
    *,
    now: float,
    since: float | None = None,
    state: RuleState | None = None,
) -> Evaluation:
    """Evaluate ``rule`` on ``series`` (its patient and metric) as known at ``now``.

    Pure: the same arguments give the same findings. ``since`` drops findings at or
    before it (already reported); ``state`` carries open episodes from the previous call.
    A wire ``ThresholdRule`` is accepted as it is.
    """
    if not np.isfinite(now):
        raise SignalError("now must be finite UTC epoch seconds")
    if isinstance(rule, wire.ThresholdRule):
        rule = ThresholdRule.from_wire(rule)
    fn = _EVALUATORS.get(type(rule))
    if fn is None:
        raise SignalError(f"not a rule: {type(rule).__name__}")
    return fn(rule, series, now, since, state or RuleState())


def with_patient(rule: Rule, patient_id: str) -> Rule:
    """The same rule for another patient (program templates)."""
    return replace(rule, patient_id=patient_id)
