"""Glucose rules for a continuous glucose monitor (CGM): levels with persistence on a stream,
a predicted low, and signal loss.

- ``GlucoseRule``: low / high levels whose persistence counts only readings of one stream
  (each within ``stream_gap_s`` of the one before), so a 5-minute CGM needs three readings
  below 70 mg/dL while a meter's fingerstick, alone in its stream, is judged at once; the
  ``urgent_low`` level never waits.
- ``PredictedLowRule``: an ordinary least-squares line through the last ``window_s`` (20 min)
  of readings, carried ``horizon_s`` (20 min) ahead, falls below ``level`` while the reading
  is still at or above it. The same idea as xDrip+'s predictive low and Nightscout's AR2
  forecast (30 min ahead from the recent readings), kept linear so its evidence reads as a
  slope. It refuses to predict over a gap (a missed reading) and over a step no physiology
  makes (a compression low: the patient lying on the sensor at night).
- ``SignalLossRule``: a continuous stream goes silent ``warn_after_s`` (15 min, medium) and
  ``urgent_after_s`` (30 min, high) past its expected interval: a device problem, not a
  clinical one. A stream is continuous where its last ``min_run`` gaps were at most twice
  the interval, so a meter's spot readings never look "lost".

Times are UTC epoch seconds, values mg/dL. Evaluation is ``rules.evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np

from gateway import wire
from gateway.signal.findings import (
    Episodes,
    Evaluation,
    Finding,
    FindingKind,
    Level,
    Persistence,
    RuleState,
    episodes,
    level_findings,
    moment_finding,
)
from gateway.signal.series import F64, MINUTE, Bool, Series, SignalError

CGM_INTERVAL_S: Final = 5 * MINUTE
"""The reading interval of the CGMs on the market (Dexcom, Libre 2/3 streams, CGMS 0x181F)."""
STREAM_GAP_S: Final = 2 * CGM_INTERVAL_S
"""Readings at most this far apart belong to one stream (one missed reading is tolerated)."""
MAX_RATE: Final = 5.0
"""mg/dL per minute: faster than blood glucose moves (CGM trend arrows top out at "more than
3 mg/dL/min"); a step this steep is a sensor artefact, such as a compression low."""


def _stream_joined(t: F64, gap_s: float) -> Bool:
    """True where a sample follows the previous one within ``gap_s`` (same stream)."""
    out: Bool = np.concatenate(([False], np.diff(t) <= gap_s))
    return out


@dataclass(frozen=True, slots=True)
class GlucoseRule:
    """Low / high glucose with hysteresis and stream-aware persistence; ``urgent_low`` at once.

    Low fires when ``v ≤ fire_low`` has held for ``persistence`` readings of one stream (a
    reading with no other within ``stream_gap_s`` before it is judged alone, at once) and
    ends when ``v > clear_low``; high mirrored. ``urgent_low`` fires on one reading at
    ``urgent_priority`` and clears with the same hysteresis gap as low.
    """

    rule_id: str
    patient_id: str
    metric: wire.Metric = wire.Metric.BLOOD_GLUCOSE
    version: int = 1
    priority: wire.Priority = wire.Priority.MEDIUM
    fire_low: float | None = None
    clear_low: float | None = None
    urgent_low: float | None = None
    fire_high: float | None = None
    clear_high: float | None = None
    urgent_priority: wire.Priority = wire.Priority.HIGH
    persistence: Persistence = field(default_factory=lambda: Persistence(3, 2 * CGM_INTERVAL_S))
    stream_gap_s: float = STREAM_GAP_S
    category: wire.Category = wire.Category.CLINICAL

    def __post_init__(self) -> None:
        if self.fire_low is None and self.fire_high is None and self.urgent_low is None:
            raise SignalError(f"rule {self.rule_id}: a glucose rule needs a level")
        if self.persistence.k_of_n is not None:
            raise SignalError(f"rule {self.rule_id}: glucose persistence is consecutive readings")
        if not self.stream_gap_s > 0:
            raise SignalError(f"rule {self.rule_id}: stream_gap_s must be > 0")
        for lo, hi, what in (
            (self.fire_low, self.clear_low, "clear_low must not be below fire_low"),
            (self.clear_high, self.fire_high, "clear_high must not exceed fire_high"),
            (self.urgent_low, self.fire_low, "urgent_low must be below fire_low"),
        ):
            if lo is not None and hi is not None and hi < lo:
                raise SignalError(f"rule {self.rule_id}: {what}")
        _check(self, self.fire_low, self.clear_low, self.urgent_low, self.fire_high,
               self.clear_high)  # fmt: skip

    def bands(self) -> list[tuple[Level, int, float, float, bool]]:
        """(level, direction, fire, clear, waits for persistence) for each level set."""
        gap = 0.0
        out = []
        if self.fire_low is not None:
            clear = self.fire_low if self.clear_low is None else self.clear_low
            gap = clear - self.fire_low
            out.append((self._level("low", self.fire_low, clear), -1, self.fire_low, clear, True))
        if self.urgent_low is not None:
            clear = self.urgent_low + gap
            lvl = Level("urgent_low", self.urgent_priority,
                        (("fire", self.urgent_low), ("clear", clear)))  # fmt: skip
            out.append((lvl, -1, self.urgent_low, clear, False))
        if self.fire_high is not None:
            clear = self.fire_high if self.clear_high is None else self.clear_high
            out.append((self._level("high", self.fire_high, clear), 1, self.fire_high, clear, True))
        return out

    def _level(self, name: str, fire: float, clear: float) -> Level:
        return Level(name, self.priority, (("fire", fire), ("clear", clear)))


def _check(rule: GlucoseRule | PredictedLowRule, *levels: float | None) -> None:
    if rule.metric is not wire.Metric.BLOOD_GLUCOSE:
        raise SignalError(f"rule {rule.rule_id}: a CGM rule judges blood_glucose (mg/dL)")
    for value in levels:
        if value is not None and not 20.0 <= value <= 600.0:
            raise SignalError(
                f"rule {rule.rule_id}: level {value} is outside 20-600 mg/dL; glucose levels "
                "are in mg/dL (mmol/L × 18.016)"
            )


def stream_triggered(t: F64, beyond: Bool, joined: Bool, p: Persistence) -> Bool:
    """Where ``beyond`` has held for ``p`` within one stream; a run's first reading that
    starts a stream (nothing within the stream gap before it) triggers at once."""
    hits = np.flatnonzero(beyond)
    out = np.zeros(t.shape, dtype=np.bool_)
    if hits.size == 0:
        return out
    new_run = np.concatenate(([True], (np.diff(hits) != 1) | ~joined[hits[1:]]))
    pos = np.arange(hits.size)
    first = np.maximum.accumulate(np.where(new_run, pos, 0))
    held = (pos - first + 1 >= p.count) & (t[hits] - t[hits[first]] >= p.seconds)
    alone = new_run & ~joined[hits]
    out[hits[held | alone]] = True
    return out


def evaluate_glucose(
    rule: GlucoseRule, series: Series, now: float, since: float | None, state: RuleState
) -> Evaluation:
    """``rules.evaluate`` for a GlucoseRule."""
    s = series.until(now)
    t, v = s.t[s.usable], s.v[s.usable]
    joined = _stream_joined(t, rule.stream_gap_s)
    found: list[Finding] = []
    active: dict[str, bool] = {}
    for level, direction, fire, clear_at, waits in rule.bands():
        if direction > 0:
            beyond, clear = v >= fire, v < clear_at
        else:
            beyond, clear = v <= fire, v > clear_at
        p = rule.persistence if waits else Persistence()
        trig = stream_triggered(t, beyond, joined, p)
        ep = episodes(t, trig, clear, Persistence(), active=state.active.get(level.name, False))
        found += level_findings(rule, level, t, v, ep, span=p.count, since=since)
        active[level.name] = ep.active_at_end
    return Evaluation(_sorted(found), RuleState(active))


@dataclass(frozen=True, slots=True)
class PredictedLowRule:
    """Fires when the glucose predicted ``horizon_s`` ahead is below ``level`` while the
    reading is not (yet); clears once the prediction is back at ``level + clear_margin``.

    The prediction is the least-squares line through the usable readings of the last
    ``window_s``, evaluated at ``t + horizon_s``; it needs ``min_samples`` readings, no gap
    over ``max_gap_s`` and no step faster than ``max_rate`` mg/dL/min in the window.
    """

    rule_id: str
    patient_id: str
    metric: wire.Metric = wire.Metric.BLOOD_GLUCOSE
    level: float = 70.0
    horizon_s: float = 20 * MINUTE
    window_s: float = 20 * MINUTE
    min_samples: int = 4
    max_gap_s: float = 1.5 * CGM_INTERVAL_S
    max_rate: float = MAX_RATE
    clear_margin: float = 10.0
    version: int = 1
    priority: wire.Priority = wire.Priority.MEDIUM
    persistence: Persistence = field(default_factory=Persistence)
    category: wire.Category = wire.Category.CLINICAL

    def __post_init__(self) -> None:
        _check(self, self.level)
        if not (self.horizon_s > 0 and self.window_s > 0 and self.min_samples >= 3):
            raise SignalError(
                f"rule {self.rule_id}: needs horizon_s > 0, window_s > 0 and min_samples ≥ 3"
            )
        if not (self.max_gap_s > 0 and self.max_rate > 0 and self.clear_margin >= 0):
            raise SignalError(
                f"rule {self.rule_id}: needs max_gap_s > 0, max_rate > 0, clear_margin ≥ 0"
            )


@dataclass(frozen=True, slots=True, eq=False)
class Prediction:
    """Per reading: the fitted value now and the predicted one (mg/dL), the slope (mg/dL/min)
    and whether a prediction could be made (enough readings, no gap, no artefact)."""

    fitted: F64
    predicted: F64
    slope_per_min: F64
    ok: Bool


def predict(
    t: F64, v: F64, *, window_s: float, horizon_s: float, min_samples: int, max_gap_s: float,
    max_rate: float,
) -> Prediction:  # fmt: skip
    """Least-squares prediction over ``[t_i − window_s, t_i]`` for every reading i.

    Each window is fitted on its own readings only (time in minutes before ``t_i``, values
    from ``v_i``), so the gateway's short window and the cloud's long history give the same
    numbers. O(N × W) for windows of at most W readings (4-8 for a CGM).
    """
    n_all = t.size
    lo = np.searchsorted(t, t - window_s, side="left")
    idx = np.arange(n_all)
    n = idx - lo + 1
    width = int(n.max(initial=0))
    cols = idx[:, None] - np.arange(width)[None, :]
    inside = cols >= lo[:, None]
    cols = np.maximum(cols, 0)
    x = np.where(inside, (t[cols] - t[:, None]) / MINUTE, 0.0)
    y = np.where(inside, v[cols] - v[:, None], 0.0)
    nf = n.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = x.sum(axis=1) / nf, y.sum(axis=1) / nf
        dx = np.where(inside, x - mx[:, None], 0.0)
        sxx = (dx * dx).sum(axis=1)
        slope = np.where(sxx > 1e-9, (dx * (y - my[:, None])).sum(axis=1) / sxx, np.nan)
    fitted = v + my - slope * mx
    predicted = fitted + slope * (horizon_s / MINUTE)
    dt = np.diff(t)
    step = np.abs(np.diff(v)) / np.maximum(dt / MINUTE, 1e-9)
    # A bad step j (between readings j−1 and j) spoils the windows holding both readings.
    bad = np.concatenate(([0], np.cumsum((dt > max_gap_s) | (step > max_rate))))
    clean_window = bad[idx] - bad[lo] == 0 if n_all else np.empty(0, dtype=np.bool_)
    ok = (n >= min_samples) & clean_window & np.isfinite(predicted)
    return Prediction(fitted, predicted, slope, ok)


def evaluate_predicted_low(
    rule: PredictedLowRule, series: Series, now: float, since: float | None, state: RuleState
) -> Evaluation:
    """``rules.evaluate`` for a PredictedLowRule."""
    s = series.until(now)
    t, v = s.t[s.usable], s.v[s.usable]
    p = predict(
        t, v, window_s=rule.window_s, horizon_s=rule.horizon_s, min_samples=rule.min_samples,
        max_gap_s=rule.max_gap_s, max_rate=rule.max_rate,
    )  # fmt: skip
    with np.errstate(invalid="ignore"):
        beyond = p.ok & (p.predicted < rule.level) & (v >= rule.level)
        clear = p.ok & (p.predicted >= rule.level + rule.clear_margin)
    level = Level(
        "predicted_low", rule.priority,
        (("threshold", rule.level), ("horizon_s", rule.horizon_s), ("window_s", rule.window_s)),
    )  # fmt: skip
    ep = episodes(t, beyond, clear, rule.persistence, active=state.active.get(level.name, False))
    extra = {"predicted": p.predicted, "slope_per_min": p.slope_per_min, "fitted": p.fitted}
    found = level_findings(rule, level, t, v, ep, span=rule.min_samples, since=since, extra=extra)
    return Evaluation(_sorted(found), RuleState({level.name: ep.active_at_end}))


@dataclass(frozen=True, slots=True)
class SignalLossRule:
    """A continuous stream silent for ``expected_interval_s + warn_after_s`` (``priority``)
    and ``+ urgent_after_s`` (``urgent_priority``): a device finding, cleared by the next
    reading. Only gaps after ``min_run`` regular intervals count (a stream, not spot readings).
    """

    rule_id: str
    patient_id: str
    metric: wire.Metric
    expected_interval_s: float = CGM_INTERVAL_S
    warn_after_s: float = 15 * MINUTE
    urgent_after_s: float = 30 * MINUTE
    min_run: int = 3
    version: int = 1
    priority: wire.Priority = wire.Priority.MEDIUM
    urgent_priority: wire.Priority = wire.Priority.HIGH
    category: wire.Category = wire.Category.DEVICE

    def __post_init__(self) -> None:
        if not 0 < self.warn_after_s <= self.urgent_after_s:
            raise SignalError(f"rule {self.rule_id}: needs 0 < warn_after_s ≤ urgent_after_s")
        if not (self.expected_interval_s > 0 and self.min_run >= 1):
            raise SignalError(f"rule {self.rule_id}: needs expected_interval_s > 0, min_run ≥ 1")


def evaluate_signal_loss(
    rule: SignalLossRule, series: Series, now: float, since: float | None, state: RuleState
) -> Evaluation:
    """``rules.evaluate`` for a SignalLossRule: fire when a stream's gap passes each limit
    (decided by the clock), clear at the reading that ends it. Every reading counts, usable
    or not: the device is talking."""
    s = series.until(now)
    t, v = s.t, s.v
    if t.size == 0:
        return Evaluation((), state)
    regular = np.concatenate(([0], np.cumsum(np.diff(t) <= 2 * rule.expected_interval_s)))
    idx = np.arange(t.size)
    streaming = (idx >= rule.min_run) & (regular - regular[np.maximum(idx - rule.min_run, 0)]
                                         == rule.min_run)  # fmt: skip
    gap = np.append(t[1:], now) - t
    found: list[Finding] = []
    active: dict[str, bool] = {}
    for name, after, prio in (
        ("signal_loss", rule.warn_after_s, rule.priority),
        ("signal_loss_urgent", rule.urgent_after_s, rule.urgent_priority),
    ):
        limit = rule.expected_interval_s + after
        lost = streaming & (gap >= limit)
        level = Level(name, prio, (("expected_interval_s", rule.expected_interval_s),))
        ended = np.flatnonzero(lost[:-1]) + 1
        found += level_findings(
            rule, level, t, v, Episodes(np.empty(0, np.intp), ended, False), span=1, since=since
        )
        for i in np.flatnonzero(lost):
            at = float(t[i] + limit)
            if since is None or at > since:
                found.append(moment_finding(rule, level, at, (t[i], v[i]), (("silent_s", limit),)))
        active[name] = bool(lost[-1])
    return Evaluation(_sorted(found), RuleState(active))


def _sorted(found: list[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(found, key=lambda f: (f.ts, f.kind is not FindingKind.ALL_CLEAR, f.rule)))
