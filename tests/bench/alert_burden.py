"""alert_burden: false clinical alerts per patient-week, and sensitivity, on the firmware_sim cohort.

Each scenario of ``firmware_sim/scenarios`` is run for several seeds under the program a
clinician would enrol that patient in; the patients measure as a home-monitoring routine
asks (cuff, scale, oximeter and thermometer in the morning, cuff again in the evening,
glucose twice a day in the diabetes program) with a little jitter in the time of day. The
program's rules are replayed over the readings exactly as ``vitalgate-cloud replay`` does.
A clinical alert before a scenario's onset, or in a stable patient, is false; a
deteriorating patient alerted after the onset is a true positive. The confusion table goes
to stderr, the figures to stdout as JSON lines.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np

from cloud.alerts.replay import burden
from firmware_sim import scenario as scenarios
from gateway import wire
from gateway.wire import Metric
from tests.bench._common import Figure

SEEDS: Final = 10
START: Final = datetime(2026, 10, 1, tzinfo=UTC)
STABLE_DAYS: Final = 30
COHORT: Final = (
    # scenario, program, onset (hours into the scenario; None: stays well)
    ("stable", "heart_failure", None),
    ("stable", "copd", None),
    ("stable", "hypertension", None),
    ("stable", "diabetes", None),
    ("heart_failure_decompensation", "heart_failure", 168.0),
    ("copd_exacerbation", "copd", 96.0),
    ("hypertensive_urgency", "hypertension", 120.0),
    ("fever", "general", 48.0),
    ("hypoglycaemia", "diabetes", 50.0),
)
MORNING: Final = (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.PULSE_RATE, Metric.BODY_WEIGHT,
                  Metric.SPO2, Metric.BODY_TEMPERATURE)  # fmt: skip
EVENING: Final = (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.PULSE_RATE)
GLUCOSE: Final = (Metric.BLOOD_GLUCOSE,)


@dataclass
class Outcome:
    scenario: str
    program: str
    patients: int = 0
    alerted_after_onset: int = 0
    false_alerts: int = 0
    weeks_at_risk_of_false: float = 0.0


def readings(name: str, program: str, seed: int, days: float) -> Iterator[wire.Reading]:
    """A patient's home readings, at their habitual times with ±30 min of jitter."""
    model = scenarios.load(name).patient(seed, START)
    rng = np.random.default_rng([seed, 7])
    patient = f"{name[:12]}-{program[:4]}-{seed}"
    routine = [(7.5, MORNING), (19.5, EVENING)]
    if program == "diabetes":
        routine += [(7.0, GLUCOSE), (18.0, GLUCOSE)]
    n = 0
    for day in range(int(days)):
        for hour, metrics in routine:
            when = START + timedelta(days=day, hours=hour + float(rng.normal(0, 0.25)))
            for metric in metrics:
                n += 1
                yield wire.Reading(
                    id=f"{patient}-{n}",
                    patient_id=patient,
                    device_id=f"{patient}-{metric.value}",
                    metric=metric,
                    value=round(model.sample(metric, when), 1),
                    unit=wire.CANONICAL_UNITS[metric],
                    ts=when,
                )


def run_cohort() -> list[Outcome]:
    outcomes = []
    for name, program, onset in COHORT:
        days = STABLE_DAYS if onset is None else scenarios.load(name).days
        out = Outcome(name, program)
        for seed in range(SEEDS):
            found = burden(list(readings(name, program, seed, days)), program=program)
            clinical = [f for f in found if f.category is wire.Category.CLINICAL]
            onset_s = None if onset is None else (START + timedelta(hours=onset)).timestamp()
            false = [f for f in clinical if onset_s is None or f.ts < onset_s]
            out.patients += 1
            out.false_alerts += len(false)
            out.weeks_at_risk_of_false += (days if onset is None else onset / 24) / 7
            if onset_s is not None and any(f.ts >= onset_s for f in clinical):
                out.alerted_after_onset += 1
        outcomes.append(out)
    return outcomes


def print_table(outcomes: list[Outcome]) -> None:
    print(f"{'scenario':<30} {'program':<14} {'patients':>8} {'alerted':>8} {'false':>6} "
          f"{'false/pt-wk':>11}", file=sys.stderr)  # fmt: skip
    for o in outcomes:
        rate = o.false_alerts / o.weeks_at_risk_of_false if o.weeks_at_risk_of_false else 0.0
        alerted = "—" if o.scenario == "stable" else f"{o.alerted_after_onset}/{o.patients}"
        print(f"{o.scenario:<30} {o.program:<14} {o.patients:>8} {alerted:>8} "
              f"{o.false_alerts:>6} {rate:>11.2f}", file=sys.stderr)  # fmt: skip


def run() -> Iterator[Figure]:
    outcomes = run_cohort()
    print_table(outcomes)
    ill = [o for o in outcomes if o.scenario != "stable"]
    sensitivity = sum(o.alerted_after_onset for o in ill) / sum(o.patients for o in ill)
    false_rate = sum(o.false_alerts for o in outcomes) / sum(
        o.weeks_at_risk_of_false for o in outcomes
    )
    yield Figure(
        "alert_burden",
        round(false_rate, 3),
        "false clinical alerts per patient-week",
        extra={
            "sensitivity": round(sensitivity, 3),
            "patients": sum(o.patients for o in outcomes),
            "target_false_per_week": 1.0,
            "target_sensitivity": 1.0,
        },
    )
