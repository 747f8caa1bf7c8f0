"""Threshold and rate rules: known answers, hysteresis and persistence properties, and
agreement with the pure-Python reference on random histories."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import wire
from gateway.signal import Finding, FindingKind, Persistence, RuleState, Series, SignalError
from gateway.signal.rules import RateRule, ThresholdRule, evaluate, range_reduce
from gateway.wire import Metric, Priority
from tests.signal import reference

SPO2_LOW = ThresholdRule("spo2", "p1", Metric.SPO2, fire_low=90, clear_low=93)


def kinds(findings: tuple[Finding, ...]) -> list[tuple[str, str, float]]:
    return [(f.kind.value, str(dict(f.evidence.features)["level"]), f.ts) for f in findings]


def test_fire_then_all_clear_with_evidence() -> None:
    v = [95, 94, 89, 88, 91, 92, 93.5, 95]
    s = Series.of(np.arange(8.0) * 60, v)
    ev = evaluate(SPO2_LOW, s, now=1e4)
    assert kinds(ev.findings) == [("fire", "low", 120.0), ("all_clear", "low", 360.0)]
    fire = ev.findings[0]
    assert (fire.patient_id, fire.rule, fire.category, fire.priority) == (
        "p1", "spo2", wire.Category.CLINICAL, Priority.MEDIUM,
    )  # fmt: skip
    assert fire.value == 89.0
    assert fire.evidence.samples == ((120.0, 89.0),)
    assert dict(fire.evidence.features) == {"level": "low", "fire": 90, "clear": 93}
    assert fire.evidence.rule_version == 1
    assert ev.state.active == {"low": False}
    assert fire.to_row() == {
        "patient_id": "p1", "rule": "spo2", "category": "clinical", "priority": "medium",
        "ts": "1970-01-01T00:02:00Z", "metric": "spo2", "value": 89.0,
    }  # fmt: skip
    event = fire.to_event("e1")
    assert event.kind is wire.EventKind.ALERT
    assert event.evidence["features"]["fire"] == 90


def test_unusable_and_future_samples_never_alert() -> None:
    s = Series.of([0.0, 60.0, 120.0], [85.0, 85.0, 85.0], [False, False, True])
    assert evaluate(SPO2_LOW, s, now=60.0).findings == ()
    assert [f.ts for f in evaluate(SPO2_LOW, s, now=500.0).findings] == [120.0]


def test_urgent_band() -> None:
    rule = ThresholdRule(
        "sbp", "p1", Metric.SYSTOLIC_BP, fire_high=160, clear_high=150, urgent_high=180
    )
    s = Series.of(np.arange(6.0), [150, 165, 185, 172, 168, 140])
    got = [(f.kind.value, f.priority.value, f.ts) for f in evaluate(rule, s, now=10).findings]
    # urgent clears 10 below its level (the rule's hysteresis gap), at 168 < 170
    assert got == [
        ("fire", "medium", 1.0), ("fire", "high", 2.0), ("all_clear", "high", 4.0),
        ("all_clear", "medium", 5.0),
    ]  # fmt: skip


def test_persistence_by_count_seconds_and_k_of_n() -> None:
    v = [95, 89, 89, 95, 89, 89, 89, 95]
    s = Series.of(np.arange(8.0) * 30, v)
    three = ThresholdRule("r", "p", Metric.SPO2, fire_low=90, persistence=Persistence(count=3))
    assert kinds(evaluate(three, s, now=1e4).findings) == [
        ("fire", "low", 180.0),
        ("all_clear", "low", 210.0),
    ]
    minute = ThresholdRule("r", "p", Metric.SPO2, fire_low=90, persistence=Persistence(seconds=60))
    assert [f.ts for f in evaluate(minute, s, now=1e4).findings] == [180.0, 210.0]
    k_of_n = ThresholdRule(
        "r", "p", Metric.SPO2, fire_low=90, persistence=Persistence(k_of_n=(2, 3))
    )
    assert [f.ts for f in evaluate(k_of_n, s, now=1e4).findings] == [60.0, 90.0, 120.0, 210.0]


def test_incremental_evaluation_matches_one_call() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(300.0) * 10
    v = 91 + 2.5 * np.sin(np.arange(t.size) / 8) + rng.normal(0, 0.5, t.size)
    s = Series.of(t, v)
    rule = ThresholdRule(
        "r", "p", Metric.SPO2, fire_low=90, clear_low=92, persistence=Persistence(count=2)
    )
    whole = evaluate(rule, s, now=1e9).findings
    state, since, pieces = RuleState(), None, list[Finding]()
    for end in range(10, 301, 10):
        now = float(t[end - 1])
        out = evaluate(
            rule,
            Series.of(t[max(0, end - 50) : end], v[max(0, end - 50) : end]),
            now=now,
            since=since,
            state=state,
        )
        pieces += out.findings
        state, since = out.state, now
    assert len(whole) > 4
    assert [(f.kind, f.ts) for f in pieces] == [(f.kind, f.ts) for f in whole]


def test_from_wire_and_level_checks() -> None:
    w = wire.ThresholdRule(
        rule_id="t1", version=3, patient_id="p9", metric=Metric.BODY_TEMPERATURE,
        priority=Priority.HIGH, fire_high=38.5, clear_high=38.0, persistence_count=2,
        persistence_seconds=60,
    )  # fmt: skip
    r = ThresholdRule.from_wire(w)
    assert (r.version, r.priority, r.persistence) == (3, Priority.HIGH, Persistence(2, 60.0))
    with pytest.raises(SignalError, match="canonical unit 'Cel'"):
        ThresholdRule("f", "p", Metric.BODY_TEMPERATURE, fire_high=100.4)  # °F by mistake
    with pytest.raises(SignalError, match="clear_high"):
        ThresholdRule("f", "p", Metric.HEART_RATE, fire_high=100, clear_high=110)
    with pytest.raises(SignalError, match="fire_low or fire_high"):
        ThresholdRule("f", "p", Metric.HEART_RATE)
    with pytest.raises(SignalError, match="k ≤ n"):
        Persistence(k_of_n=(3, 2))


def test_empty_single_and_bad_now() -> None:
    assert evaluate(SPO2_LOW, Series.empty(), now=0.0).findings == ()
    one = evaluate(SPO2_LOW, Series.of([0.0], [80.0]), now=0.0)
    assert [f.kind for f in one.findings] == [FindingKind.FIRE]
    assert one.state.active["low"]
    with pytest.raises(SignalError, match="finite"):
        evaluate(SPO2_LOW, Series.empty(), now=float("nan"))


def test_rate_rule() -> None:
    rule = RateRule("wt", "p", Metric.BODY_WEIGHT, window_s=3.5 * 86400, rise=1.5)
    t = np.arange(6.0) * 86400
    s = Series.of(t, [80.0, 80.4, 81.0, 81.6, 81.8, 80.5])
    got = evaluate(rule, s, now=1e9).findings
    # day 3: 81.6 against the lowest of days 0-2 (80.0); day 4: 81.8 against 80.4 (day 1)
    assert [(f.kind.value, f.ts) for f in got] == [
        ("fire", 3 * 86400.0),
        ("all_clear", 4 * 86400.0),
    ]
    assert dict(got[0].evidence.features)["delta"] == pytest.approx(1.6)
    assert dict(got[0].evidence.features)["reference"] == 80.0


def test_range_reduce_matches_slices() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    lo = rng.integers(0, 200, 500)
    hi = np.minimum(lo + rng.integers(0, 40, 500), 200)
    got = range_reduce(x, lo, hi, np.minimum)
    for g, a, b in zip(got, lo, hi, strict=True):
        assert (np.isnan(g) and a == b) or g == x[a:b].min()


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(st.floats(90.01, 99.99), min_size=1, max_size=60),
    st.integers(0, 59),
)
def test_hysteresis_never_flaps(dead_band: list[float], where: int) -> None:
    """Once fired, values between the clear and fire levels never produce an all-clear,
    and never a second fire."""
    rule = ThresholdRule("r", "p", Metric.SPO2, fire_low=90, clear_low=100)
    values = [*dead_band[: where + 1], 85.0, *dead_band[where + 1 :]]
    found = evaluate(rule, Series.of(np.arange(len(values), dtype=float), values), now=1e9).findings
    assert [f.kind for f in found] == [FindingKind.FIRE]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(st.sampled_from([85.0, 89.0, 91.0, 95.0, np.nan]), min_size=0, max_size=80),
    st.integers(1, 6),
)
def test_persistence_never_fires_early(values: list[float], count: int) -> None:
    """A fire needs the ``count`` latest usable samples (including its own) all beyond."""
    rule = ThresholdRule(
        "r", "p", Metric.SPO2, fire_low=90, clear_low=92, persistence=Persistence(count=count)
    )
    s = Series.of(np.arange(len(values), dtype=float), values)
    usable_t = s.t[s.usable].tolist()
    usable_v = s.v[s.usable].tolist()
    for f in evaluate(rule, s, now=1e9).findings:
        if f.kind is FindingKind.FIRE:
            i = usable_t.index(f.ts)
            assert i + 1 >= count
            assert all(x <= 90 for x in usable_v[i - count + 1 : i + 1])
            assert len(f.evidence.samples) == count


PERSISTENCES = [Persistence(), Persistence(3), Persistence(2, 120.0), Persistence(k_of_n=(2, 4))]


@pytest.mark.parametrize("seed", range(12))
def test_agrees_with_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 400))
    t = np.sort(rng.choice(np.arange(100_000.0), n, replace=False))
    v = 70 + np.cumsum(rng.normal(0, 6, n))
    u = rng.random(n) > 0.1
    rule = ThresholdRule(
        "r", "p", Metric.HEART_RATE, fire_low=55, clear_low=float(rng.choice([55, 60])),
        fire_high=100, clear_high=float(rng.choice([90, 100])), urgent_high=130,
        persistence=PERSISTENCES[seed % 4],
    )  # fmt: skip
    got = evaluate(rule, Series(t, v, u), now=1e9).findings
    want = reference.threshold(rule, t.tolist(), v.tolist(), u.tolist())
    got_e = sorted((f.ts, f.kind.value, str(dict(f.evidence.features)["level"])) for f in got)
    assert got_e == sorted((e.ts, e.kind, e.level) for e in want)
