"""Simulated patients: each deterioration fires its alert in time, a stable patient none."""

from __future__ import annotations

import pytest

from gateway.signal import FindingKind
from gateway.signal.programs import PROGRAMS, default_rules
from gateway.signal.replay import alert_burden, replay
from gateway.signal.series import DAY, HOUR
from tests.signal.sim import EPOCH, simulate

ONSET = 20.0


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_stable_patient_fires_nothing_in_30_days(program: str) -> None:
    history = simulate("stable", days=30, seed=1)
    found = replay(default_rules(program, "p1"), history)
    assert [f.to_dict() for f in found] == []


@pytest.mark.parametrize(
    ("scenario", "program", "rule", "within_s"),
    [
        ("heart_failure", "heart_failure", "hf.weight_3d", 4 * DAY),
        ("heart_failure", "heart_failure", "hf.resting_hr_drift", 7 * DAY),
        ("copd", "copd", "copd.spo2_drift", 3.5 * DAY),  # daily medians: the day must end
        ("copd", "copd", "general.spo2", 4 * DAY),
        ("hypertensive_urgency", "hypertension", "htn.sbp", 9 * HOUR),
        ("hypertensive_urgency", "hypertension", "htn.dbp", 9 * HOUR),
        ("fever", "general", "general.temp", 8 * HOUR),
        ("hypoglycaemia", "diabetes", "dm.glucose_low", 8 * HOUR),
    ],
)
def test_deterioration_fires_in_time(
    scenario: str, program: str, rule: str, within_s: float
) -> None:
    history = simulate(scenario, days=30, onset_day=ONSET, seed=2)
    found = replay(default_rules(program, "p1"), history)
    fires = [f for f in found if f.kind is FindingKind.FIRE]
    onset = EPOCH + ONSET * DAY
    assert [f.rule for f in fires if f.ts < onset] == []  # nothing before the onset
    mine = [f.ts - onset for f in fires if f.rule == rule]
    assert mine, f"{rule} never fired; fired: {alert_burden(fires)}"
    assert 0 <= mine[0] <= within_s
    assert all(f.evidence.rule_version == 1 for f in fires)


def test_urgent_levels_are_high_priority() -> None:
    found = replay(default_rules("hypertension", "p1"), simulate("hypertensive_urgency", seed=3))
    levels = {
        (f.rule, dict(f.evidence.features)["level"], f.priority.value)
        for f in found
        if f.kind is FindingKind.FIRE
    }
    assert ("htn.sbp", "urgent_high", "high") in levels
    # Severe diastolic is ≥ 120 mmHg (ACC/AHA 2017); this course reaches about 122 ± 3.
    assert ("htn.dbp", "high", "medium") in levels


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_stable_patients_stay_quiet_across_seeds(seed: int) -> None:
    history = simulate("stable", days=30, seed=100 + seed)
    for program in PROGRAMS:
        fires = [
            f for f in replay(default_rules(program, "p1"), history) if f.kind is FindingKind.FIRE
        ]
        assert alert_burden(fires) == {}, program
