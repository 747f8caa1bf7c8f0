"""The config a gateway receives names its household by first name, and nothing more of them."""

from __future__ import annotations

from cloud.alerts.rulebook import RuleBook
from cloud.store.tenancy import Patient
from cloud.thresholds.config import build_config
from tests.fixtures.api import T0, World

ADMIN = "admin@north.test"


def test_the_config_carries_each_paired_patients_first_name_only(world: World) -> None:
    def post(path: str, body: dict[str, object]) -> None:
        r = world.client.post(path, json=body, headers=world.token(ADMIN))
        assert r.status_code in (200, 201), r.text

    post("/api/v1/gateways", {"id": "gw-home-1"})
    for device, patient in (("bpm-1", "p-n1"), ("scale-1", "p-n2")):
        post("/api/v1/devices", {"id": device, "kind": "bp_cuff", "gateway_id": "gw-home-1"})
        post(
            "/api/v1/pairings",
            {"device_id": device, "patient_id": patient, "valid_from": T0.isoformat()},
        )
    with world.session() as s:
        s.get_one(Patient, "p-n1").display_name = "María José Pérez"
        s.get_one(Patient, "p-n2").display_name = "  José   Pérez "
        s.commit()
        config = build_config(s, RuleBook(), "gw-home-1", version=1, now=T0)
    assert config.patients == ("p-n1", "p-n2")
    assert config.first_names == {"p-n1": "María", "p-n2": "José"}
    assert "Pérez" not in config.model_dump_json()
