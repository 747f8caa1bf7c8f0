"""Over real Mosquitto: a gateway with the cloud's key refuses a forged retained config (and
a forged ack, and a replayed command), keeps running on its config and says so in its
status; a properly signed newer config is applied."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.radio import SimRadio
from gateway import signing, wire
from tests.fixtures.gateway import GatewayThread, gateway_settings, paired
from tests.fixtures.keys import write_downlink_keys
from tests.fixtures.mqtt import Probe
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker

GW = "gw-signed-1"
TOPICS = wire.Topics(GW)


ADDRESS = "C0:FF:EE:00:0D:01"


def config(version: int, *, fire_high: float) -> wire.GatewayConfig:
    return wire.GatewayConfig(
        gateway_id=GW,
        version=version,
        issued_at=datetime.now(UTC),
        patients=("p-1",),
        pairings=(
            wire.Pairing(
                device_id="hrm-1", kind="hr_strap", address=ADDRESS,
                patients=(wire.PatientAssignment(patient_id="p-1"),),
            ),
        ),
        thresholds=(
            wire.ThresholdRule(
                rule_id="hr-high", patient_id="p-1", metric=wire.Metric.HEART_RATE,
                fire_high=fire_high,
            ),
        ),
    )  # fmt: skip


def test_a_forged_config_is_refused_and_reported_a_signed_one_applied(
    broker: Any, tmp_path: Path
) -> None:
    cloud_key = Ed25519PrivateKey.generate()
    _, public = write_downlink_keys(tmp_path / "pki", cloud_key)
    radio = SimRadio()
    strap = radio.add(HeartRateStrap(ADDRESS, seed=13))
    settings = gateway_settings(
        broker, tmp_path / "gw", gateway_id=GW, downlink_key=public, ack_timeout_s=1.0,
        devices=[paired(strap, patient_id="p-1", device_id="hrm-1")],
    )  # fmt: skip
    attacker = Probe(broker, TOPICS.status, TOPICS.command_results, client_id="attacker")
    gw = GatewayThread(settings, radio)
    gateway = gw.start()
    try:
        wait_until(gateway.uplink.connected.is_set, what="the gateway to connect")
        attacker.publish(
            TOPICS.config, signing.sign(config(1, fire_high=130), gateway_id=GW, key=cloud_key),
            retain=True,
        )  # fmt: skip
        attacker.wait_for(wire.Status, lambda s: s.config_version == 1)
        assert attacker.received(wire.Status)[-1].downlink_verified is True

        # Forged retained configs: unsigned, then signed with the attacker's own key.
        attacker.publish(TOPICS.config, config(99, fire_high=500), retain=True)
        forged = signing.sign(
            config(100, fire_high=500), gateway_id=GW, key=Ed25519PrivateKey.generate()
        )
        attacker.publish(TOPICS.config, forged, retain=True)
        status = attacker.wait_for(
            wire.Status, lambda s: s.downlink_refused is not None and s.downlink_refused.count == 2
        )
        refused = status.downlink_refused
        assert refused is not None
        assert (refused.last_leaf, status.config_version) == ("config", 1)
        assert refused.last_reason.startswith("signed by key ")
        assert gateway.config is not None
        assert (gateway.config.version, gateway.config.thresholds[0].fire_high) == (1, 130)
        assert wire.decode(settings.config_path.read_bytes()) == gateway.config

        # The gateway still takes readings; a forged ack does not empty its outbox.
        wait_until(lambda: strap.subscribed(0x2A37), what="the strap connected")
        assert gw.call(strap.tick)
        wait_until(
            lambda: (s := gateway.outbox.stats()).depth >= 1 and s.unsent == 0,
            what="the reading published",
        )
        pending = gateway.outbox.pending_batches()
        assert pending
        attacker.publish(TOPICS.acks, wire.Ack(batch_ids=tuple(pending)))
        wait_until(
            lambda: (
                gateway.refusals.summary is not None
                and gateway.refusals.summary.last_leaf == "acks"
            ),
            what="the forged ack refused",
        )
        assert gateway.outbox.stats().depth >= 1
        attacker.publish(
            TOPICS.acks,
            signing.sign(wire.Ack(batch_ids=tuple(pending)), gateway_id=GW, key=cloud_key),
        )
        wait_until(
            lambda: not set(pending) & set(gateway.outbox.pending_batches()),
            what="the signed ack applied",
        )

        # A signed command runs once; the same message again is a replay.
        ping = signing.sign(
            wire.Command(command_id="cmd-1", name=wire.CommandName.PING, issued_at=datetime.now(UTC)),
            gateway_id=GW, key=cloud_key,
        )  # fmt: skip
        attacker.publish(TOPICS.commands, ping)
        first = attacker.wait_for(wire.CommandResult, lambda r: r.command_id == "cmd-1")
        assert first.ok
        attacker.publish(TOPICS.commands, ping)
        attacker.wait_for(
            wire.Status,
            lambda s: (
                s.downlink_refused is not None and "replayed" in s.downlink_refused.last_reason
            ),
        )

        # The cloud's newer config is applied over the forged retained one.
        attacker.publish(
            TOPICS.config, signing.sign(config(2, fire_high=140), gateway_id=GW, key=cloud_key),
            retain=True,
        )  # fmt: skip
        attacker.wait_for(wire.Status, lambda s: s.config_version == 2)
        assert gateway.config.version == 2
        assert gateway.config.thresholds[0].fire_high == 140
    finally:
        gw.stop()
        attacker.close()
