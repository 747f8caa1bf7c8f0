"""The same rules at the edge: the gateway's monitor and the cloud's evaluation alert alike.

Seeded firmware_sim homes (the alert-burden cohort: every program, well and deteriorating
patients, with everyday artefacts — a cuff put on badly and re-measured, a coat or another
person on the scale, a cuff fit error, a loose probe — and the re-measurements patients
make when prompted) are replayed twice: through the cloud's evaluation with confirmation
(``cloud.alerts.replay``, as ``vitalgate-cloud replay`` runs it) and through the gateway's
``EdgeStage`` fed one measurement at a time, its rules taken from a signed-form config
that went through the wire. Every alert of a rule the edge runs must be the same: rule,
time, level, evidence readings (and so the same finding id). Rules left to the cloud by
design (``gateway.signal.edge_rules.cloud_only``) must produce nothing at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from itertools import groupby
from typing import Any, Final

import pytest

from cloud.alerts.replay import alerts_of, decisions, decisions_of
from firmware_sim import scenario as scenarios
from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.physiology import Episode, HeartRateModel
from gateway import wire
from gateway.app import rows_readings_rr
from gateway.ble.measurement import Measurement
from gateway.ble.profiles.heart_rate import decode_heart_rate
from gateway.signal import edge_rules
from gateway.signal.confirm import Decision, Outcome
from gateway.signal.findings import Finding, FindingKind
from gateway.signal.programs import PROGRAMS, default_rules
from gateway.signal.replay import history_from_readings, replay
from gateway.signal.stage import EdgeStage
from tests.bench.alert_burden import COHORT, PROMPT_ROUNDS, STABLE_DAYS, START, Home

GATEWAY: Final = "gw-parity"
CASES: Final = [
    pytest.param(name, program, onset, seed, id=f"{name}-{program}-{seed}")
    for name, program, onset in COHORT
    for seed in ((0, 1, 2) if name == "stable" else (0,))
]


def cohort_readings(
    name: str, program: str, onset: float | None, seed: int
) -> tuple[str, list[wire.Reading], list[Decision]]:
    """One home's readings (routine, artefacts, prompted re-measurements) and the cloud's
    decisions over them, as the alert-burden benchmark makes them."""
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
    return home.patient, readings, found


def edge_config(program: str, patient: str) -> wire.GatewayConfig:
    """The config the cloud sends, as the gateway decodes it from the wire."""
    config = wire.GatewayConfig(
        gateway_id=GATEWAY,
        version=1,
        issued_at=START,
        patients=(patient,),
        rules_version=wire.RULES_VERSION,
        rules=edge_rules.to_config(default_rules(program, patient)),
    )
    received = wire.decode(wire.encode(config), expect="vg.config/1")
    assert isinstance(received, wire.GatewayConfig)
    return received


def edge_events(
    rules: edge_rules.EdgeRuleSet, readings: Sequence[wire.Reading]
) -> list[wire.Event]:
    """Each measurement through the edge stage as it arrives (``now``: its time)."""
    stage = EdgeStage(rules.rules, rollups=False)
    events: list[wire.Event] = []
    for ts, group in groupby(sorted(readings, key=lambda r: r.ts), key=lambda r: r.ts):
        found, _ = stage.observe(list(group), now=ts.timestamp())
        events += found
    return events


def key(event: wire.Event) -> tuple[Any, ...]:
    """What must match: id, rule, time, level, priority and the evidence readings."""
    return (
        event.id,
        event.rule,
        event.ts,
        event.evidence["features"]["level"],
        event.priority,
        tuple((s["ts"], s["value"]) for s in event.evidence["samples"]),
    )


@pytest.mark.parametrize(("name", "program", "onset", "seed"), CASES)
def test_edge_alerts_are_the_clouds(
    name: str, program: str, onset: float | None, seed: int
) -> None:
    patient, readings, found = cohort_readings(name, program, onset, seed)
    rules = edge_rules.from_config(edge_config(program, patient))
    assert set(rules.cloud_only) == {
        r.rule_id for r in PROGRAMS[program] if edge_rules.cloud_only(r) is not None
    }
    events = edge_events(rules, readings)

    cloud: list[Finding] = alerts_of(found)
    edge_run = {r.rule_id for r in rules.rules}
    expected = sorted(key(f.to_event()) for f in cloud if f.rule in edge_run)
    alerts = [e for e in events if e.kind is wire.EventKind.ALERT]
    assert sorted(key(e) for e in alerts) == expected
    assert not {e.rule for e in events} & set(rules.cloud_only)


def test_the_cohort_exercises_confirmation_and_artefacts() -> None:
    """The parity cases are not vacuous: alerts confirmed, unconfirmed and immediate,
    cancelled spurious readings, another person on the scale."""
    outcomes: set[Outcome] = set()
    rules_fired: set[str] = set()
    for name, program, onset in COHORT:
        for seed in (0, 1, 2) if name == "stable" else (0,):
            _, _, found = cohort_readings(name, program, onset, seed)
            outcomes |= {d.outcome for d in found}
            rules_fired |= {d.finding.rule for d in found if d.alert is not None}
    assert {Outcome.CONFIRMED, Outcome.CANCELLED, Outcome.IMMEDIATE} <= outcomes
    assert "hf.weight_step" in rules_fired  # another person on the scale


def test_a_rule_left_to_the_cloud_is_named_and_never_run_at_the_edge() -> None:
    patient = "p-cloud-only"
    rules = edge_rules.from_config(edge_config("heart_failure", patient))
    assert set(rules.cloud_only) == {"hf.resting_hr_drift", "hf.weight_missed", "general.hr_stale"}
    assert {r.rule_id for r in rules.rules} == {r.rule_id for r in PROGRAMS["heart_failure"]} - set(
        rules.cloud_only
    )
    status = rules.status()
    assert (status.rules, status.cloud_only, status.rules_version) == (10, 3, 1)
    # Days without a weighing: the cloud's missed-measurement rule fires; the edge is silent.
    home = Home("stable", "heart_failure", 0, 7, None)
    readings = [
        r
        for r in home.routine_readings()
        if not (r.metric is wire.Metric.BODY_WEIGHT and r.ts >= START + timedelta(days=4))
    ]
    cloud = {f.rule for f in alerts_of(decisions(readings, program="heart_failure"))}
    assert "hf.weight_missed" in cloud
    assert "hf.weight_missed" not in {e.rule for e in edge_events(rules, readings)}


def test_a_streamed_heart_rate_alerts_alike_at_the_edge_and_in_the_cloud() -> None:
    """A strap streaming at 1 Hz through a tachycardia episode (general.hr: ≥ 131 /min for
    5 min), with its noise and spikes: the edge, judging each second as it comes, and the
    cloud's replay of the stored stream find the same fire and all-clear."""
    patient = "p-stream"
    episode = Episode(start_s=600.0, end_s=1500.0, delta=80.0, ramp_s=60.0)
    strap = HeartRateStrap("C0:FF:EE:00:0B:01", seed=3, model=HeartRateModel(episodes=(episode,)))
    readings = []
    for i in range(2400):
        decoded = decode_heart_rate(strap.measure())
        m = Measurement("hrm-s", patient, "2a37", decoded, START + timedelta(seconds=i))
        readings += rows_readings_rr([m])[1]
    config = edge_config("general", patient)
    events = edge_events(edge_rules.from_config(config), readings)

    history = history_from_readings(readings)
    rules = [r for r in default_rules("general", patient) if edge_rules.cloud_only(r) is None]
    cloud = [f for f in replay(rules, history) if f.ts < history.end - 60]  # type: ignore[operator]
    assert [f.rule for f in cloud] == ["general.hr", "general.hr"]  # one fire, one all-clear
    assert sorted(key(e) for e in events) == sorted(key(f.to_event()) for f in cloud)
    assert [d.alert for d in decisions_of(readings, lambda _: rules) if d.alert] == [
        f for f in cloud if f.kind is FindingKind.FIRE
    ]
