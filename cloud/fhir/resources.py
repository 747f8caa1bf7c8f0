"""FHIR R4 resources from the record: Patient, Device, vital-signs Observations, Bundles.

Observations follow the FHIR vital-signs profile: category ``vital-signs``, LOINC codes and
UCUM units as in the metric table (docs/architecture.md, "Metrics and units"), blood
pressure as the 85354-9 panel with 8480-6 (systolic) and 8462-4 (diastolic) components,
``effectiveDateTime``, the patient as subject and the device that measured it. Pure
functions of rows: the queries live in ``cloud.fhir.service``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from cloud.store.models import Reading
from cloud.store.tenancy import Device, Patient
from gateway.ble.profiles.registry import BP_PANEL_LOINC, LOINC, SPO2_VITAL_SIGNS_LOINC
from gateway.wire import Metric

FHIR_VERSION: Final = "4.0.1"
LOINC_SYSTEM: Final = "http://loinc.org"
UCUM_SYSTEM: Final = "http://unitsofmeasure.org"
CATEGORY_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
PROFILE_BASE: Final = "http://hl7.org/fhir/StructureDefinition/"
PROFILES: Final[Mapping[str, str]] = {
    "heart_rate": "heartrate",
    "pulse_rate": "heartrate",
    "spo2": "oxygensat",
    "body_temperature": "bodytemp",
    "body_weight": "bodyweight",
    "body_height": "bodyheight",
    "bmi": "bmi",
    "respiratory_rate": "resprate",
    "blood_pressure": "bp",
}
"""The vital-signs profile of each metric; others carry the base ``vitalsigns`` profile."""
DISPLAY: Final[Mapping[str, str]] = {
    "heart_rate": "Heart rate",
    "pulse_rate": "Heart rate",
    "systolic_bp": "Systolic blood pressure",
    "diastolic_bp": "Diastolic blood pressure",
    "mean_arterial_pressure": "Mean blood pressure",
    "spo2": "Oxygen saturation in Arterial blood by Pulse oximetry",
    "body_temperature": "Body temperature",
    "body_weight": "Body weight",
    "bmi": "Body mass index (BMI) [Ratio]",
    "body_height": "Body height",
    "body_fat": "Percentage of body fat Measured",
    "blood_glucose": "Glucose [Mass/volume] in Blood",
    "respiratory_rate": "Respiratory rate",
}
BP_COMPONENTS: Final = (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP)
NOT_OBSERVATIONS: Final = frozenset({"battery_level"})
"""Device status, not a vital sign: not exported as an Observation."""


_NOT_IN_ID: Final = re.compile(r"[^A-Za-z0-9.-]")


def fhir_id(value: str) -> str:
    """A FHIR id (``[A-Za-z0-9-.]{1,64}``) from a wire id, which may hold ``_`` and ``:``
    (``3f…9a-systolic_bp``): other characters become ``-``; a longer id is hashed."""
    safe = _NOT_IN_ID.sub("-", value)
    return safe if len(safe) <= 64 else hashlib.sha256(value.encode()).hexdigest()[:64]


def _instant(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _loinc(code: str, display: str) -> dict[str, str]:
    return {"system": LOINC_SYSTEM, "code": code, "display": display}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM_SYSTEM, "code": unit}


def codes_of(metric: str) -> list[dict[str, str]]:
    """The LOINC codings of a metric (SpO2 carries both 2708-6 and 59408-5)."""
    codings = [_loinc(LOINC[Metric(metric)], DISPLAY[metric])]
    if metric == Metric.SPO2:
        codings.insert(0, _loinc(SPO2_VITAL_SIGNS_LOINC, "Oxygen saturation in Arterial blood"))
    return codings


def metrics_for_code(system: str | None, code: str) -> set[str]:
    """The metrics a ``code`` search parameter (``system|code`` or ``code``) selects."""
    if system not in (None, "", LOINC_SYSTEM):
        return set()
    if code == BP_PANEL_LOINC:
        return {Metric.SYSTOLIC_BP.value}
    found = {m.value for m, c in LOINC.items() if c == code}
    if code == SPO2_VITAL_SIGNS_LOINC:
        found.add(Metric.SPO2.value)
    return found - NOT_OBSERVATIONS


def observation(reading: Reading, components: Sequence[Reading] = ()) -> dict[str, Any]:
    """One vital-signs Observation; a systolic reading with its ``components`` is the
    blood-pressure panel."""
    panel = reading.metric == Metric.SYSTOLIC_BP
    key = "blood_pressure" if panel else reading.metric
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": fhir_id(reading.measurement_id if panel and reading.measurement_id else reading.id),
        "meta": {"profile": [PROFILE_BASE + PROFILES.get(key, "vitalsigns")]},
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": CATEGORY_SYSTEM, "code": "vital-signs", "display": "Vital Signs"}
                ],
                "text": "Vital Signs",
            }
        ],
        "subject": {"reference": f"Patient/{fhir_id(reading.patient_id)}"},
        "effectiveDateTime": _instant(reading.ts),
        "device": {"reference": f"Device/{fhir_id(reading.device_id)}"},
    }
    if panel:
        resource["code"] = {
            "coding": [_loinc(BP_PANEL_LOINC, "Blood pressure panel with all children optional")],
            "text": "Blood pressure",
        }
        parts = [reading, *components]
        resource["component"] = [
            {
                "code": {"coding": codes_of(part.metric)},
                "valueQuantity": _quantity(part.value, part.unit),
            }
            for part in sorted(parts, key=lambda p: BP_COMPONENTS.index(Metric(p.metric)))
        ]
    else:
        resource["code"] = {"coding": codes_of(reading.metric), "text": DISPLAY[reading.metric]}
        resource["valueQuantity"] = _quantity(reading.value, reading.unit)
    return resource


def patient(row: Patient) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": row.id,
        "active": True,
        "name": [{"text": row.display_name}],
        "managingOrganization": {"reference": f"Organization/{row.organisation_id}"},
    }


def device(row: Device, patient_id: str | None) -> dict[str, Any]:
    """A personal health device (HL7 PHD IG: the device that produced the Observations)."""
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "id": row.id,
        "status": "active",
        "type": {"text": row.kind.replace("_", " ")},
        "owner": {"reference": f"Organization/{row.organisation_id}"},
    }
    if row.address:
        resource["identifier"] = [{"system": "urn:ieee:mac", "value": row.address}]
    if patient_id:
        resource["patient"] = {"reference": f"Patient/{patient_id}"}
    return resource


def bundle(
    entries: Sequence[dict[str, Any]], *, base: str, total: int, links: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": rel, "url": url} for rel, url in links.items()],
        "entry": [
            {
                "fullUrl": f"{base}/{e['resourceType']}/{e['id']}",
                "resource": e,
                "search": {"mode": "match"},
            }
            for e in entries
        ],
    }


def capability_statement(*, base: str, software_version: str, now: datetime) -> dict[str, Any]:
    search = [
        {"name": "patient", "type": "reference"},
        {"name": "code", "type": "token"},
        {"name": "date", "type": "date"},
        {"name": "_count", "type": "number"},
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _instant(now),
        "kind": "instance",
        "software": {"name": "VitalGate", "version": software_version},
        "implementation": {"description": "VitalGate remote patient monitoring", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [{"text": "OAuth2 bearer token from POST /api/v1/auth/token"}]
                },
                "resource": [
                    {"type": "Patient", "interaction": [{"code": "read"}]},
                    {"type": "Device", "interaction": [{"code": "read"}]},
                    {
                        "type": "Observation",
                        "supportedProfile": [PROFILE_BASE + "vitalsigns"],
                        "interaction": [{"code": "search-type"}],
                        "searchParam": search,
                    },
                ],
            }
        ],
    }
