"""Pure decoders for the Bluetooth SIG health profiles: bytes in, frozen dataclasses out.

``decode(uuid, data)`` looks the characteristic up in the registry (``registry.py``, the
spec as a table); bad bytes raise ``ProfileError`` (a ValueError), never anything else.
Bits and codes reserved for future use are not bad bytes: they are ignored or read as
"unknown", as the Core Specification asks of a receiver. Advertisement payloads (BTHome v2,
the SIG service-data form) are read by ``advertising.decode_service_data``.
Every result has ``.readings()`` in canonical units (docs/architecture.md, "Metrics and units"). Device clocks
(BLE Date Time) carry no zone: ``.timestamp`` reads them as UTC, ``.timestamp_in(tz)`` in
another zone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.ble.profiles.base import DateTime, ProfileError, ProfileReading
from gateway.ble.profiles.blood_pressure import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    IntermediateCuffPressure,
)
from gateway.ble.profiles.body_composition import BodyCompositionMeasurement
from gateway.ble.profiles.cgm import CgmMeasurement, CgmRecord
from gateway.ble.profiles.cgm_control import CgmCalibration, CgmControlPoint
from gateway.ble.profiles.cgm_session import (
    CgmFeature,
    CgmSessionRunTime,
    CgmSessionStartTime,
    CgmStatus,
)
from gateway.ble.profiles.device import (
    BatteryLevel,
    CurrentTime,
    DateTimeValue,
    DeviceString,
    current_time_of,
    encode_current_time,
)
from gateway.ble.profiles.glucose import GlucoseContext, GlucoseMeasurement
from gateway.ble.profiles.heart_rate import BodySensorLocation, HeartRateMeasurement
from gateway.ble.profiles.plx import PlxContinuous, PlxFeatures, PlxSpotCheck, SpO2PR
from gateway.ble.profiles.racp import (
    RacpNumberOfRecords,
    RacpRequest,
    RacpResponseCode,
    encode_request,
)
from gateway.ble.profiles.registry import (
    CHARACTERISTICS,
    LOINC,
    SERVICES,
    DeviceKind,
    characteristic,
    recognize,
    service,
)
from gateway.ble.profiles.temperature import TemperatureMeasurement, TemperatureTypeValue
from gateway.ble.profiles.weight import WeightMeasurement, WeightScaleFeature
from gateway.ble.uuids import normalize_uuid

__all__ = [
    "CHARACTERISTICS",
    "DECODERS",
    "LOINC",
    "SERVICES",
    "BatteryLevel",
    "BloodPressureFeature",
    "BloodPressureMeasurement",
    "BodyCompositionMeasurement",
    "BodySensorLocation",
    "CgmCalibration",
    "CgmControlPoint",
    "CgmFeature",
    "CgmMeasurement",
    "CgmRecord",
    "CgmSessionRunTime",
    "CgmSessionStartTime",
    "CgmStatus",
    "CurrentTime",
    "DateTime",
    "DateTimeValue",
    "DeviceKind",
    "DeviceString",
    "GlucoseContext",
    "GlucoseMeasurement",
    "HeartRateMeasurement",
    "IntermediateCuffPressure",
    "PlxContinuous",
    "PlxFeatures",
    "PlxSpotCheck",
    "ProfileError",
    "ProfileReading",
    "RacpNumberOfRecords",
    "RacpRequest",
    "RacpResponseCode",
    "SpO2PR",
    "TemperatureMeasurement",
    "TemperatureTypeValue",
    "WeightMeasurement",
    "WeightScaleFeature",
    "characteristic",
    "current_time_of",
    "decode",
    "encode_current_time",
    "encode_request",
    "recognize",
    "service",
]

DECODERS: dict[str, Callable[[bytes], Any]] = {c.uuid: c.decode for c in CHARACTERISTICS}
"""Characteristic UUID (normal form) → pure decoder."""

_BY_ANY_FORM: dict[int | str, Callable[[bytes], Any]] = {}
for _spec in CHARACTERISTICS:
    for _form in (_spec.uuid16, f"{_spec.uuid16:04x}", _spec.uuid):
        _BY_ANY_FORM[_form] = _spec.decode
"""Fast path for the forms callers use most (int, short hex, normal form)."""


def decode(uuid: int | str, data: bytes) -> Any:
    """Decode one characteristic value; raise ProfileError for bad bytes or an unknown UUID."""
    decoder = _BY_ANY_FORM.get(uuid)
    if decoder is not None:
        return decoder(bytes(data))
    try:
        key = normalize_uuid(uuid)
    except ValueError as exc:
        raise ProfileError(str(exc)) from exc
    decoder = DECODERS.get(key)
    if decoder is None:
        raise ProfileError(f"no decoder for characteristic {key}")
    try:
        return decoder(bytes(data))
    except ProfileError:
        raise
    except (ValueError, IndexError, OverflowError, TypeError) as exc:  # pragma: no cover
        # A decoder bug must still surface as bad input, never crash the pipeline.
        raise ProfileError(f"{key}: undecodable value ({exc})") from exc
