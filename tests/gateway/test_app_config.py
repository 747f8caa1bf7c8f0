"""At start-up the gateway runs on the last config it accepted, and only its own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from firmware_sim.radio import SimLink, SimRadio
from gateway import wire
from gateway.app import Gateway, devices_from_config
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
        assert set(gateway.sessions) == expected
        assert gateway.status().config_version == (4 if owner == "gw-a" else None)
    finally:
        gateway.outbox.close()


def test_devices_from_config_use_the_first_patient_and_skip_unaddressed() -> None:
    devices = devices_from_config(config_for("gw-a"))
    assert [(d.device_id, d.patient_id, d.address) for d in devices] == [
        ("hrm-cfg", "p-cfg", "C0:FF:EE:00:0C:01")
    ]
