"""The gateway's signal stage: the config's threshold rules fire at the edge with their
evidence, and streams are rolled up per minute once the minute is over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway import wire
from gateway.signal.stage import ROLLUP_GRACE_S, EdgeStage

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RULE = wire.ThresholdRule(
    rule_id="hr-high",
    version=2,
    patient_id="p-1",
    metric=wire.Metric.HEART_RATE,
    priority=wire.Priority.HIGH,
    fire_high=120,
    clear_high=110,
    persistence_count=3,
)


def hr(i: int, bpm: float, *, source: str = "2a37", patient: str = "p-1") -> wire.Reading:
    return wire.Reading(
        id=f"r-{patient}-{source}-{i}",
        patient_id=patient,
        device_id=f"dev-{patient}",
        metric=wire.Metric.HEART_RATE,
        value=bpm,
        unit="/min",
        ts=T0 + timedelta(seconds=i),
        quality=wire.Quality(source=source),
    )


def test_a_rule_fires_once_with_evidence_and_minutes_roll_up_when_over() -> None:
    edge = EdgeStage([RULE])
    values = [70.0] * 30 + [130.0] * 10 + [70.0] * 50  # 90 s at 1 Hz; an episode at 30-39 s
    events: list[wire.Event] = []
    rollups: list[wire.Rollup] = []
    for i, bpm in enumerate(values):  # as batches of one, the way a strap streams
        found, done = edge.observe([hr(i, bpm)], now=(T0 + timedelta(seconds=i)).timestamp())
        events += found
        rollups += done
    fired = [e for e in events if e.kind is wire.EventKind.ALERT]
    assert len(fired) == 1
    alert = fired[0]
    assert (alert.rule, alert.rule_version, alert.priority, alert.category) == (
        "hr-high",
        2,
        wire.Priority.HIGH,
        wire.Category.CLINICAL,
    )
    assert (alert.patient_id, alert.metric, alert.value) == ("p-1", wire.Metric.HEART_RATE, 130.0)
    assert alert.ts == T0 + timedelta(seconds=32)  # the third reading beyond 120
    assert [s["value"] for s in alert.evidence["samples"]][-3:] == [130.0, 130.0, 130.0]
    assert [e.kind for e in events].count(wire.EventKind.ALL_CLEAR) == 1

    # The first minute closed when the next one began; the second only once it is over.
    assert [r.start for r in rollups] == [T0]
    first = rollups[0]
    assert (first.count, first.min, first.max, first.last) == (60, 70.0, 130.0, 70.0)
    assert first.mean == pytest.approx((50 * 70 + 10 * 130) / 60)
    assert first.id == f"dev-p-1.heart_rate.{int(T0.timestamp())}"
    end = T0 + timedelta(minutes=2)
    assert edge.flush(now=(end - timedelta(seconds=1)).timestamp()) == []
    last = edge.flush(now=(end + timedelta(seconds=ROLLUP_GRACE_S)).timestamp())
    assert [(r.start, r.count) for r in last] == [(T0 + timedelta(minutes=1), 30)]
    assert edge.flush(now=(end + timedelta(hours=1)).timestamp()) == []


def test_spot_readings_are_not_rolled_up_late_samples_are_counted_and_rules_are_per_patient() -> (
    None
):
    edge = EdgeStage([RULE])
    cuff = [hr(i, 130.0, source="2a35", patient="p-1") for i in range(3)]
    other = [hr(i, 150.0, patient="p-2") for i in range(5)]
    events, rollups = edge.observe(cuff + other, now=(T0 + timedelta(minutes=5)).timestamp())
    assert [(e.patient_id, e.kind) for e in events] == [("p-1", wire.EventKind.ALERT)]
    assert [(r.patient_id, r.count) for r in rollups] == [("p-2", 5)]  # its minute is over
    _, again = edge.observe([hr(3, 150.0, patient="p-2")], now=T0.timestamp() + 400)
    assert again == []
    assert edge.late == 1
    # New rules replace the old ones; the same rules keep their state.
    monitor = edge.monitor
    edge.set_rules([RULE])
    assert edge.monitor is monitor
    edge.set_rules([])
    assert edge.observe(cuff, now=T0.timestamp() + 500) == ([], [])
    findings_only = EdgeStage([RULE], rollups=False)
    events, rollups = findings_only.observe(cuff + other, now=T0.timestamp() + 300)
    assert (len(events), rollups) == (1, [])
