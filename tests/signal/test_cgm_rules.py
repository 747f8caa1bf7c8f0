"""CGM alert rules on hand-worked series: urgent low at once, low and high after 15 minutes
of a stream, predicted low from the last 20 minutes' trend (not over a gap or a compression
low), signal loss as a device problem."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from firmware_sim.cgm_glucose import CgmGlucoseModel, day_plan
from firmware_sim.physiology import PatientModel
from gateway import wire
from gateway.signal import Finding, FindingKind, Series, evaluate
from gateway.signal.cgm import GlucoseRule, PredictedLowRule, SignalLossRule, predict
from gateway.signal.programs import default_rules
from gateway.signal.rules import Rule
from gateway.signal.ruleset import rule_from_dict, rule_to_dict
from gateway.signal.series import DAY, HOUR, MINUTE, SignalError
from gateway.wire import Metric

FIVE = 5 * MINUTE
NIGHT = 20_000 * DAY + 3 * HOUR  # 03:00 UTC
LOW = GlucoseRule("low", "p", fire_low=69, clear_low=80, urgent_low=53)
HIGH = GlucoseRule("high", "p", fire_high=251, clear_high=230)
PRED = PredictedLowRule("pred", "p")
LOSS = SignalLossRule("loss", "p", Metric.BLOOD_GLUCOSE)


def cgm(values: Sequence[float], start: float = NIGHT, step: float = FIVE) -> Series:
    return Series.of(start + step * np.arange(len(values)), values)


def fired(rule: Rule, s: Series, now: float | None = None) -> list[tuple[str, float, float]]:
    """(level, minutes after the first reading, value) of each fire."""
    found = evaluate(rule, s, now=float(s.t[-1]) if now is None else now).findings
    return [
        (f.level, (f.ts - s.t[0]) / MINUTE, f.value) for f in found if f.kind is FindingKind.FIRE
    ]


def test_urgent_low_alerts_on_one_reading() -> None:
    s = cgm([100, 90, 52, 60, 75])
    assert fired(LOW, s) == [("urgent_low", 10.0, 52.0)]
    found = evaluate(LOW, s, now=float(s.t[-1])).findings
    # 60 is above 53 but inside the hysteresis gap (clear above 53 + (80 − 69) = 64); 75 clears.
    assert [(f.kind.value, f.priority.value, (f.ts - NIGHT) / MINUTE) for f in found] == [
        ("fire", "high", 10.0), ("all_clear", "high", 20.0)
    ]  # fmt: skip


def test_low_waits_for_three_readings_of_the_stream() -> None:
    # 68, 66: not yet (10 min); 65 is the third reading ≤ 69, 10 min after the first.
    assert fired(LOW, cgm([100, 68, 66, 65, 64])) == [("low", 15.0, 65.0)]
    # Noise lifts one reading to 72: the run starts again and needs three more.
    assert fired(LOW, cgm([100, 68, 72, 66, 65, 64])) == [("low", 25.0, 64.0)]
    assert fired(LOW, cgm([100, 68, 66, 72, 90])) == []


def test_low_clears_above_the_clear_level_only() -> None:
    found = evaluate(LOW, cgm([100, 68, 66, 65, 75, 79, 81]), now=NIGHT + 30 * MINUTE).findings
    assert [(f.kind.value, (f.ts - NIGHT) / MINUTE) for f in found] == [
        ("fire", 15.0), ("all_clear", 30.0)
    ]  # fmt: skip
    assert found[0].priority is wire.Priority.MEDIUM


def test_a_fingerstick_is_judged_alone_at_once() -> None:
    meter = Series.of([NIGHT, NIGHT + 6 * HOUR, NIGHT + 12 * HOUR], [120, 65, 260])
    assert fired(LOW, meter) == [("low", 360.0, 65.0)]
    assert fired(HIGH, meter) == [("high", 720.0, 260.0)]


def test_high_needs_fifteen_minutes() -> None:
    assert fired(HIGH, cgm([240, 255, 260, 262, 250])) == [("high", 15.0, 262.0)]
    assert fired(HIGH, cgm([240, 255, 260, 240, 262, 263])) == []


def test_predicted_low_from_a_steady_fall() -> None:
    # 1 mg/dL/min: the fit through 110..90 gives 90 now and 70 in 20 min (not below 70);
    # through 105..85 it gives 85 now and 65 in 20 min: fire, with the prediction as evidence.
    s = cgm([115, 110, 105, 100, 95, 90, 85])
    found = evaluate(PRED, s, now=float(s.t[-1])).findings
    assert [(f.kind.value, (f.ts - NIGHT) / MINUTE, f.value) for f in found] == [
        ("fire", 30.0, 85.0)
    ]
    feats = dict(found[0].evidence.features)
    assert feats["predicted"] == pytest.approx(65.0)
    assert feats["slope_per_min"] == pytest.approx(-1.0)
    assert found[0].category is wire.Category.CLINICAL


def test_predicted_low_with_noise_and_recovery() -> None:
    # The same fall with ±2 mg/dL of noise still fires; the prediction back above 80 clears.
    s = cgm([116, 108, 106, 98, 96, 88, 86, 88, 95, 104, 112])
    found = evaluate(PRED, s, now=float(s.t[-1])).findings
    assert [f.kind.value for f in found] == ["fire", "all_clear"]
    predicted = [float(dict(f.evidence.features)["predicted"]) for f in found]
    assert predicted[0] < 70.0
    assert predicted[1] >= 80.0


def test_no_prediction_over_a_gap() -> None:
    t = NIGHT + np.array([0, 5, 10, 25, 30, 35]) * MINUTE  # two readings missed at 15, 20
    s = Series.of(t, [110, 105, 100, 85, 80, 75])
    assert fired(PRED, s) == []
    p = predict(s.t, s.v, window_s=1200, horizon_s=1200, min_samples=4, max_gap_s=450,
                max_rate=5.0)  # fmt: skip
    assert not p.ok[3:].any()  # every window after the gap holds it


def test_a_compression_low_at_night_is_not_a_predicted_low() -> None:
    # Steady overnight, then one reading 30 mg/dL lower (the patient lay on the sensor):
    # a step of 6 mg/dL/min that no blood glucose makes. Without the artefact check the line
    # through it would predict a low; with it, no window holding the step predicts.
    values = [112, 110, 111, 109, 110, 80, 110, 111, 109, 110]
    s = cgm(values)
    assert fired(PRED, s) == []
    trusting = PredictedLowRule("pred", "p", max_rate=100.0)
    assert [lvl for lvl, _, _ in fired(trusting, s)] == ["predicted_low"]
    # Nor any other glucose rule of the diabetes program, nor a device finding.
    for rule in default_rules("diabetes", "p"):
        if rule.metric is Metric.BLOOD_GLUCOSE:
            assert fired(rule, s, now=float(s.t[-1])) == [], rule.rule_id


def test_a_quiet_noisy_night_predicts_nothing() -> None:
    rng = np.random.default_rng(7)
    values = np.round(105 + 4 * np.sin(np.arange(288) / 20) + rng.normal(0, 3, 288))
    s = cgm(values.tolist())
    for rule in default_rules("diabetes", "p"):
        if rule.metric is Metric.BLOOD_GLUCOSE:
            assert evaluate(rule, s, now=float(s.t[-1])).findings == (), rule.rule_id


def test_signal_loss_is_a_device_problem_warned_then_urgent() -> None:
    s = cgm([110] * 12)  # an hour of readings, the last at 55 min
    last = float(s.t[-1])
    found = evaluate(LOSS, s, now=last + 40 * MINUTE).findings
    # expected 5 min + 15 min → warn 20 min after the last reading; + 30 min → urgent at 35.
    assert [(f.level, f.priority.value, (f.ts - last) / MINUTE) for f in found] == [
        ("signal_loss", "medium", 20.0), ("signal_loss_urgent", "high", 35.0)
    ]  # fmt: skip
    assert {f.category for f in found} == {wire.Category.DEVICE}
    resumed = Series.of(np.append(s.t, last + 50 * MINUTE), [110] * 13)
    cleared = evaluate(LOSS, resumed, now=last + 50 * MINUTE, since=last + 40 * MINUTE)
    assert [(f.kind.value, f.level) for f in cleared.findings] == [
        ("all_clear", "signal_loss"), ("all_clear", "signal_loss_urgent")
    ]  # fmt: skip
    assert not any(cleared.state.active.values())


def test_spot_readings_never_look_lost() -> None:
    meter = Series.of(NIGHT + np.arange(0, 10 * DAY, 6 * HOUR), np.full(40, 120.0))
    assert evaluate(LOSS, meter, now=float(meter.t[-1]) + DAY).findings == ()


def test_live_evaluation_matches_the_whole_history() -> None:
    rng = np.random.default_rng(3)
    values = np.round(
        np.concatenate((np.linspace(130, 60, 40), np.linspace(60, 280, 60), np.full(30, 280.0)))
        + rng.normal(0, 3, 130)
    )
    t = NIGHT + FIVE * np.arange(values.size)
    t[70:] += 45 * MINUTE  # a signal loss
    s = Series.of(t, values)
    for rule in default_rules("diabetes", "p"):
        if rule.metric is not Metric.BLOOD_GLUCOSE:
            continue
        whole = evaluate(rule, s, now=float(t[-1])).findings
        live: list[Finding] = []
        state, since = None, None
        for now in np.arange(t[0], t[-1] + 1, FIVE):
            r = evaluate(rule, s, now=float(now), since=since, state=state)
            live += r.findings
            state, since = r.state, float(now)
        assert [f.to_dict() for f in live] == [f.to_dict() for f in whole], rule.rule_id
        assert whole or rule.rule_id == "dm.glucose_missed", rule.rule_id


@pytest.mark.parametrize("rule", [LOW, HIGH, PRED, LOSS], ids=lambda r: r.rule_id)
def test_rules_travel_as_json(rule: Rule) -> None:
    data = rule_to_dict(rule)
    assert rule_from_dict(data) == rule
    assert data["kind"] in {"glucose", "predicted_low", "signal_loss"}


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: GlucoseRule("g", "p"), "needs a level"),
        (lambda: GlucoseRule("g", "p", fire_low=4.0), "mg/dL"),
        (lambda: GlucoseRule("g", "p", fire_low=69, urgent_low=70), "urgent_low"),
        (lambda: GlucoseRule("g", "p", Metric.HEART_RATE, fire_low=69), "blood_glucose"),
        (lambda: PredictedLowRule("g", "p", min_samples=2), "min_samples"),
        (lambda: SignalLossRule("g", "p", Metric.BLOOD_GLUCOSE, warn_after_s=0), "warn_after"),
    ],
)
def test_bad_rules_are_refused(make: object, match: str) -> None:
    with pytest.raises(SignalError, match=match):
        make()  # type: ignore[operator]


@pytest.mark.parametrize("seed", [5, 17, 31])
def test_simulated_compression_lows_never_predict_a_low(seed: int) -> None:
    """14 days of the simulator's CGM (meals, overnight lows, compression lows, signal loss):
    the predicted low never fires within 10 minutes of a compression episode."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    model = CgmGlucoseModel(PatientModel(seed=seed, start=start))
    times = [start + timedelta(minutes=5 * k) for k in range(14 * 288)]
    kept = [(at.timestamp(), v) for at in times if (v := model.reading(at)) is not None]
    s = Series.of([t for t, _ in kept], [v for _, v in kept])
    squeezed = []
    for day in range(14):
        plan = day_plan(seed, day).compression
        if plan is not None:
            begin = start.timestamp() + day * DAY + plan[0] * HOUR
            squeezed.append((begin - 600, begin + plan[1] * MINUTE + 600))
    assert squeezed  # the seeds are chosen to hold some
    [rule] = [r for r in default_rules("diabetes", "p") if r.rule_id == "dm.glucose_predicted_low"]
    fires = fired(rule, s)
    assert fires  # it does predict the simulator's real overnight lows and post-meal falls
    at = [s.t[0] + minutes * MINUTE for _, minutes, _ in fires]
    assert [t for t in at if any(a <= t <= b for a, b in squeezed)] == []
