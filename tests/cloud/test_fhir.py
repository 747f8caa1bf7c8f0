"""FHIR R4 out: every resource the server returns validates against the FHIR models
(``fhir.resources``), Observations follow the vital-signs profile, search filters and pages,
and another organisation's patient is as absent as one that does not exist."""

# mypy: disable-error-code="union-attr,index"
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.device import Device as FhirDevice
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient as FhirPatient

from cloud.store.readings import upsert_readings
from cloud.store.tenancy import Device, Pairing
from tests.fixtures.api import T0, World, reading_row

CLIN = "clin@north.test"
BP_AT = T0 + timedelta(hours=2)


@pytest.fixture
def fhir_world(world: World) -> World:
    """A blood-pressure measurement and an SpO2 reading for p-n1 beside the heart rates, and
    p-n1's cuff paired to them."""
    rows = []
    for metric, value, unit in (("systolic_bp", 142.0, "mm[Hg]"), ("diastolic_bp", 91.0, "mm[Hg]"),
                                ("mean_arterial_pressure", 108.0, "mm[Hg]")):  # fmt: skip
        row = reading_row(f"bp-{metric}", "p-n1", "cuff-1", value, BP_AT)
        row.update(metric=metric, unit=unit, measurement_id="m-bp-1")
        rows.append(row)
    # Ids as gateways make them: a measurement's hex identity and the metric, with "_".
    spo2 = reading_row("9f1c2e0b7a6d4c3b8e5f1a2b3c4d5e6f-spo2_pulse", "p-n1", "ox-1", 96.0,
                       BP_AT + timedelta(minutes=5))  # fmt: skip
    spo2.update(metric="spo2", unit="%")
    battery = reading_row("bat-1", "p-n1", "cuff-1", 80.0, BP_AT)
    battery.update(metric="battery_level", unit="%")
    with world.session() as s, s.begin():
        upsert_readings(s, [*rows, spo2, battery])
        s.add(Device(id="cuff-1", organisation_id="north", kind="bp_cuff", address=None,
                     gateway_id=None, created_at=T0))  # fmt: skip
        s.flush()
        s.add(Pairing(organisation_id="north", device_id="cuff-1", patient_id="p-n1",
                      valid_from=T0, valid_to=None, created_at=T0))  # fmt: skip
    return world


def _get(world: World, path: str, who: str = CLIN, **params: Any) -> Any:
    r = world.client.get(path, headers=world.token(who), params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    return r.json()


def test_metadata_is_a_capability_statement(fhir_world: World) -> None:
    body = fhir_world.client.get("/fhir/r4/metadata").json()
    statement = CapabilityStatement.model_validate(body)
    assert statement.fhirVersion == "4.0.1"
    kinds = {r.type for r in statement.rest[0].resource}
    assert kinds == {"Patient", "Device", "Observation"}


def test_patient_and_device_read(fhir_world: World) -> None:
    patient = FhirPatient.model_validate(_get(fhir_world, "/fhir/r4/Patient/p-n1"))
    assert (patient.id, patient.name[0].text) == ("p-n1", "p-n1")
    device = FhirDevice.model_validate(_get(fhir_world, "/fhir/r4/Device/cuff-1"))
    assert device.patient.reference == "Patient/p-n1"
    assert (
        fhir_world.client.get("/fhir/r4/Patient/p-s1", headers=fhir_world.token(CLIN)).status_code
        == 404
    )
    assert (
        fhir_world.client.get(
            "/fhir/r4/Device/cuff-1", headers=fhir_world.token("clin@south.test")
        ).status_code
        == 404
    )
    assert fhir_world.client.get("/fhir/r4/Patient/p-n1").status_code == 401


def test_blood_pressure_is_one_panel_with_two_components(fhir_world: World) -> None:
    body = _get(fhir_world, "/fhir/r4/Observation", patient="Patient/p-n1",
                code="http://loinc.org|85354-9")  # fmt: skip
    bundle = Bundle.model_validate(body)
    assert (bundle.type, bundle.total) == ("searchset", 1)
    obs = Observation.model_validate(body["entry"][0]["resource"])
    assert obs.code.coding[0].code == "85354-9"
    assert obs.category[0].coding[0].code == "vital-signs"
    assert obs.meta.profile == ["http://hl7.org/fhir/StructureDefinition/bp"]
    assert [(c.code.coding[0].code, c.valueQuantity.value, c.valueQuantity.code) for c in obs.component] == [
        ("8480-6", 142.0, "mm[Hg]"), ("8462-4", 91.0, "mm[Hg]"),
    ]  # fmt: skip
    assert obs.effectiveDateTime == BP_AT
    assert obs.device.reference == "Device/cuff-1"
    assert obs.subject.reference == "Patient/p-n1"


def test_search_by_code_date_and_count_pages_through_everything(fhir_world: World) -> None:
    everything = _get(fhir_world, "/fhir/r4/Observation", patient="p-n1")
    # Three heart rates, one BP panel (diastolic and MAP are inside it), one SpO2; the
    # battery level is device status, not an Observation.
    assert everything["total"] == 5
    for entry in everything["entry"]:
        Observation.model_validate(entry["resource"])
    spo2 = _get(fhir_world, "/fhir/r4/Observation", patient="p-n1", code="2708-6")["entry"]
    assert spo2[0]["resource"]["id"] == "9f1c2e0b7a6d4c3b8e5f1a2b3c4d5e6f-spo2-pulse"
    codes = [c["code"] for c in spo2[0]["resource"]["code"]["coding"]]
    assert codes == ["2708-6", "59408-5"]
    assert spo2[0]["resource"]["valueQuantity"] == {
        "value": 96.0, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%",
    }  # fmt: skip
    before_third = T0 + timedelta(minutes=1, seconds=30)
    window = _get(
        fhir_world, "/fhir/r4/Observation", patient="p-n1", code="http://loinc.org|8867-4",
        date=[f"ge{T0:%Y-%m-%d}", f"lt{before_third:%Y-%m-%dT%H:%M:%SZ}"],
    )  # fmt: skip
    assert window["total"] == 2
    seen: list[str] = []
    url: str | None = "/fhir/r4/Observation?patient=p-n1&_count=2"
    while url:
        page = fhir_world.client.get(url, headers=fhir_world.token(CLIN)).json()
        Bundle.model_validate(page)
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert len(seen) == len(set(seen)) == 5


def test_another_organisations_patient_is_not_found_and_bad_dates_are_refused(
    fhir_world: World,
) -> None:
    r = fhir_world.client.get(
        "/fhir/r4/Observation", params={"patient": "p-s1"}, headers=fhir_world.token(CLIN)
    )
    assert r.status_code == 404
    south = _get(fhir_world, "/fhir/r4/Observation", who="clin@south.test")
    assert {e["resource"]["subject"]["reference"] for e in south["entry"]} == {"Patient/p-s1"}
    for bad in ("yesterday", "ge0001-01-01T00:30:00+01:00x", "ge2026-13-01"):
        r = fhir_world.client.get(
            "/fhir/r4/Observation", params={"date": bad}, headers=fhir_world.token(CLIN)
        )
        assert r.status_code == 422, bad
