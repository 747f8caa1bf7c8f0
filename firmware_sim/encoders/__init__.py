"""Encoders: the exact inverse of ``gateway.ble.profiles`` decoders (flags chosen from what
is present). ``encode(value)`` picks the encoder by the value's type; ``ENCODERS`` maps
characteristic UUID → encoder for the round-trip tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from firmware_sim.encoders.cgm import (
    encode_cgm_control_point,
    encode_cgm_feature,
    encode_cgm_measurement,
    encode_cgm_session_run_time,
    encode_cgm_session_start_time,
    encode_cgm_status,
)
from firmware_sim.encoders.heart_rate import (
    encode_body_sensor_location,
    encode_heart_rate,
    encode_heart_rate_measurement,
)
from firmware_sim.encoders.numbers import float_raw, sfloat_raw
from firmware_sim.encoders.records import (
    encode_battery_level,
    encode_body_composition,
    encode_current_time_value,
    encode_date_time_value,
    encode_device_string,
    encode_glucose,
    encode_glucose_context,
    encode_racp_response,
    encode_weight,
    encode_weight_scale_feature,
)
from firmware_sim.encoders.vitals import (
    encode_blood_pressure,
    encode_blood_pressure_feature,
    encode_intermediate_cuff_pressure,
    encode_plx_continuous,
    encode_plx_features,
    encode_plx_spot_check,
    encode_temperature,
    encode_temperature_type,
)
from gateway.ble.uuids import normalize_uuid

_BY_SHORT: dict[int, Callable[[Any], bytes]] = {
    0x2A37: encode_heart_rate_measurement,
    0x2A38: encode_body_sensor_location,
    0x2A35: encode_blood_pressure,
    0x2A36: encode_intermediate_cuff_pressure,
    0x2A49: encode_blood_pressure_feature,
    0x2A1C: encode_temperature,
    0x2A1E: encode_temperature,
    0x2A1D: encode_temperature_type,
    0x2A5E: encode_plx_spot_check,
    0x2A5F: encode_plx_continuous,
    0x2A60: encode_plx_features,
    0x2A9D: encode_weight,
    0x2A9E: encode_weight_scale_feature,
    0x2A9C: encode_body_composition,
    0x2A18: encode_glucose,
    0x2A34: encode_glucose_context,
    0x2A52: encode_racp_response,
    0x2AA7: encode_cgm_measurement,
    0x2AA8: encode_cgm_feature,
    0x2AA9: encode_cgm_status,
    0x2AAA: encode_cgm_session_start_time,
    0x2AAB: encode_cgm_session_run_time,
    0x2AAC: encode_cgm_control_point,
    0x2A08: encode_date_time_value,
    0x2A2B: encode_current_time_value,
    0x2A19: encode_battery_level,
    **dict.fromkeys((0x2A29, 0x2A24, 0x2A25, 0x2A27, 0x2A26, 0x2A28), encode_device_string),
}
ENCODERS: dict[str, Callable[[Any], bytes]] = {
    normalize_uuid(uuid): fn for uuid, fn in _BY_SHORT.items()
}
"""Characteristic UUID (normal form) → encoder of the decoder's dataclass."""


def encode(uuid: int | str, value: Any) -> bytes:
    """The bytes a device sends for ``value`` on characteristic ``uuid``."""
    return ENCODERS[normalize_uuid(uuid)](value)


__all__ = [
    "ENCODERS",
    "encode",
    "encode_battery_level",
    "encode_blood_pressure",
    "encode_blood_pressure_feature",
    "encode_body_composition",
    "encode_body_sensor_location",
    "encode_cgm_control_point",
    "encode_cgm_feature",
    "encode_cgm_measurement",
    "encode_cgm_session_run_time",
    "encode_cgm_session_start_time",
    "encode_cgm_status",
    "encode_current_time_value",
    "encode_date_time_value",
    "encode_device_string",
    "encode_glucose",
    "encode_glucose_context",
    "encode_heart_rate",
    "encode_heart_rate_measurement",
    "encode_intermediate_cuff_pressure",
    "encode_plx_continuous",
    "encode_plx_features",
    "encode_plx_spot_check",
    "encode_racp_response",
    "encode_temperature",
    "encode_temperature_type",
    "encode_weight",
    "encode_weight_scale_feature",
    "float_raw",
    "sfloat_raw",
]
