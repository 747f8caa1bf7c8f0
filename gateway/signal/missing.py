"""Missing data: stale continuous streams and missed daily measurements.

A separate category from clinical findings (docs/architecture.md, "Alarm practice"): silence is a
device or adherence problem until proven otherwise. Continuous devices learn their usual
interval (median gap); the stream is stale ``warn_after_s`` (default 15 min) and urgently
stale ``urgent_after_s`` (default 30 min) past it. Spot devices learn the patient's daily
habit (median time of day of the day's first measurement); a day without one is missed
``grace_s`` after the habitual time. Both consider every sample received, usable or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from gateway import wire
from gateway.signal.findings import (
    Episodes,
    Evaluation,
    Finding,
    Level,
    RuleState,
    level_findings,
    moment_finding,
)
from gateway.signal.series import DAY, F64, HOUR, Series, SignalError

MIN_LEARN_SAMPLES: Final = 3


@dataclass(frozen=True, slots=True)
class StaleRule:
    """No sample for ``expected + warn_after_s`` (medium) / ``expected + urgent_after_s`` (high)."""

    rule_id: str
    patient_id: str
    metric: wire.Metric
    expected_interval_s: float | None = None
    warn_after_s: float = 15 * 60.0
    urgent_after_s: float = 30 * 60.0
    version: int = 1
    priority: wire.Priority = wire.Priority.MEDIUM
    urgent_priority: wire.Priority = wire.Priority.HIGH
    category: wire.Category = wire.Category.MISSING_DATA

    def __post_init__(self) -> None:
        if not 0 < self.warn_after_s <= self.urgent_after_s:
            raise SignalError(f"rule {self.rule_id}: needs 0 < warn_after_s ≤ urgent_after_s")


@dataclass(frozen=True, slots=True)
class MissedMeasurementRule:
    """A calendar day (at ``tz_offset_s`` from UTC) without a measurement, found ``grace_s``
    after the habitual time of day (learned when ``habit_s`` is None)."""

    rule_id: str
    patient_id: str
    metric: wire.Metric
    habit_s: float | None = None
    grace_s: float = 3 * HOUR
    tz_offset_s: float = 0.0
    min_days: int = 3
    version: int = 1
    priority: wire.Priority = wire.Priority.LOW
    category: wire.Category = wire.Category.MISSING_DATA


def usual_interval(t: F64) -> float:
    """The median gap between samples (s); NaN with fewer than 3 samples."""
    return float(np.median(np.diff(t))) if t.size >= MIN_LEARN_SAMPLES else float("nan")


def _gap_findings(
    rule: StaleRule, level: Level, t: F64, v: F64, *, after: float, now: float, since: float | None
) -> tuple[list[Finding], bool]:
    """Fire ``after`` seconds into each gap longer than that; clear at the sample ending it."""
    ends = np.append(t[1:], now)
    stale = ends - t > after
    fire_at = t[stale] + after
    cleared = stale[:-1]
    out = level_findings(
        rule,
        level,
        t[1:],
        v[1:],
        Episodes(np.empty(0, np.intp), np.flatnonzero(cleared), False),
        span=1,
        since=since,
    )
    for ts, last_t, last_v in zip(fire_at, t[stale], v[stale], strict=True):
        if since is not None and ts <= since:
            continue
        out.append(moment_finding(rule, level, ts, (last_t, last_v), (("silent_s", after),)))
    return out, bool(stale[-1])


def evaluate_stale(
    rule: StaleRule, series: Series, now: float, since: float | None, state: RuleState
) -> Evaluation:
    """``rules.evaluate`` for a StaleRule: fire when a gap passes its limit, clear on resumption."""
    s = series.until(now)
    expected = rule.expected_interval_s or usual_interval(s.t)
    if s.t.size == 0 or not np.isfinite(expected):
        return Evaluation((), state)
    found: list[Finding] = []
    active: dict[str, bool] = {}
    for name, after, prio in (
        ("stale", rule.warn_after_s, rule.priority),
        ("stale_urgent", rule.urgent_after_s, rule.urgent_priority),
    ):
        level = Level(name, prio, (("expected_interval_s", expected),))
        out, active[name] = _gap_findings(
            rule, level, s.t, s.v, after=expected + after, now=now, since=since
        )
        found += out
    found.sort(key=lambda f: (f.ts, f.kind.value != "all_clear"))
    return Evaluation(tuple(found), RuleState(active))


def daily_habit(t: F64, tz_offset_s: float = 0.0) -> float:
    """Median local time of day (s after midnight) of each day's first measurement."""
    local = t + tz_offset_s
    day = np.floor(local / DAY)
    first = np.concatenate(([True], day[1:] != day[:-1]))
    return float(np.median(local[first] - day[first] * DAY))


def evaluate_missed(
    rule: MissedMeasurementRule, series: Series, now: float, since: float | None, state: RuleState
) -> Evaluation:
    """``rules.evaluate`` for a MissedMeasurementRule: one fire per missed day, an all-clear
    at the next measurement."""
    s = series.until(now)
    days = np.unique(np.floor((s.t + rule.tz_offset_s) / DAY))
    if days.size == 0 or (days.size < rule.min_days and rule.habit_s is None):
        return Evaluation((), state)
    habit = daily_habit(s.t, rule.tz_offset_s) if rule.habit_s is None else rule.habit_s
    candidates = np.arange(days[0] + 1, np.floor((now + rule.tz_offset_s) / DAY) + 1)
    deadline = candidates * DAY + habit + rule.grace_s - rule.tz_offset_s
    missed = deadline[(deadline <= now) & ~np.isin(candidates, days)]
    level = Level("missed", rule.priority, (("habit_s", habit), ("grace_s", rule.grace_s)))
    nxt = np.searchsorted(s.t, missed, side="right")
    clear_idx = np.unique(nxt[nxt < s.t.size])
    ep = Episodes(np.empty(0, np.intp), clear_idx, False)
    found = level_findings(rule, level, s.t, s.v, ep, span=1, since=since)
    last_before = np.maximum(nxt - 1, 0)
    for ts, i in zip(missed, last_before, strict=True):
        if since is not None and ts <= since:
            continue
        found.append(moment_finding(rule, level, ts, (s.t[i], s.v[i])))
    found.sort(key=lambda f: (f.ts, f.kind.value != "all_clear"))
    return Evaluation(
        tuple(found), RuleState({"missed": bool(missed.size and missed[-1] > s.t[-1])})
    )
