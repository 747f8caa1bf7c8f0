"""Heart Rate Service encoders: 0x2A37 and 0x2A38."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from gateway.ble.profiles.heart_rate import BodySensorLocation, HeartRateMeasurement


def encode_heart_rate(
    heart_rate: int,
    *,
    sensor_contact: bool | None = None,
    energy_expended_kj: int | None = None,
    rr_intervals: Sequence[float] = (),
    uint16_format: bool = False,
) -> bytes:
    """Heart Rate Measurement 0x2A37 from values; RR intervals in seconds (1/1024 s resolution)."""
    if not 0 <= heart_rate <= 0xFFFF:
        raise ValueError(f"heart rate out of range: {heart_rate}")
    u16 = uint16_format or heart_rate > 0xFF
    flags = 0x01 if u16 else 0x00
    if sensor_contact is not None:
        flags |= 0x04 | (0x02 if sensor_contact else 0)
    body = struct.pack("<H", heart_rate) if u16 else bytes([heart_rate])
    if energy_expended_kj is not None:
        flags |= 0x08
        body += struct.pack("<H", energy_expended_kj)
    if rr_intervals:
        flags |= 0x10
        body += b"".join(struct.pack("<H", round(rr * 1024)) for rr in rr_intervals)
    return bytes([flags]) + body


def encode_heart_rate_measurement(m: HeartRateMeasurement) -> bytes:
    return encode_heart_rate(
        m.heart_rate,
        sensor_contact=m.sensor_contact,
        energy_expended_kj=m.energy_expended_kj,
        rr_intervals=m.rr_intervals,
        uint16_format=m.uint16_format,
    )


def encode_body_sensor_location(m: BodySensorLocation) -> bytes:
    return bytes([m.location])
