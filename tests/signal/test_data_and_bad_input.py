"""Rules round-trip as data; findings have stable ids; bad input never crashes or alerts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import wire
from gateway.signal import FindingKind, Series, SignalError, ThresholdRule, evaluate
from gateway.signal.clean import PLAUSIBLE
from gateway.signal.programs import PROGRAMS, default_rules
from gateway.signal.replay import History, replay
from gateway.signal.ruleset import rule_from_dict, rule_to_dict
from gateway.wire import Metric

ALL_RULES = [r for p in PROGRAMS for r in default_rules(p, "p1")]


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.rule_id)
def test_every_program_rule_round_trips_through_json(rule: object) -> None:
    data = json.loads(json.dumps(rule_to_dict(rule)))  # type: ignore[arg-type]
    assert rule_from_dict(data) == rule


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"kind": "magic"}, "unknown rule kind"),
        ({"kind": "threshold", "rule_id": "x", "colour": 1}, "unknown field"),
        ({"kind": "threshold", "rule_id": "x", "patient_id": "p", "metric": "mood"}, "mood"),
        ({"kind": "threshold", "rule_id": "x", "patient_id": "p", "metric": "spo2"}, "fire_low"),
        ({"kind": "threshold", "rule_id": "x", "patient_id": "p", "metric": "body_weight",
          "fire_high": 250, "clear_high": 300}, "clear_high"),
    ],
)  # fmt: skip
def test_bad_rule_data_is_a_clear_error(data: dict[str, object], match: str) -> None:
    with pytest.raises(SignalError, match=match):
        rule_from_dict(data)


def test_wire_rules_are_accepted_directly_and_ids_are_stable() -> None:
    w = wire.ThresholdRule(rule_id="w1", patient_id="p1", metric=Metric.SPO2, fire_low=90)
    s = Series.of([0.0, 60.0], [95.0, 88.0])
    a = evaluate(w, s, now=100.0).findings
    b = replay([w], History({("p1", Metric.SPO2): s}))
    assert [f.id for f in a] == [f.id for f in b]
    assert len(a) == 1
    event = a[0].to_event()
    assert event.id == a[0].id
    assert event.rule == "w1"
    assert wire.decode(
        wire.encode(
            wire.EventBatch(gateway_id="g", batch_id="b", sent_at=event.ts, events=(event,))
        )
    )


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(20, 300),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0, 1e308]),
)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    samples=st.lists(st.tuples(st.floats(0, 40 * 86400), values, st.booleans()), max_size=60),
    metric=st.sampled_from(
        [Metric.HEART_RATE, Metric.SPO2, Metric.BODY_WEIGHT, Metric.BLOOD_GLUCOSE]
    ),
    future=st.floats(0, 1e6),
)
def test_garbage_never_crashes_and_never_alerts_on_a_bad_sample(
    samples: list[tuple[float, float, bool]], metric: Metric, future: float
) -> None:
    t = [s[0] for s in samples]
    v = [s[1] for s in samples]
    u = [s[2] for s in samples]
    series = Series.of(t, v, u)  # unsorted, duplicate times allowed
    now = (max(t) if t else 0.0) - future  # some samples lie in the future of `now`
    rules = [r for p in PROGRAMS for r in default_rules(p, "p1") if r.metric == metric]
    sample_rules = {r.rule_id for r in rules if isinstance(r, ThresholdRule)}
    found = replay(rules, History({("p1", metric): series}), now=now)
    low, high = PLAUSIBLE[metric]
    clinical_fires = [
        f for f in found if f.kind is FindingKind.FIRE and f.category.value == "clinical"
    ]
    for f in found:
        assert f.ts <= now
        assert np.isfinite(f.ts)
    for f in clinical_fires:
        assert np.isfinite(f.value)
        assert low <= f.value <= high
        if f.rule in sample_rules:  # the others fire on aggregates, stamped at period ends
            i = int(np.searchsorted(series.t, f.ts))
            assert series.t[i] == f.ts
            assert series.usable[i]
