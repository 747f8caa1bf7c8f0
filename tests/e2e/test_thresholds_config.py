"""Changing a patient's thresholds publishes their gateway's retained config over real
Mosquitto; the real gateway applies it and acknowledges the version in its status, which
the cloud stores and shows. The cloud signs its configs and acks, and the gateway, which
holds the cloud's key, checks every one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.radio import SimRadio
from gateway import wire
from gateway.uplink.settings import MqttSettings
from tests.fixtures.api import T0, World, running_world
from tests.fixtures.gateway import GatewayThread, gateway_settings
from tests.fixtures.keys import write_downlink_keys
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker

GW = "gw-th-1"
ADMIN, CLIN = "admin@north.test", "clin@north.test"
PATH = "/api/v1/patients/p-n1/thresholds"


def post(world: World, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = world.client.post(path, json=body, headers=world.token(ADMIN))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_thresholds_reach_the_gateway_and_its_ack_is_shown(
    broker: Mosquitto, tmp_path: Path
) -> None:
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:08:01", seed=8))
    mqtt = MqttSettings(host=broker.host, port=broker.port)
    # Only the downlink key, not a whole PKI (VG_PKI_DIR would also turn on MQTT TLS).
    private, public = write_downlink_keys(tmp_path / "keys")
    with running_world(
        f"sqlite:///{tmp_path / 'cloud.sqlite3'}", tmp_path / "cloud", mqtt=mqtt,
        ingest_enabled=True, ingest_client_id="ingest-th", downlink_signing_key=private,
    ) as world:  # fmt: skip
        post(world, "/api/v1/gateways", {"id": GW})
        post(world, "/api/v1/devices", {"id": "hrm-th-1", "kind": "hr_strap",
                                        "address": strap.address, "gateway_id": GW})  # fmt: skip
        post(world, "/api/v1/pairings", {"device_id": "hrm-th-1", "patient_id": "p-n1",
                                         "valid_from": T0.isoformat()})  # fmt: skip
        settings = gateway_settings(broker, tmp_path / "gw", gateway_id=GW, downlink_key=public)
        gw = GatewayThread(settings, radio)
        gateway = gw.start()
        try:
            wait_until(gateway.uplink.connected.is_set, what="the gateway to connect")
            assert gateway.devices.store.devices == {}

            r = world.client.put(
                PATH,
                json={"rules": [{"rule_id": "general.hr", "fire_high": 140, "clear_high": 130}]},
                headers=world.token(CLIN),
            )
            assert r.status_code == 200, r.text
            assert [(g["gateway_id"], g["config_version"]) for g in r.json()["gateways"]] == [
                (GW, 1)
            ]

            # The gateway applies it: the strap paired by the config, the patient's rules in it.
            wait_until(lambda: strap.subscribed(0x2A37), what="the strap paired by config v1")
            config = gateway.config
            assert config is not None
            assert (config.version, config.patients) == (1, ("p-n1",))
            assert config.rules_version == wire.RULES_VERSION
            edge = {r["rule_id"]: r for r in config.rules}
            assert (edge["general.hr"]["fire_high"], edge["general.hr"]["version"]) == (140, 2)
            assert edge["general.hr"]["persistence"]["count"] == 2  # the 5-minute delay
            assert all(r["patient_id"] == "p-n1" for r in config.rules)
            # The whole rule set runs at the edge, but for what only the cloud can judge.
            rule_set = gateway.status().rule_set
            assert rule_set is not None
            assert (rule_set.config_version, rule_set.rules, rule_set.refused_version) == (
                1,
                len(config.rules) - rule_set.cloud_only,
                None,
            )
            assert {r.rule_id for r in gateway.edge.rules} == set(edge) - {"general.hr_stale"}

            # …and says so in its status, which the cloud stores and shows.
            def shown() -> dict[str, Any] | None:
                gws = world.get(PATH, CLIN).json()["gateways"]
                return gws[0] if gws and gws[0]["applied"] else None

            state = wait_until(shown, what="the gateway's ack of config v1")
            assert state == {"gateway_id": GW, "config_version": 1, "published": True,
                             "applied_version": 1, "applied": True}  # fmt: skip
            listed = world.get("/api/v1/gateways", ADMIN).json()
            assert [
                (g["id"], g["config_version"], g["applied_config_version"]) for g in listed
            ] == [(GW, 1, 1)]

            # A second change is the next version, retained for a gateway that reconnects.
            r = world.client.put(PATH, json={"rules": []}, headers=world.token(CLIN))
            assert r.status_code == 200, r.text
            wait_until(lambda: gateway.config is not None and gateway.config.version == 2,
                       what="config v2 applied")  # fmt: skip
            assert gateway.config is not None
            assert {r["rule_id"]: r.get("fire_high") for r in gateway.config.rules}[
                "general.hr"
            ] == 131
            assert gateway.config.signature is not None

            # The strap's battery reading is stored and the signed ack empties the outbox.
            gw.wait_drained()
            assert gateway.uplink.acked_batches >= 1
            assert gateway.status().downlink_refused is None
        finally:
            gw.stop()
    retained = wire.decode((tmp_path / "gw" / "config.json").read_bytes())
    assert isinstance(retained, wire.GatewayConfig)
    assert retained.version == 2
