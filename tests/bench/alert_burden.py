"""alert_burden: false clinical alerts per patient-week, and sensitivity, on the firmware_sim cohort.

Each scenario of ``firmware_sim/scenarios`` is run for several seeds under the program a
clinician would enrol that patient in; the patients measure as a home-monitoring routine
asks (cuff, scale, oximeter and thermometer in the morning, cuff again in the evening,
glucose twice a day in the diabetes program) with a little jitter in the time of day. Real
homes add artefacts (``firmware_sim.artefacts``, seeded: a cuff put on badly and re-measured,
a coat or another person on the scale, a cuff fit error, a loose oximeter probe), drawn for
the well patients over the whole run and for the deteriorating ones before their onset, so
that every alert after an onset is the deterioration's. A patient answers a re-measure
prompt (a pending finding) nine times in ten, 3-20 minutes later. The program's rules are
replayed over the readings exactly as ``vitalgate-cloud replay`` does, with confirmation,
and once more with every confirmation window set to 0 (single-reading alarms) to measure what
confirmation saves and what it costs in time. A clinical alert before a scenario's onset,
or in a stable patient, is false; a deteriorating patient alerted after the onset is a
true positive. False alerts of one patient within 12 h are one episode. The tables go to
stderr, the figures to stdout as JSON lines.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

import numpy as np

from cloud.alerts.replay import alerts_of, burden_of, decisions
from firmware_sim import artefacts
from firmware_sim import scenario as scenarios
from firmware_sim.physiology import PatientModel
from gateway import wire
from gateway.signal.confirm import Decision, Outcome
from gateway.signal.findings import Finding
from gateway.signal.programs import default_rules
from gateway.signal.rules import Rule
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
    ("heart_failure_slow", "heart_failure", 168.0),
    ("copd_exacerbation", "copd", 96.0),
    ("hypertensive_urgency", "hypertension", 120.0),
    ("fever", "general", 48.0),
    ("hypoglycaemia", "diabetes", 50.0),
)
MORNING: Final = (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.PULSE_RATE, Metric.BODY_WEIGHT,
                  Metric.SPO2, Metric.BODY_TEMPERATURE)  # fmt: skip
EVENING: Final = (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.PULSE_RATE)
GLUCOSE: Final = (Metric.BLOOD_GLUCOSE,)
DEVICES: Final = (
    (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.PULSE_RATE),
    (Metric.BODY_WEIGHT,),
    (Metric.SPO2,),
    (Metric.BODY_TEMPERATURE,),
    (Metric.BLOOD_GLUCOSE,),
)
"""The metrics one device measures together (a re-measurement repeats them all)."""
EPISODE_S: Final = 12 * 3600.0
RESPOND_P: Final = 0.9
RESPOND_DELAY_S: Final = (180.0, 1200.0)
PROMPT_ROUNDS: Final = 4


def device_of(metric: Metric) -> tuple[Metric, ...]:
    return next(d for d in DEVICES if metric in d)


@dataclass
class Tally:
    scenario: str
    program: str
    patients: int = 0
    alerted_after_onset: int = 0
    false_alerts: int = 0
    false_episodes: int = 0
    plain_false_episodes: int = 0
    well_with_false: int = 0
    weeks_at_risk_of_false: float = 0.0
    cancelled: int = 0
    unconfirmed: int = 0
    pending: int = 0
    device_findings: int = 0
    added_delay_s: list[float] = field(default_factory=list)
    urgent_added_s: list[float] = field(default_factory=list)


class Home:
    """One simulated patient at home: routine measurements, artefacts, prompt answers."""

    def __init__(self, name: str, program: str, seed: int, days: float, onset: float | None):
        self.model: PatientModel = scenarios.load(name).patient(seed, START)
        self.seed = seed
        self.patient = f"{name[:12]}-{program[:4]}-{seed}"
        self.routine = [(7.5, MORNING), (19.5, EVENING)]
        if program == "diabetes":
            self.routine += [(7.0, GLUCOSE), (18.0, GLUCOSE)]
        self.days = int(days)
        onset_day = None if onset is None else int(onset // 24)
        self.artefacts = {
            (a.day, a.slot): a
            for a in artefacts.draw(seed, self.days, len(self.routine), until_day=onset_day)
        }
        self.n = 0
        self.prompted: set[tuple[Metric, float]] = set()

    def reading(self, metric: Metric, when: datetime, value: float | None = None,
                flags: tuple[str, ...] = ()) -> wire.Reading:  # fmt: skip
        self.n += 1
        true = self.model.sample(metric, when) if value is None else value
        return wire.Reading(
            id=f"{self.patient}-{self.n}",
            patient_id=self.patient,
            device_id=f"{self.patient}-{metric.value}",
            metric=metric,
            value=round(true, 1),
            unit=wire.CANONICAL_UNITS[metric],
            ts=when,
            quality=wire.Quality(flags=flags),
        )

    def routine_readings(self) -> Iterator[wire.Reading]:
        """Home readings at habitual times with ±30 min of jitter, artefacts included."""
        rng = np.random.default_rng([self.seed, 7])
        for day in range(self.days):
            for slot, (hour, metrics) in enumerate(self.routine):
                when = START + timedelta(days=day, hours=hour + float(rng.normal(0, 0.25)))
                art = self.artefacts.get((day, slot))
                spoiled = art if art is not None and art.metrics[0] in metrics else None
                for metric in metrics:
                    if spoiled is not None and metric in spoiled.metrics:
                        value, flags = spoiled.apply(metric, self.model.sample(metric, when))
                        yield self.reading(metric, when, value, flags)
                    else:
                        yield self.reading(metric, when)
                if spoiled is not None and spoiled.remeasure_after_s is not None:
                    again = when + timedelta(seconds=spoiled.remeasure_after_s)
                    for metric in device_of(spoiled.metrics[0]):
                        yield self.reading(metric, again)

    def answer_prompts(self, found: Iterable[Decision]) -> list[wire.Reading]:
        """Re-measurements asked for by every finding that was held (the prompt goes out when
        it is held, whatever later readings make of it)."""
        out: list[wire.Reading] = []
        for d in found:
            if d.outcome is Outcome.IMMEDIATE:
                continue
            device = device_of(d.finding.metric)
            key = (device[0], d.finding.ts)
            if key in self.prompted:
                continue
            self.prompted.add(key)
            rng = np.random.default_rng([self.seed, int(d.finding.ts), 99])
            if rng.random() >= RESPOND_P:
                continue
            delay = float(rng.uniform(*RESPOND_DELAY_S))
            when = datetime.fromtimestamp(d.finding.ts + delay, tz=UTC)
            out += [self.reading(metric, when) for metric in device]
        return out


def single_reading(rule: Rule) -> Rule:
    """The rule without its confirmation window (alarms on the first reading)."""
    if not getattr(rule, "confirm_s", 0.0):
        return rule
    plain: Rule = replace(cast(Any, rule), confirm_s=0.0)
    return plain


def episodes(times: Iterable[float]) -> int:
    """Alerts of one patient within 12 h of an episode's first alert are one episode."""
    count, start = 0, -np.inf
    for ts in sorted(times):
        if ts - start >= EPISODE_S:
            count, start = count + 1, ts
    return count


def clinical(found: Iterable[Finding]) -> list[Finding]:
    return [f for f in found if f.category is wire.Category.CLINICAL]


def first_after(found: list[Finding], onset_s: float) -> Finding | None:
    return next((f for f in found if f.ts >= onset_s), None)


def simulate(name: str, program: str, seed: int, onset: float | None, out: Tally) -> None:
    days = STABLE_DAYS if onset is None else scenarios.load(name).days
    home = Home(name, program, seed, days, onset)
    readings = list(home.routine_readings())
    found = decisions(readings, program=program)
    for _ in range(PROMPT_ROUNDS):
        answers = home.answer_prompts(found)
        if not answers:
            break
        readings += answers
        found = decisions(readings, program=program)
    alerts = clinical(alerts_of(found))
    plain = clinical(
        burden_of(readings, lambda pid: [single_reading(r) for r in default_rules(program, pid)])
    )
    onset_s = np.inf if onset is None else (START + timedelta(hours=onset)).timestamp()
    false = [f.ts for f in alerts if f.ts < onset_s]
    out.patients += 1
    out.false_alerts += len(false)
    out.false_episodes += episodes(false)
    out.plain_false_episodes += episodes(f.ts for f in plain if f.ts < onset_s)
    out.well_with_false += bool(false)
    out.weeks_at_risk_of_false += (days if onset is None else onset / 24) / 7
    out.cancelled += sum(d.outcome is Outcome.CANCELLED for d in found)
    out.pending += sum(d.outcome is Outcome.PENDING for d in found)
    out.unconfirmed += sum(d.outcome is Outcome.UNCONFIRMED for d in found)
    out.device_findings += sum(
        d.alert is not None and d.alert.category is wire.Category.DEVICE for d in found
    )
    if onset is None:
        return
    mine, theirs = first_after(alerts, onset_s), first_after(plain, onset_s)
    out.alerted_after_onset += mine is not None
    if mine is not None and theirs is not None and not theirs.level.startswith("urgent"):
        out.added_delay_s.append(mine.ts - theirs.ts)
    # Urgent levels: the first urgent alert of each rule after onset, with and without.
    for rule, level in {(f.rule, f.level) for f in plain if f.level.startswith("urgent")}:
        after = [f.ts for f in plain if (f.rule, f.level) == (rule, level) and f.ts >= onset_s]
        if not after:
            continue
        t0 = min(after)
        t1 = [f.ts for f in alerts if (f.rule, f.level) == (rule, level) and f.ts >= onset_s]
        out.urgent_added_s.append(min(t1) - t0 if t1 else np.inf)


def run_cohort() -> list[Tally]:
    outcomes = []
    for name, program, onset in COHORT:
        out = Tally(name, program)
        for seed in range(SEEDS):
            simulate(name, program, seed, onset, out)
        outcomes.append(out)
    return outcomes


def print_table(outcomes: list[Tally]) -> None:
    print(f"{'scenario':<30} {'program':<14} {'patients':>8} {'alerted':>8} {'false':>6} "
          f"{'false/pt-wk':>11} {'episodes':>8} {'cancelled':>9}", file=sys.stderr)  # fmt: skip
    for o in outcomes:
        rate = o.false_alerts / o.weeks_at_risk_of_false if o.weeks_at_risk_of_false else 0.0
        alerted = "—" if o.scenario == "stable" else f"{o.alerted_after_onset}/{o.patients}"
        print(f"{o.scenario:<30} {o.program:<14} {o.patients:>8} {alerted:>8} "
              f"{o.false_alerts:>6} {rate:>11.2f} {o.false_episodes:>8} {o.cancelled:>9}",
              file=sys.stderr)  # fmt: skip


def print_confusion(outcomes: list[Tally]) -> None:
    ill = [o for o in outcomes if o.scenario != "stable"]
    tp = sum(o.alerted_after_onset for o in ill)
    fn = sum(o.patients for o in ill) - tp
    fp = sum(o.well_with_false for o in outcomes)
    tn = sum(o.patients for o in outcomes) - fp
    print(
        "\nconfusion (clinical alerts)                         alerted  not alerted",
        file=sys.stderr,
    )
    print(f"{'deteriorating patients (after onset)':<50} {tp:>8} {fn:>12}", file=sys.stderr)
    print(f"{'well periods (stable, or before onset)':<50} {fp:>8} {tn:>12}", file=sys.stderr)
    print(f"findings cancelled by confirmation: {sum(o.cancelled for o in outcomes)}; "
          f"alerted unconfirmed (no re-measurement): {sum(o.unconfirmed for o in outcomes)}; "
          f"still pending at the end: {sum(o.pending for o in outcomes)}; "
          f"device findings ('was this you?' and others): "
          f"{sum(o.device_findings for o in outcomes)}", file=sys.stderr)  # fmt: skip


def run() -> Iterator[Figure]:
    outcomes = run_cohort()
    print_table(outcomes)
    print_confusion(outcomes)
    ill = [o for o in outcomes if o.scenario != "stable"]
    sensitivity = sum(o.alerted_after_onset for o in ill) / sum(o.patients for o in ill)
    weeks = sum(o.weeks_at_risk_of_false for o in outcomes)
    false_rate = sum(o.false_alerts for o in outcomes) / weeks
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
    episodes_rate = sum(o.false_episodes for o in outcomes) / weeks
    plain_rate = sum(o.plain_false_episodes for o in outcomes) / weeks
    yield Figure(
        "alert_burden",
        round(episodes_rate, 3),
        "false clinical alert episodes per patient-week (12 h episodes)",
        baseline=round(plain_rate, 3),
        ratio=round(plain_rate / episodes_rate, 2) if episodes_rate else None,
        extra={
            "baseline_is": "the same rules alarming on single readings (no confirmation)",
            "target_episodes_per_week": 0.05,
            "cancelled_by_confirmation": sum(o.cancelled for o in outcomes),
            "unconfirmed_alerts": sum(o.unconfirmed for o in outcomes),
            "deteriorations_alerted": f"{sum(o.alerted_after_onset for o in ill)}/"
            f"{sum(o.patients for o in ill)}",
        },
    )
    delays = [d / 60 for o in outcomes for d in o.added_delay_s]
    urgent = [d / 60 for o in outcomes for d in o.urgent_added_s]
    yield Figure(
        "alert_burden",
        round(statistics.median(delays), 1) if delays else 0.0,
        "min added to time_to_alert by confirmation (median, true deteriorations, urgent excluded)",
        extra={
            "name": "time_to_alert",
            "worst_added_min": round(max(delays), 1) if delays else 0.0,
            "deteriorations": len(delays),
            "urgent_added_min_worst": round(max(urgent), 1) if urgent else 0.0,
            "urgent_alerts_compared": len(urgent),
        },
    )
