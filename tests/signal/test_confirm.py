"""Confirm before alarming: the pending-finding state machine driven by a fake clock, urgent
levels that never wait, baseline warm-up, the weight-step artefact check, replay statuses."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from gateway import wire
from gateway.signal import Series, ThresholdRule, evaluate
from gateway.signal.artefacts import WAS_THIS_YOU, StepRule
from gateway.signal.baseline import BaselineRule
from gateway.signal.clean import Rejection, clean
from gateway.signal.confirm import Outcome, decide, expired, settle_series
from gateway.signal.findings import Finding
from gateway.signal.programs import default_rules
from gateway.signal.replay import history_from_readings, replay_decisions
from gateway.signal.ruleset import rule_from_dict, rule_to_dict
from gateway.signal.series import DAY, HOUR, MINUTE
from gateway.wire import Metric

T0 = 1_790_000_000.0
SBP = ThresholdRule("t.sbp", "p", Metric.SYSTOLIC_BP, fire_high=160, clear_high=150,
                    urgent_high=180, confirm_s=HOUR, confirm_by="mean")  # fmt: skip
SPO2 = ThresholdRule("t.spo2", "p", Metric.SPO2, fire_low=91, clear_low=93, urgent_low=87,
                     confirm_s=HOUR)  # fmt: skip


def series(*points: tuple[float, float], usable: tuple[bool, ...] | None = None) -> Series:
    t = np.array([T0 + s for s, _ in points])
    v = np.array([v for _, v in points])
    return Series.of(t, v, None if usable is None else np.array(usable))


def fires(rule: ThresholdRule, s: Series, now: float) -> list[Finding]:
    return [f for f in evaluate(rule, s, now=now).findings if f.kind.value == "fire"]


def test_a_reading_beyond_the_level_is_pending_until_the_window_ends() -> None:
    s = series((0, 130), (12 * HOUR, 166))
    (f,) = fires(SBP, s, T0 + 12 * HOUR)
    # The clock moves, nothing is re-measured: pending, then unconfirmed at the window's end.
    for minutes, outcome in ((0, Outcome.PENDING), (59, Outcome.PENDING),
                             (60, Outcome.UNCONFIRMED), (300, Outcome.UNCONFIRMED)):  # fmt: skip
        now = f.ts + minutes * MINUTE
        d = decide(SBP, f, s, now=now)
        assert d.outcome is outcome, minutes
        assert expired(f.ts + HOUR, now=now) is (minutes >= 60)
    assert d.alert is not None
    assert d.alert.ts == f.ts + HOUR
    feats = dict(d.alert.evidence.features)
    assert feats["confirmation"] == "unconfirmed"
    assert feats["note"] == "not confirmed: no re-measurement within 60 min"


def test_a_normal_re_measurement_cancels_and_a_high_one_confirms_on_the_mean() -> None:
    base = [(0.0, 130.0), (12 * HOUR, 172.0)]
    (f,) = fires(SBP, series(*base), T0 + 12 * HOUR)
    normal = series(*base, (12 * HOUR + 5 * MINUTE, 128.0))  # mean 150: below 160
    d = decide(SBP, f, normal, now=T0 + 13 * HOUR)
    assert (d.outcome, d.alert, d.decided_at) == (Outcome.CANCELLED, None, T0 + 12 * HOUR + 300)
    high = series(*base, (12 * HOUR + 2 * MINUTE, 158.0))  # mean 165: confirmed
    d = decide(SBP, f, high, now=T0 + 12 * HOUR + 2 * MINUTE)
    assert d.outcome is Outcome.CONFIRMED
    assert d.alert is not None
    assert d.alert.ts == T0 + 12 * HOUR + 120
    assert d.alert.value == pytest.approx(165.0)
    assert d.alert.evidence.samples[-2:] == ((T0 + 12 * HOUR, 172.0), (T0 + 12 * HOUR + 120, 158.0))
    assert dict(d.alert.evidence.features)["confirmation"] == "confirmed"


def test_a_flagged_re_measurement_does_not_count_for_spo2() -> None:
    s = series((0, 96), (60, 89), (120, 86.0), usable=(True, True, False))
    (f,) = fires(SPO2, s, T0 + 120)
    assert decide(SPO2, f, s, now=T0 + 10 * MINUTE).outcome is Outcome.PENDING
    good = series((0, 96), (60, 89), (120, 86.0), (180, 96.0), usable=(True, True, False, True))
    assert decide(SPO2, f, good, now=T0 + 10 * MINUTE).outcome is Outcome.CANCELLED


def test_urgent_levels_alert_at_once_whatever_the_confirmation_state() -> None:
    s = series((0, 130), (HOUR, 172), (HOUR + 60, 186))  # pending at 172, then ≥ 180
    decided = settle_series([SBP], s, now=T0 + HOUR + 60)
    by_level = {d.finding.level: d for d in decided}
    assert by_level["high"].outcome is Outcome.CONFIRMED  # the re-measurement is beyond too
    urgent = by_level["urgent_high"]
    assert urgent.outcome is Outcome.IMMEDIATE
    assert urgent.alert is not None
    assert urgent.alert.ts == T0 + HOUR + 60
    spo2 = series((0, 96), (60, 85))  # below 88 %: urgent at once, the ≤ 91 level waits
    outcomes = {d.finding.level: d.outcome for d in settle_series([SPO2], spo2, now=T0 + 60)}
    assert outcomes == {"urgent_low": Outcome.IMMEDIATE, "low": Outcome.PENDING}


def test_a_cancelled_reading_is_left_out_so_a_later_one_fires_again() -> None:
    # 172 cancelled by 140 (in the dead band: the episode would otherwise stay open); the
    # next evening's 171 is a new pending finding, confirmed by 169.
    s = series((0, 130), (HOUR, 172), (HOUR + 120, 140), (DAY, 171), (DAY + 60, 169))
    outcomes = [(d.outcome, d.finding.value) for d in settle_series([SBP], s, now=T0 + 2 * DAY)]
    assert outcomes == [(Outcome.CANCELLED, 172.0), (Outcome.CONFIRMED, 171.0)]


def test_the_confirmation_window_is_part_of_the_rules_json_form() -> None:
    data = rule_to_dict(SBP)
    assert (data["confirm_s"], data["confirm_by"]) == (3600.0, "mean")
    assert rule_from_dict(json.loads(json.dumps(data))) == SBP
    rules = {r.rule_id: r for r in default_rules("hypertension", "p")}
    assert rules["htn.sbp"].urgent_high == 180  # type: ignore[union-attr]
    assert rules["htn.dbp"].urgent_high == 120  # type: ignore[union-attr]


def test_a_baseline_rule_waits_for_its_warm_up() -> None:
    rule = BaselineRule("b", "p", Metric.SYSTOLIC_BP, z=3.0, min_delta=15.0, low=False)
    days = np.arange(0.0, 10.0, 0.5)  # twice a day
    v = 125 + np.where(np.arange(days.size) % 2 == 0, 1.0, -1.0)
    for jump_day, fires_ in ((5.0, False), (9.5, True)):  # 10 samples but 5 days; then 9.5 days
        w = v.copy()
        w[days == jump_day] = 160.0
        s = Series.of(T0 + days * DAY, w)
        found = [f for f in evaluate(rule, s, now=T0 + 10 * DAY).findings if f.kind == "fire"]
        assert bool(found) is fires_, jump_day


def test_another_person_on_the_scale_is_a_device_finding_not_a_clinical_alert() -> None:
    days = np.arange(10.0)
    weight = np.array([82.0, 82.2, 81.9, 82.1, 82.0, 58.4, 82.1, 82.3, 105.0, 82.2])
    raw = Series.of(T0 + days * DAY, weight)
    cleaned = clean(raw, Metric.BODY_WEIGHT)
    assert [int(i) for i in np.flatnonzero(cleaned.reason == Rejection.STEP)] == [5, 8]
    step = StepRule("hf.weight_step", "p", Metric.BODY_WEIGHT)
    found = evaluate(step, cleaned.series, now=T0 + 10 * DAY).findings
    assert [(f.value, f.category, dict(f.evidence.features)["ask"]) for f in found] == [
        (58.4, wire.Category.DEVICE, WAS_THIS_YOU),
        (105.0, wire.Category.DEVICE, WAS_THIS_YOU),
    ]
    # No clinical weight rule sees them: the heart-failure program alerts on nothing here.
    hf = [r for r in default_rules("heart_failure", "p") if r.metric is Metric.BODY_WEIGHT]
    decided = settle_series(hf, cleaned.series, now=T0 + 10 * DAY)
    assert all(d.finding.category is not wire.Category.CLINICAL for d in decided)


def reading(i: int, metric: Metric, value: float, at: timedelta) -> wire.Reading:
    return wire.Reading(
        id=f"r{i}", patient_id="p1", device_id="cuff", metric=metric, value=value,
        unit=wire.CANONICAL_UNITS[metric], ts=datetime(2026, 3, 1, tzinfo=UTC) + at,
    )  # fmt: skip


def test_replay_rows_say_which_findings_alerted_were_cancelled_or_still_wait() -> None:
    sbp = Metric.SYSTOLIC_BP
    readings = [
        reading(0, sbp, 125, timedelta(hours=8)),
        reading(1, sbp, 172, timedelta(hours=20)),  # a cuff put on badly …
        reading(2, sbp, 126, timedelta(hours=20, minutes=4)),  # … re-measured: cancelled
        reading(3, sbp, 168, timedelta(days=1, hours=8)),
        reading(4, sbp, 166, timedelta(days=1, hours=8, minutes=1)),  # confirmed
        reading(5, sbp, 190, timedelta(days=1, hours=20)),  # urgent: at once
        reading(6, sbp, 165, timedelta(days=2, hours=8)),  # the same episode: nothing new
    ]
    rules = [replace(SBP, patient_id="p1")]
    rows = [d.to_row() for d in replay_decisions(rules, history_from_readings(readings))]
    assert [(r["ts"], r["value"], r.get("status")) for r in rows] == [
        ("2026-03-01T20:00:00Z", 172.0, "cancelled"),
        ("2026-03-02T08:01:00Z", 167.0, None),
        ("2026-03-02T20:00:00Z", 190.0, None),
    ]
    assert set(rows[0]) == {"patient_id", "rule", "category", "priority", "ts", "metric",
                            "value", "status"}  # fmt: skip
    assert set(rows[1]) == {"patient_id", "rule", "category", "priority", "ts", "metric", "value"}
