"""Artefact checks that run before any rule: a value no body produces so soon after the last.

A weight step of several kilograms within a day is not fluid: it is another person on the
scale (a partner, a grandchild) or a bag in hand. ``steps`` finds such samples against the
median of the patient's own usable readings of the preceding week (robust to a single
earlier artefact); ``clean`` marks them unusable, and a ``StepRule`` turns each into a
device finding that asks the patient "was this you?" instead of a clinical alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

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
from gateway.signal.series import DAY, F64, Bool, Series, SignalError

STEP_LIMIT: Final[Mapping[wire.Metric, float]] = {
    # Day-to-day fluid shifts in decompensating heart failure or under diuresis are 1-3 kg
    # (ESC 2021 heart failure guideline: act on > 2 kg in 3 days); 5 kg in a day is not one body.
    wire.Metric.BODY_WEIGHT: 5.0,
}
"""Metrics checked for steps, with the smallest change (canonical unit) no body makes in a day."""
STEP_REFERENCE_S: Final = 7 * DAY
"""The reference is the median of the usable readings of the preceding week."""
STEP_MAX_REFERENCE: Final = 32
WAS_THIS_YOU: Final = "was_this_you"
"""The question the device finding asks the patient (the patient app words it)."""


def _row_median(rows: F64, n: np.ndarray) -> F64:
    s = np.sort(rows, axis=1)
    r = np.arange(rows.shape[0])
    lo, hi = np.maximum((n - 1) // 2, 0), np.maximum(n // 2, 0)
    out: F64 = (s[r, lo] + s[r, hi]) / 2.0
    out[n == 0] = np.nan
    return out


def reference(t: F64, ref_t: F64, ref_v: F64, window_s: float = STEP_REFERENCE_S) -> F64:
    """Median of ``ref_v`` over ``[t_i − window_s, t_i)`` for each ``t_i`` (NaN when empty).

    At most the latest ``STEP_MAX_REFERENCE`` reference samples count (daily spot readings).
    """
    hi = np.searchsorted(ref_t, t, side="left")
    lo = np.maximum(np.searchsorted(ref_t, t - window_s, side="left"), hi - STEP_MAX_REFERENCE)
    n = hi - lo
    width = int(n.max(initial=0))
    if width == 0:
        return np.full(t.shape, np.nan)
    idx = hi[:, None] - 1 - np.arange(width)[None, :]
    rows = np.where(idx >= lo[:, None], ref_v[np.maximum(idx, 0)], np.nan)
    return _row_median(rows, n)


def steps(t: F64, v: F64, ok: Bool, limit: float) -> Bool:
    """True where ``|v − reference| ≥ limit``; the reference uses the ``ok`` samples only."""
    ref = reference(t, t[ok], v[ok])
    with np.errstate(invalid="ignore"):
        out: Bool = np.abs(v - ref) >= limit
    return out


@dataclass(frozen=True, slots=True)
class StepRule:
    """A device finding ("was this you?") for each reading a step away from the patient's own.

    Evaluated on the cleaned series, where such readings are unusable; the reference is the
    usable readings, so one artefact never moves it.
    """

    rule_id: str
    patient_id: str
    metric: wire.Metric
    limit: float | None = None
    """Default: ``STEP_LIMIT`` of the metric."""
    version: int = 1
    priority: wire.Priority = wire.Priority.LOW
    persistence: Persistence = field(default_factory=Persistence)
    category: wire.Category = wire.Category.DEVICE

    def __post_init__(self) -> None:
        if self.limit is None and self.metric not in STEP_LIMIT:
            raise SignalError(f"rule {self.rule_id}: no step limit for {self.metric.value}")
        if self.limit is not None and not self.limit > 0:
            raise SignalError(f"rule {self.rule_id}: limit must be > 0")

    @property
    def step(self) -> float:
        return STEP_LIMIT[self.metric] if self.limit is None else self.limit


def evaluate_step(
    rule: StepRule, series: Series, now: float, since: float | None, state: RuleState
) -> Evaluation:
    """``rules.evaluate`` for a StepRule: one fire per stepped reading."""
    s = series.until(now)
    finite = np.isfinite(s.v)
    t, v, ok = s.t[finite], s.v[finite], s.usable[finite]
    ref = reference(t, t[ok], v[ok])
    with np.errstate(invalid="ignore"):
        beyond = ~ok & (np.abs(v - ref) >= rule.step)
    level = Level("step", rule.priority, (("limit", rule.step), ("ask", WAS_THIS_YOU)))
    ep = episodes(t, beyond, ~beyond, rule.persistence, active=False)
    found = level_findings(rule, level, t, v, ep, span=1, since=since, extra={"reference": ref})
    fires = tuple(f for f in found if f.kind.value == "fire")
    return Evaluation(fires, RuleState({}))
