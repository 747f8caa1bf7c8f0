"""Stale streams and missed daily measurements: their own category, learned habits."""

from __future__ import annotations

import numpy as np
import pytest

from gateway import wire
from gateway.signal import FindingKind, Series, evaluate
from gateway.signal.missing import MissedMeasurementRule, StaleRule, daily_habit, usual_interval
from gateway.signal.series import DAY, HOUR, SignalError
from gateway.wire import Metric

STALE = StaleRule("stale", "p", Metric.HEART_RATE)


def test_learns_the_interval_and_reports_a_gap() -> None:
    t = np.concatenate((np.arange(0, 3600, 60.0), np.arange(3600 + 3000, 9000, 60.0)))
    s = Series.of(t, np.full(t.size, 70.0))
    assert usual_interval(s.t) == 60.0
    got = evaluate(STALE, s, now=t[-1]).findings
    # gap after t=3540: warn at 3540+60+900, urgent at 3540+60+1800, both cleared at 6600
    assert [(f.kind.value, f.priority.value, f.ts) for f in got] == [
        ("fire", "medium", 4500.0), ("fire", "high", 5400.0),
        ("all_clear", "medium", 6600.0), ("all_clear", "high", 6600.0),
    ]  # fmt: skip
    assert all(f.category is wire.Category.MISSING_DATA for f in got)
    assert got[0].value == 70.0
    assert got[0].evidence.samples == ((3540.0, 70.0),)


def test_silence_up_to_now_is_stale_and_reported_once() -> None:
    s = Series.of(np.arange(0, 600, 60.0), np.full(10, 70.0))
    first = evaluate(STALE, s, now=540 + 1000)
    assert [f.ts for f in first.findings] == [540 + 960.0]
    assert first.state.active["stale"]
    again = evaluate(STALE, s, now=540 + 1200, since=540 + 1000, state=first.state)
    assert again.findings == ()
    assert evaluate(STALE, s, now=540 + 900).findings == ()


def test_too_little_history_to_learn_gives_nothing() -> None:
    assert evaluate(STALE, Series.of([0.0, 60.0], [70.0, 70.0]), now=1e6).findings == ()
    assert evaluate(STALE, Series.empty(), now=1e6).findings == ()
    with pytest.raises(SignalError):
        StaleRule("s", "p", Metric.HEART_RATE, warn_after_s=0)


def test_missed_daily_measurement() -> None:
    days = np.array([0, 1, 2, 3, 5, 6, 9.0])
    t = days * DAY + 7 * HOUR + np.array([0, 600, -600, 300, 0, 0, 0])
    s = Series.of(t, np.full(t.size, 80.0))
    assert daily_habit(s.t) == 7 * HOUR
    rule = MissedMeasurementRule("m", "p", Metric.BODY_WEIGHT)
    got = evaluate(rule, s, now=10 * DAY + 9 * HOUR).findings
    fires = [f.ts for f in got if f.kind is FindingKind.FIRE]
    clears = [f.ts for f in got if f.kind is FindingKind.ALL_CLEAR]
    assert fires == [(d * DAY + 10 * HOUR) for d in (4, 7, 8)]
    assert clears == [t[4], t[6]]
    assert got[0].category is wire.Category.MISSING_DATA
    assert got[0].priority is wire.Priority.LOW
    assert evaluate(rule, s, now=10 * DAY + 11 * HOUR).findings[-1].ts == 10 * DAY + 10 * HOUR


def test_missed_respects_the_time_zone() -> None:
    # 23:30 local at UTC+2 is 21:30 UTC: every day measured, none missed.
    t = np.arange(8.0) * DAY + 21.5 * HOUR
    rule = MissedMeasurementRule("m", "p", Metric.BODY_WEIGHT, tz_offset_s=2 * HOUR)
    assert evaluate(rule, Series.of(t, np.full(8, 80.0)), now=t[-1] + 3 * HOUR).findings == ()
