"""At start-up the gateway runs on the last config it accepted, and only its own; a newer
config releases the devices it no longer lists."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from firmware_sim.radio import SimLink, SimRadio
from gateway import wire
from gateway.app import Gateway
from gateway.ble.state import DeviceState
from gateway.settings import DeviceConfig, GatewaySettings
from gateway.uplink.config import ConfigStore


def config_for(gateway_id: str) -> wire.GatewayConfig:
    return wire.GatewayConfig(
        gateway_id=gateway_id,
        version=4,
        issued_at=datetime(2026, 11, 23, tzinfo=UTC),
        pairings=(
            wire.Pairing(
                device_id="hrm-cfg",
                kind="hr_strap",
                address="C0:FF:EE:00:0C:01",
                patients=(wire.PatientAssignment(patient_id="p-cfg"),),
            ),
            wire.Pairing(  # being paired: no address yet, so no session
                device_id="cuff-new",
                kind="bp_cuff",
                patients=(wire.PatientAssignment(patient_id="p-cfg"),),
            ),
        ),
    )


@pytest.mark.parametrize(("owner", "expected"), [("gw-a", {"hrm-cfg"}), ("gw-b", {"hrm-set"})])
def test_persisted_config_wins_over_settings_only_for_its_own_gateway(
    tmp_path: Path, owner: str, expected: set[str]
) -> None:
    settings = GatewaySettings(
        gateway_id="gw-a",
        data_dir=tmp_path,
        link="sim",
        devices=[
            DeviceConfig(device_id="hrm-set", address="C0:FF:EE:00:0C:02", patient_id="p-set")
        ],
    )
    ConfigStore(settings.config_path).save(config_for(owner))
    gateway = Gateway(settings, SimLink(SimRadio()))
    try:
        assert {d.device_id for d in gateway.status().devices} == expected
        assert gateway.status().config_version == (4 if owner == "gw-a" else None)
    finally:
        gateway.outbox.close()


def test_a_config_keeps_every_patient_of_a_pairing_and_skips_unaddressed(tmp_path: Path) -> None:
    settings = GatewaySettings(gateway_id="gw-a", data_dir=tmp_path, link="sim")
    config = config_for("gw-a")
    shared = config.pairings[0].model_copy(
        update={
            "patients": (
                wire.PatientAssignment(patient_id="p-cfg", user_index=1),
                wire.PatientAssignment(patient_id="p-two", user_index=2),
            )
        }
    )
    ConfigStore(settings.config_path).save(config.model_copy(update={"pairings": (shared,)}))
    gateway = Gateway(settings, SimLink(SimRadio()))
    try:
        device = gateway.devices.store.devices["hrm-cfg"]
        assert (device.address, [p.patient_id for p in device.patients]) == (
            "C0:FF:EE:00:0C:01",
            ["p-cfg", "p-two"],
        )
        assert "cuff-new" not in gateway.devices.store.devices
    finally:
        gateway.outbox.close()


def test_a_newer_config_releases_unlisted_devices_but_not_one_just_paired_locally(
    tmp_path: Path,
) -> None:
    settings = GatewaySettings(gateway_id="gw-a", data_dir=tmp_path, link="sim")
    ConfigStore(settings.config_path).save(config_for("gw-a"))
    gateway = Gateway(settings, SimLink(SimRadio()))
    try:
        local = DeviceState(
            device_id="scale-local",
            address="C0:FF:EE:00:0C:09",
            kind="scale",
            patients=[wire.PatientAssignment(patient_id="p-cfg")],
            origin="pairing",
        )
        gateway.devices.store.put(local)
        newer = wire.GatewayConfig(
            gateway_id="gw-a",
            version=5,
            issued_at=datetime(2026, 11, 24, tzinfo=UTC),
            pairings=(
                wire.Pairing(
                    device_id="hrm-other",
                    kind="hr_strap",
                    address="C0:FF:EE:00:0C:03",
                    patients=(wire.PatientAssignment(patient_id="p-cfg"),),
                ),
            ),
        )
        gateway._apply_config(newer)
        assert {d.device_id for d in gateway.status().devices} == {"hrm-other", "scale-local"}
        assert gateway.status().config_version == 5
        # Once a config has listed it, the config owns it: the next one may release it.
        listed = newer.model_copy(
            update={"version": 6, "pairings": (*newer.pairings, pairing_of(local))}
        )
        gateway._apply_config(listed)
        gateway._apply_config(newer.model_copy(update={"version": 7}))
        assert {d.device_id for d in gateway.status().devices} == {"hrm-other"}
    finally:
        gateway.outbox.close()


def pairing_of(device: DeviceState) -> wire.Pairing:
    return wire.Pairing(
        device_id=device.device_id,
        kind=device.kind,
        address=device.address,
        patients=tuple(device.patients),
    )
