"""Replay from wire readings, alert burden, and live monitoring giving the same findings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from gateway import wire
from gateway.signal import Finding, FindingKind, Persistence, ThresholdRule
from gateway.signal.monitor import Monitor
from gateway.signal.programs import PROGRAMS, default_rules
from gateway.signal.replay import (
    History,
    alert_burden,
    history_from_readings,
    replay,
    replay_decisions,
)
from gateway.signal.series import Series, SignalError
from gateway.wire import Metric

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def reading(
    i: int,
    value: float,
    *,
    flags: tuple[str, ...] = (),
    patient: str = "p1",
    metric: Metric = Metric.SPO2,
) -> wire.Reading:
    return wire.Reading(
        id=f"r{i}", patient_id=patient, device_id="ox-1", metric=metric, value=value,
        unit=wire.CANONICAL_UNITS[metric], ts=T0 + timedelta(minutes=i),
        quality=wire.Quality(flags=flags),
    )  # fmt: skip


def test_replay_of_wire_readings_and_burden() -> None:
    readings = [
        reading(0, 96), reading(1, 88, flags=("contact_lost",)), reading(2, 88), reading(3, 89),
        reading(4, 95), reading(5, 89, patient="p2"), reading(6, 89, patient="p2"),
        reading(3, 89),  # delivered twice: stored once
    ]  # fmt: skip
    rules = [*default_rules("general", "p1"), *default_rules("general", "p2")]
    found = replay(rules, history_from_readings(readings))
    rows = [(f.patient_id, f.rule, f.kind.value, f.to_row()["ts"], f.value) for f in found]
    assert rows == [
        ("p1", "general.spo2", "fire", "2026-03-01T08:02:00Z", 88.0),
        ("p1", "general.spo2", "all_clear", "2026-03-01T08:04:00Z", 95.0),
        ("p2", "general.spo2", "fire", "2026-03-01T08:05:00Z", 89.0),
    ]
    assert alert_burden(found) == {"general.spo2": 2}
    # Each fire waits for a second good reading (the flagged one does not count): both confirmed.
    decided = replay_decisions(rules, history_from_readings(readings))
    assert [(d.outcome.value, d.alert and d.alert.to_row()["ts"]) for d in decided] == [
        ("confirmed", "2026-03-01T08:03:00Z"),
        ("confirmed", "2026-03-01T08:06:00Z"),
    ]


def test_replay_of_nothing() -> None:
    assert replay(default_rules("general", "p1"), history_from_readings([])) == ()


def test_unknown_program_is_a_clear_error() -> None:
    with pytest.raises(SignalError, match="heart_failure"):
        default_rules("cardiology", "p1")
    assert set(PROGRAMS) == {"heart_failure", "copd", "hypertension", "diabetes", "general"}
    assert {r.patient_id for r in default_rules("copd", "p7")} == {"p7"}


def test_live_monitor_reports_what_replay_reports() -> None:
    """One sample at a time at the edge, or the whole day in one call: the same findings."""
    rng = np.random.default_rng(8)
    t = 1_767_225_600.0 + np.arange(0.0, 6 * 3600, 1.0)
    hr = (
        75
        + 30 * (np.sin(np.arange(t.size) / 900) > 0.8)
        + 30 * (np.sin(np.arange(t.size) / 700) > 0.9)
    )
    hr = hr + rng.normal(0, 1.5, t.size)
    spikes = rng.random(t.size) < 0.01  # artefacts the Hampel filter must refuse alike
    hr[spikes] += rng.choice([-45.0, 50.0], int(spikes.sum()))
    rule = ThresholdRule(
        "hr",
        "p1",
        Metric.HEART_RATE,
        fire_high=120,
        clear_high=110,
        persistence=Persistence(5, 10.0),
    )
    monitor = Monitor([rule])
    live: list[Finding] = []
    for start in range(0, t.size, 60):  # one BLE batch a minute
        chunk = slice(start, start + 60)
        _, found = monitor.ingest(
            "p1", Metric.HEART_RATE, t[chunk], hr[chunk], now=float(t[chunk][-1])
        )
        live += found
    live += monitor.evaluate("p1", Metric.HEART_RATE, now=float(t[-1]) + 60)  # stream paused
    history = History({("p1", Metric.HEART_RATE): Series.of(t, hr)})
    whole = replay([rule], history)
    assert len(whole) >= 4
    assert any(f.kind is FindingKind.ALL_CLEAR for f in whole)
    assert [(f.kind, f.ts) for f in live] == [(f.kind, f.ts) for f in whole]


def test_live_monitor_waits_for_the_spike_filter_to_settle() -> None:
    """A dropout at the end of a batch looks like a real value until its neighbours arrive."""
    t = 1_767_225_600.0 + np.arange(120.0)
    hr = np.full(120, 130.0)
    hr[59] = 80.0  # artefact, the last sample of the first batch
    rule = ThresholdRule("hr", "p1", Metric.HEART_RATE, fire_high=120, clear_high=110)
    monitor = Monitor([rule])
    live: list[Finding] = []
    for chunk in (slice(0, 60), slice(60, 120)):
        live += monitor.ingest(
            "p1", Metric.HEART_RATE, t[chunk], hr[chunk], now=float(t[chunk][-1])
        )[1]
    assert [(f.kind, f.ts) for f in live] == [(FindingKind.FIRE, t[0])]
    assert replay([rule], History({("p1", Metric.HEART_RATE): Series.of(t, hr)}))[0].ts == t[0]
    assert len(replay([rule], History({("p1", Metric.HEART_RATE): Series.of(t, hr)}))) == 1


def test_spot_readings_alert_at_once() -> None:
    from gateway.signal.monitor import settled

    spot = Series.of(np.arange(6.0) * 3600, [96.0, 95.0, 96.0, 95.0, 96.0, 88.0])
    assert settled(spot, Metric.SPO2, now=5 * 3600.0) == 5 * 3600.0
    stream = Series.of(np.arange(100.0), np.full(100, 96.0))
    assert settled(stream, Metric.SPO2, now=99.0) == 95.0
    assert settled(stream, Metric.SPO2, now=200.0) == 200.0  # paused: final
    assert settled(stream, Metric.BODY_WEIGHT, now=99.0) == 99.0  # never spike-cleaned
