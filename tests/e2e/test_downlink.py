"""The cloud's retained config drives the gateway, also after a restart without a broker;
commands are answered once, honestly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.radio import SimRadio
from gateway import wire
from tests.fixtures.gateway import GatewayThread, gateway_settings
from tests.fixtures.mqtt import Probe
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker

GW = "gw-config-1"
TOPICS = wire.Topics(GW)


def pairing_config(version: int, *straps: tuple[HeartRateStrap, str, str]) -> wire.GatewayConfig:
    return wire.GatewayConfig(
        gateway_id=GW,
        version=version,
        issued_at=datetime.now(UTC),
        patients=tuple(patient for _, _, patient in straps),
        pairings=tuple(
            wire.Pairing(
                device_id=device_id,
                kind="hr_strap",
                address=strap.address,
                patients=(wire.PatientAssignment(patient_id=patient),),
            )
            for strap, device_id, patient in straps
        ),
        thresholds=(
            wire.ThresholdRule(
                rule_id="hr-high", patient_id="p-1", metric=wire.Metric.HEART_RATE, fire_high=130
            ),
        ),
    )


def test_config_applies_atomically_persists_and_survives_an_offline_restart(
    broker: Any, tmp_path: Path
) -> None:
    radio = SimRadio()
    a = radio.add(HeartRateStrap("C0:FF:EE:00:01:01", seed=1))
    b = radio.add(HeartRateStrap("C0:FF:EE:00:01:02", seed=2))
    settings = gateway_settings(broker, tmp_path / "gw", gateway_id=GW, status_interval_s=60)
    probe = Probe(broker, TOPICS.status)
    gw = GatewayThread(settings, radio)
    gateway = gw.start()
    try:
        wait_until(gateway.uplink.connected.is_set, what="the gateway to connect")
        assert gateway.status().devices == ()

        probe.publish(TOPICS.config, pairing_config(1, (a, "hrm-a", "p-1")), retain=True)
        wait_until(lambda: a.subscribed(0x2A37), what="strap A paired by config v1")
        assert gateway.config is not None
        assert gateway.config.version == 1
        probe.wait_for(wire.Status, lambda s: s.config_version == 1)

        # v2 moves the patient to strap B: A is released, B connected, in one step.
        probe.publish(TOPICS.config, pairing_config(2, (b, "hrm-b", "p-1")), retain=True)
        wait_until(lambda: b.subscribed(0x2A37) and not a.connected, what="config v2 applied")
        assert {d.device_id for d in gateway.status().devices} == {"hrm-b"}
        assert [p.patient_id for p in gateway.devices.store.devices["hrm-b"].patients] == ["p-1"]

        # A stale copy (v1) does not roll the gateway back.
        probe.publish(TOPICS.config, pairing_config(1, (a, "hrm-a", "p-1")), retain=True)
        probe.wait_for(wire.Status, lambda s: s.config_version == 2)
        assert gateway.config.version == 2
        assert wire.decode(settings.config_path.read_bytes()) == gateway.config
    finally:
        gw.stop()
        probe.close()

    # Restart with the broker down: the gateway runs on the last config it accepted.
    broker.kill()
    b.detach()
    again = GatewayThread(settings, radio)
    gateway = again.start()
    try:
        assert gateway.config is not None
        assert gateway.config.version == 2
        wait_until(lambda: b.subscribed(0x2A37), what="strap B reconnected offline")
        assert not gateway.uplink.connected.is_set()
        assert not a.connected
        before = gateway.outbox.stats().depth  # the straps' battery levels, from the first run
        for _ in range(5):
            assert again.call(b.tick)
        wait_until(
            lambda: gateway.outbox.stats().depth == before + 5, what="offline readings stored"
        )
        assert gateway.status().config_version == 2
    finally:
        again.stop()


def test_commands_are_answered_once_and_honestly(broker: Any, tmp_path: Path) -> None:
    settings = gateway_settings(broker, tmp_path / "gw", gateway_id=GW)
    probe = Probe(broker, TOPICS.command_results)
    gw = GatewayThread(settings, SimRadio())
    gateway = gw.start()
    try:
        wait_until(gateway.uplink.connected.is_set, what="the gateway to connect")
        now = datetime.now(UTC)
        ping = wire.Command(command_id="cmd-ping", name=wire.CommandName.PING, issued_at=now)
        probe.publish(TOPICS.commands, ping)
        first = probe.wait_for(wire.CommandResult, lambda r: r.command_id == "cmd-ping")
        assert first.ok
        assert first.gateway_id == GW
        assert first.result["outbox_depth"] == 0

        # QoS 1 may deliver a command twice: the gateway answers with the same result.
        probe.publish(TOPICS.commands, ping)
        wait_until(lambda: len(probe.received(wire.CommandResult)) == 2, what="second answer")
        assert probe.received(wire.CommandResult)[1] == first

        def answer(cmd: wire.Command) -> wire.CommandResult:
            probe.publish(TOPICS.commands, cmd)
            return probe.wait_for(wire.CommandResult, lambda r: r.command_id == cmd.command_id)

        clock = answer(
            wire.Command(command_id="cmd-clock", name=wire.CommandName.SYNC_CLOCKS, issued_at=now)
        )
        assert clock.ok  # no device connected: nothing to set, and it says so
        assert clock.result["devices"] == 0
        assert "gateway_time" in clock.result
        no_args = answer(
            wire.Command(command_id="cmd-pair", name=wire.CommandName.START_PAIRING, issued_at=now)
        )
        assert not no_args.ok
        assert "invalid pairing request" in (no_args.detail or "")
        late = answer(
            wire.Command(
                command_id="cmd-late",
                name=wire.CommandName.DOWNLOAD_RECORDS,
                issued_at=now,
                expires_at=now,
            )
        )
        assert not late.ok
        assert "expired" in (late.detail or "")
    finally:
        gw.stop()
        probe.close()


def test_a_pairing_command_pairs_a_device_and_reports_it_on_events(
    broker: Any, tmp_path: Path
) -> None:
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:01:07", seed=7))
    settings = gateway_settings(broker, tmp_path / "gw", gateway_id=GW)
    probe = Probe(broker, TOPICS.command_results, TOPICS.events, TOPICS.status, TOPICS.readings)
    gw = GatewayThread(settings, radio)
    gateway = gw.start()
    try:
        wait_until(gateway.uplink.connected.is_set, what="the gateway to connect")
        cmd = wire.Command(
            command_id="cmd-pair-strap",
            name=wire.CommandName.START_PAIRING,
            issued_at=datetime.now(UTC),
            args={"kind": "hr_strap", "device_id": "hrm-new", "patients": [{"patient_id": "p-7"}]},
        )
        probe.publish(TOPICS.commands, cmd)
        result = probe.wait_for(wire.CommandResult, lambda r: r.command_id == cmd.command_id)
        assert result.ok
        assert "expires_at" in result.result
        wait_until(lambda: strap.subscribed(0x2A37), what="the strap paired and subscribed")
        assert gw.call(strap.tick)
        wait_until(
            lambda: len([e for b in probe.received(wire.EventBatch) for e in b.events]) == 2,
            what="the first-reading event",
        )
        events = [e for b in probe.received(wire.EventBatch) for e in b.events]
        assert [(e.kind, e.code, e.device_id) for e in events] == [
            (wire.EventKind.PAIRING, "paired", "hrm-new"),
            (wire.EventKind.PAIRING, "first_reading", "hrm-new"),
        ]
        assert events[1].patient_id == "p-7"
        assert events[1].category is wire.Category.DEVICE
        reading = probe.wait_for(wire.ReadingBatch).readings[0]
        assert (reading.device_id, reading.patient_id) == ("hrm-new", "p-7")
        status = probe.wait_for(wire.Status, lambda s: any(d.connected for d in s.devices))
        assert [(d.device_id, d.kind) for d in status.devices] == [("hrm-new", "hr_strap")]
    finally:
        gw.stop()
        probe.close()
