"""FHIR Bulk Data ``$export`` of an organisation: admins only, the kick-off / status / file
flow of the Bulk Data IG, NDJSON lines that validate as FHIR resources and match the search
API, and another organisation's export as absent as one that does not exist."""

# mypy: disable-error-code="union-attr,index"
from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B.device import Device as FhirDevice
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient as FhirPatient

from tests.cloud.test_fhir import fhir_world
from tests.fixtures.api import World

__all__ = ["fhir_world"]

ADMIN = "admin@north.test"
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def _kick_off(world: World, who: str = ADMIN, **params: str) -> str:
    r = world.client.get("/fhir/r4/$export", params=params, headers={**world.token(who), **ASYNC})
    assert r.status_code == 202, r.text
    return str(r.headers["content-location"])


def _lines(world: World, url: str, who: str = ADMIN) -> list[dict[str, Any]]:
    r = world.client.get(url, headers=world.token(who))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/fhir+ndjson"
    return [json.loads(line) for line in r.text.splitlines()]


def test_export_writes_ndjson_files_listed_in_the_manifest(fhir_world: World) -> None:
    status_url = _kick_off(fhir_world)
    assert status_url.startswith("http://testserver/fhir/r4/$export-status/")
    r = fhir_world.client.get(status_url, headers=fhir_world.token(ADMIN))
    assert r.status_code == 200
    manifest = r.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []
    assert manifest["request"].endswith("/fhir/r4/$export")
    outputs = {o["type"]: o for o in manifest["output"]}
    assert set(outputs) == {"Patient", "Device", "Observation"}
    files = {kind: _lines(fhir_world, o["url"]) for kind, o in outputs.items()}
    for kind, lines in files.items():
        assert len(lines) == outputs[kind]["count"]
    assert [FhirPatient.model_validate(p).id for p in files["Patient"]] == ["p-n1", "p-n2"]
    cuff = FhirDevice.model_validate(files["Device"][0])
    assert (cuff.id, cuff.patient.reference) == ("cuff-1", "Patient/p-n1")
    observations = [Observation.model_validate(o) for o in files["Observation"]]
    search = fhir_world.client.get("/fhir/r4/Observation", params={"_count": 1000}, headers=fhir_world.token(ADMIN)).json()  # fmt: skip
    assert sorted(o["id"] for o in files["Observation"]) == sorted(e["resource"]["id"] for e in search["entry"])  # fmt: skip
    assert len(observations) == search["total"]
    panel = next(o for o in observations if o.code.coding[0].code == "85354-9")
    assert [c.valueQuantity.value for c in panel.component] == [142.0, 91.0]
    assert not any(o["subject"]["reference"] == "Patient/p-s1" for o in files["Observation"])


def test_only_an_admin_of_the_organisation_exports_and_reads_it(fhir_world: World) -> None:
    r = fhir_world.client.get("/fhir/r4/$export", headers={**fhir_world.token("clin@north.test"), **ASYNC})  # fmt: skip
    assert r.status_code == 403
    status_url = _kick_off(fhir_world)
    job = status_url.rsplit("/", 1)[1]
    south = fhir_world.token("admin@south.test")
    assert fhir_world.client.get(status_url, headers=south).status_code == 404
    file_url = f"/fhir/r4/$export-file/{job}/Patient.ndjson"
    assert fhir_world.client.get(file_url, headers=south).status_code == 404
    assert fhir_world.client.delete(status_url, headers=south).status_code == 404
    assert fhir_world.client.get(file_url, headers=fhir_world.token("clin@north.test")).status_code == 403  # fmt: skip
    assert fhir_world.client.get(file_url).status_code == 401
    assert fhir_world.client.delete(status_url, headers=fhir_world.token(ADMIN)).status_code == 202
    assert fhir_world.client.get(status_url, headers=fhir_world.token(ADMIN)).status_code == 404


def test_type_filter_and_refusals(fhir_world: World) -> None:
    manifest = fhir_world.client.get(_kick_off(fhir_world, _type="Device"), headers=fhir_world.token(ADMIN)).json()  # fmt: skip
    assert [o["type"] for o in manifest["output"]] == ["Device"]
    headers = {**fhir_world.token(ADMIN), **ASYNC}
    for params in ({"_type": "Encounter"}, {"_outputFormat": "text/csv"}, {"_since": "2026-01-01T00:00:00Z"}):  # fmt: skip
        r = fhir_world.client.get("/fhir/r4/$export", params=params, headers=headers)
        assert r.status_code == 422, params
    r = fhir_world.client.get("/fhir/r4/$export", headers=fhir_world.token(ADMIN))
    assert r.status_code == 422
    assert "Prefer: respond-async" in r.text
    bad = fhir_world.client.get("/fhir/r4/$export-status/..%2F..%2Fetc", headers=fhir_world.token(ADMIN))  # fmt: skip
    assert bad.status_code in (404, 422)
