"""The spec as a table: characteristic and service UUIDs → decoders, metrics, units, LOINC.

Adding a device means adding rows here (and vectors in tests/profiles), not branches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, Final

from gateway.ble.profiles import (
    blood_pressure,
    body_composition,
    cgm,
    cgm_control,
    cgm_session,
    device,
    glucose,
    heart_rate,
    plx,
    racp,
    temperature,
    weight,
)
from gateway.ble.uuids import normalize_uuid, short_uuid
from gateway.wire import CANONICAL_UNITS, Metric

M = Metric

LOINC: Final[dict[Metric, str]] = {
    M.HEART_RATE: "8867-4",
    M.PULSE_RATE: "8867-4",
    M.SYSTOLIC_BP: "8480-6",
    M.DIASTOLIC_BP: "8462-4",
    M.MEAN_ARTERIAL_PRESSURE: "8478-0",
    M.SPO2: "59408-5",
    M.BODY_TEMPERATURE: "8310-5",
    M.BODY_WEIGHT: "29463-7",
    M.BMI: "39156-5",
    M.BODY_HEIGHT: "8302-2",
    M.BODY_FAT: "41982-0",
    M.BLOOD_GLUCOSE: "41653-7",
    M.RESPIRATORY_RATE: "9279-1",
}
"""LOINC code per metric for the FHIR export (docs/architecture.md, "Metrics and units"). SpO2 uses 59408-5
(by pulse oximetry), which the FHIR vital-signs profile pairs with 2708-6; battery has none."""
BP_PANEL_LOINC: Final = "85354-9"
SPO2_VITAL_SIGNS_LOINC: Final = "2708-6"


class DeviceKind(StrEnum):
    HR_STRAP = "hr_strap"
    BP_CUFF = "bp_cuff"
    PULSE_OXIMETER = "pulse_oximeter"
    THERMOMETER = "thermometer"
    SCALE = "scale"
    GLUCOSE_METER = "glucose_meter"
    CGM = "cgm"


@dataclass(frozen=True, slots=True)
class CharacteristicSpec:
    uuid16: int
    name: str
    decode: Callable[[bytes], Any]
    metrics: tuple[Metric, ...] = ()

    @property
    def uuid(self) -> str:
        return normalize_uuid(self.uuid16)

    @property
    def units(self) -> dict[Metric, str]:
        return {m: CANONICAL_UNITS[m] for m in self.metrics}

    @property
    def loinc(self) -> dict[Metric, str]:
        return {m: LOINC[m] for m in self.metrics if m in LOINC}


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    uuid16: int
    name: str
    kind: DeviceKind | None
    characteristics: tuple[int, ...]


_BP = (M.SYSTOLIC_BP, M.DIASTOLIC_BP, M.MEAN_ARTERIAL_PRESSURE, M.PULSE_RATE)
_DIS = {
    0x2A29: "Manufacturer Name String (0x2A29)",
    0x2A24: "Model Number String (0x2A24)",
    0x2A25: "Serial Number String (0x2A25)",
    0x2A27: "Hardware Revision String (0x2A27)",
    0x2A26: "Firmware Revision String (0x2A26)",
    0x2A28: "Software Revision String (0x2A28)",
}

CHARACTERISTICS: Final[tuple[CharacteristicSpec, ...]] = (
    CharacteristicSpec(0x2A37, heart_rate.NAME, heart_rate.decode_heart_rate, (M.HEART_RATE,)),
    CharacteristicSpec(0x2A38, heart_rate.LOCATION_NAME, heart_rate.decode_body_sensor_location),
    CharacteristicSpec(0x2A35, blood_pressure.NAME, blood_pressure.decode_blood_pressure, _BP),
    CharacteristicSpec(
        0x2A36, blood_pressure.CUFF_NAME, blood_pressure.decode_intermediate_cuff_pressure
    ),
    CharacteristicSpec(
        0x2A49, blood_pressure.FEATURE_NAME, blood_pressure.decode_blood_pressure_feature
    ),
    CharacteristicSpec(
        0x2A1C, temperature.NAME, temperature.decode_temperature, (M.BODY_TEMPERATURE,)
    ),
    CharacteristicSpec(
        0x2A1E, temperature.INTERMEDIATE_NAME, temperature.decode_intermediate_temperature
    ),
    CharacteristicSpec(0x2A1D, temperature.TYPE_NAME, temperature.decode_temperature_type),
    CharacteristicSpec(0x2A5E, plx.SPOT_NAME, plx.decode_plx_spot_check, (M.SPO2, M.PULSE_RATE)),
    CharacteristicSpec(
        0x2A5F, plx.CONTINUOUS_NAME, plx.decode_plx_continuous, (M.SPO2, M.PULSE_RATE)
    ),
    CharacteristicSpec(0x2A60, plx.FEATURES_NAME, plx.decode_plx_features),
    CharacteristicSpec(
        0x2A9D, weight.NAME, weight.decode_weight, (M.BODY_WEIGHT, M.BMI, M.BODY_HEIGHT)
    ),
    CharacteristicSpec(0x2A9E, weight.FEATURE_NAME, weight.decode_weight_scale_feature),
    CharacteristicSpec(
        0x2A9C,
        body_composition.NAME,
        body_composition.decode_body_composition,
        (M.BODY_FAT, M.BODY_WEIGHT, M.BODY_HEIGHT),
    ),
    CharacteristicSpec(0x2A18, glucose.NAME, glucose.decode_glucose, (M.BLOOD_GLUCOSE,)),
    CharacteristicSpec(0x2A34, glucose.CONTEXT_NAME, glucose.decode_glucose_context),
    CharacteristicSpec(0x2A52, racp.NAME, racp.decode_racp),
    CharacteristicSpec(
        0x2AA7, cgm.MEASUREMENT_NAME, cgm.decode_cgm_measurement, (M.BLOOD_GLUCOSE,)
    ),
    CharacteristicSpec(0x2AA8, cgm.FEATURE_NAME, cgm_session.decode_cgm_feature),
    CharacteristicSpec(0x2AA9, cgm.STATUS_NAME, cgm_session.decode_cgm_status),
    CharacteristicSpec(0x2AAA, cgm.START_TIME_NAME, cgm_session.decode_cgm_session_start_time),
    CharacteristicSpec(0x2AAB, cgm.RUN_TIME_NAME, cgm_session.decode_cgm_session_run_time),
    CharacteristicSpec(0x2AAC, cgm.SOCP_NAME, cgm_control.decode_cgm_control_point),
    CharacteristicSpec(0x2A08, device.DATE_TIME_NAME, device.decode_date_time),
    CharacteristicSpec(0x2A2B, device.CURRENT_TIME_NAME, device.decode_current_time),
    CharacteristicSpec(
        0x2A19, device.BATTERY_NAME, device.decode_battery_level, (M.BATTERY_LEVEL,)
    ),
    *(
        CharacteristicSpec(uuid16, name, partial(device.decode_device_string, name))
        for uuid16, name in _DIS.items()
    ),
)

SERVICES: Final[tuple[ServiceSpec, ...]] = (
    ServiceSpec(0x1808, "Glucose", DeviceKind.GLUCOSE_METER, (0x2A18, 0x2A34, 0x2A52)),
    ServiceSpec(
        0x181F,
        "Continuous Glucose Monitoring",
        DeviceKind.CGM,
        (0x2AA7, 0x2AA8, 0x2AA9, 0x2AAA, 0x2AAB, 0x2A52, 0x2AAC),
    ),
    ServiceSpec(0x1810, "Blood Pressure", DeviceKind.BP_CUFF, (0x2A35, 0x2A36, 0x2A49)),
    ServiceSpec(0x1822, "Pulse Oximeter", DeviceKind.PULSE_OXIMETER, (0x2A5E, 0x2A5F, 0x2A60)),
    ServiceSpec(0x1809, "Health Thermometer", DeviceKind.THERMOMETER, (0x2A1C, 0x2A1E, 0x2A1D)),
    ServiceSpec(0x181D, "Weight Scale", DeviceKind.SCALE, (0x2A9D, 0x2A9E)),
    ServiceSpec(0x181B, "Body Composition", DeviceKind.SCALE, (0x2A9C,)),
    ServiceSpec(0x180D, "Heart Rate", DeviceKind.HR_STRAP, (0x2A37, 0x2A38)),
    ServiceSpec(0x180F, "Battery", None, (0x2A19,)),
    ServiceSpec(0x1805, "Current Time", None, (0x2A2B,)),
    ServiceSpec(0x180A, "Device Information", None, tuple(_DIS)),
)
"""In recognition order: a device advertising several health services is the first match
(a cuff that also streams heart rate is a cuff)."""

BY_UUID: Final[dict[str, CharacteristicSpec]] = {c.uuid: c for c in CHARACTERISTICS}
SERVICE_BY_UUID: Final[dict[str, ServiceSpec]] = {normalize_uuid(s.uuid16): s for s in SERVICES}


def characteristic(uuid: int | str) -> CharacteristicSpec | None:
    """The registry row of a characteristic (16-bit, or 128-bit on the SIG base), or None."""
    try:
        return BY_UUID.get(normalize_uuid(uuid))
    except ValueError:
        return None


def service(uuid: int | str) -> ServiceSpec | None:
    """The registry row of a service (16-bit, or 128-bit on the SIG base), or None."""
    try:
        return SERVICE_BY_UUID.get(normalize_uuid(uuid))
    except ValueError:
        return None


def recognize(service_uuids: Iterable[int | str]) -> DeviceKind | None:
    """The kind of device advertising these services, or None if it is none VitalGate reads."""
    advertised = set()
    for uuid in service_uuids:
        try:
            advertised.add(short_uuid(uuid))
        except ValueError:
            continue  # a malformed UUID in someone's advertisement is not ours to fail on
    for service in SERVICES:
        if service.kind is not None and service.uuid16 in advertised:
            return service.kind
    return None
