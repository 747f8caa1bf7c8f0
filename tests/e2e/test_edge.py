"""Edge findings and rollups leave the gateway on their own topics: a threshold rule from the
cloud's config fires at the edge with its evidence on …/events, and the strap's minutes are
rolled up on …/rollups once over."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.physiology import Episode, HeartRateModel
from firmware_sim.radio import SimRadio
from gateway import wire
from gateway.uplink.config import ConfigStore
from tests.fixtures.gateway import GatewayThread, JumpingClock, drive, gateway_settings
from tests.fixtures.mqtt import Probe
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker

GW = "gw-edge-1"
TOPICS = wire.Topics(GW)
SAMPLES = 40
MODEL = HeartRateModel(
    baseline_bpm=70, circadian_amplitude_bpm=0, noise_bpm=1.0, episodes=(Episode(10, 25, 65),)
)


def test_an_edge_rule_fires_on_events_and_minutes_roll_up(broker: Any, tmp_path: Path) -> None:
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:0E:01", seed=31, model=MODEL))
    settings = gateway_settings(broker, tmp_path / "gw", gateway_id=GW, publish_rollups=True)
    ConfigStore(settings.config_path).save(
        wire.GatewayConfig(
            gateway_id=GW,
            version=1,
            issued_at=datetime.now(UTC),
            pairings=(
                wire.Pairing(
                    device_id="hrm-e",
                    kind="hr_strap",
                    address=strap.address,
                    patients=(wire.PatientAssignment(patient_id="p-e"),),
                ),
            ),
            thresholds=(
                wire.ThresholdRule(
                    rule_id="edge.hr_high",
                    patient_id="p-e",
                    metric=wire.Metric.HEART_RATE,
                    priority=wire.Priority.HIGH,
                    fire_high=120,
                    clear_high=110,
                    persistence_count=3,
                ),
            ),
        )
    )
    clock = JumpingClock()
    probe = Probe(broker, TOPICS.events, TOPICS.rollups, TOPICS.readings)
    gw = GatewayThread(
        settings, radio, background=[drive(strap, count=SAMPLES, period_s=0.01)], wall=clock
    )
    gw.start()
    acked: set[str] = set()

    def ack_all() -> None:
        """Acknowledge what arrived, as the cloud would: the uplink's window stays open."""
        batches = [b.batch_id for _, b in probe.messages if hasattr(b, "batch_id")]
        fresh = tuple(b for b in batches if b not in acked)
        if fresh:
            acked.update(fresh)
            probe.publish(TOPICS.acks, wire.Ack(batch_ids=fresh))

    def received(kind: type[Any]) -> list[Any]:
        ack_all()
        return probe.received(kind)

    try:
        wait_until(lambda: len(strap.emitted) == SAMPLES, what="the strap's samples")
        wait_until(
            lambda: (
                sum(
                    r.metric is wire.Metric.HEART_RATE
                    for b in received(wire.ReadingBatch)
                    for r in b.readings
                )
                >= SAMPLES
            ),
            what="the readings published",
        )
        clock.jump(120)  # the strap's minute is over
        # The samples may straddle a minute boundary: wait for every minute's rollup.
        rollups = wait_until(
            lambda: _rollups_of_every_sample(received),
            what="rollups of every sample on …/rollups",
        )
        alerts = wait_until(
            lambda: [
                e
                for b in received(wire.EventBatch)
                for e in b.events
                if e.kind is wire.EventKind.ALERT
            ],
            what="the edge alert on …/events",
        )
    finally:
        gw.stop()
        probe.close()
    values = [float(bpm) for _, bpm in strap.emitted]
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.rule, alert.patient_id, alert.priority) == (
        "edge.hr_high",
        "p-e",
        wire.Priority.HIGH,
    )
    assert alert.value is not None
    assert alert.value >= 120
    assert all(s["value"] >= 120 for s in alert.evidence["samples"][-3:])
    assert {(r.device_id, r.patient_id, r.metric) for r in rollups} == {
        ("hrm-e", "p-e", wire.Metric.HEART_RATE)
    }
    assert sum(r.count + r.rejected for r in rollups) == SAMPLES
    assert max(r.max for r in rollups) <= max(values)
    assert rollups[-1].last == values[-1]


def _rollups_of_every_sample(received: Any) -> list[Any]:
    got = [r for b in received(wire.RollupBatch) for r in b.rollups]
    return got if sum(r.count + r.rejected for r in got) >= SAMPLES else []
