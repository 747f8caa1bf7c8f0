"""Heart Rate Service (0x180D): Heart Rate Measurement 0x2A37, Body Sensor Location 0x2A38.

Layout (Heart Rate Service 1.0, §3.1; GATT Specification Supplement §3.113):
flags u8 | heart rate u8 or u16 | energy expended u16 (kJ)? | RR intervals u16 (1/1024 s)*
flags bit 0: value format uint16; bits 1–2: sensor contact status (bit 2 = supported, bit 1 =
detected); bit 3: energy expended present; bit 4: RR intervals present; bits 5–7 reserved
for future use, ignored on receipt. RR intervals run to the end of the value, so when a
reserved bit is set (a field a newer specification may append) they cannot be told apart
from that field: the heart rate and energy are kept, the RR intervals left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from gateway.ble.profiles.base import Cursor, ProfileError, ProfileReading, known_or_raw
from gateway.wire import Metric

NAME = "Heart Rate Measurement (0x2A37)"
LOCATION_NAME = "Body Sensor Location (0x2A38)"
RR_RESOLUTION_S = 1 / 1024

_FLAG_U16 = 0x01
_FLAG_CONTACT_DETECTED = 0x02
_FLAG_CONTACT_SUPPORTED = 0x04
_FLAG_ENERGY = 0x08
_FLAG_RR = 0x10
_FLAGS_RESERVED = 0xE0


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    heart_rate: int
    """Beats per minute."""
    sensor_contact: bool | None
    """None when the sensor does not support contact detection."""
    energy_expended_kj: int | None = None
    rr_intervals: tuple[float, ...] = ()
    """Seconds, at the 1/1024 s resolution of the characteristic."""
    uint16_format: bool = False

    @property
    def timestamp(self) -> None:
        """The Heart Rate Measurement carries no time stamp; the gateway stamps arrival."""
        return None

    @property
    def usable(self) -> bool:
        """A strap that reports lost skin contact gives values unfit for alerts."""
        return self.sensor_contact is not False

    def readings(self) -> list[ProfileReading]:
        flags = () if self.usable else ("sensor_contact_lost",)
        return [
            ProfileReading(
                Metric.HEART_RATE, float(self.heart_rate), flags=flags, usable=self.usable
            )
        ]


def decode_heart_rate(data: bytes) -> HeartRateMeasurement:
    cur = Cursor(NAME, data)
    flags = cur.u8("flags")
    future = bool(flags & _FLAGS_RESERVED)
    u16 = bool(flags & _FLAG_U16)
    hr = cur.u16("heart rate") if u16 else cur.u8("heart rate")
    contact: bool | None = None
    if flags & _FLAG_CONTACT_SUPPORTED:
        contact = bool(flags & _FLAG_CONTACT_DETECTED)
    energy = cur.u16("energy expended") if flags & _FLAG_ENERGY else None
    rr: list[float] = []
    if flags & _FLAG_RR and not future:
        if cur.remaining() == 0 or cur.remaining() % 2:
            raise ProfileError(f"{NAME}: RR-interval field must be whole uint16 values")
        while cur.remaining():
            rr.append(cur.u16("RR interval") * RR_RESOLUTION_S)
    cur.done(future_fields=future)
    return HeartRateMeasurement(
        heart_rate=hr,
        sensor_contact=contact,
        energy_expended_kj=energy,
        rr_intervals=tuple(rr),
        uint16_format=u16,
    )


class SensorLocation(IntEnum):
    """Body Sensor Location values (Heart Rate Service 1.0, §3.2); 7–255 are reserved and
    decode to the plain number (unknown location)."""

    OTHER = 0
    CHEST = 1
    WRIST = 2
    FINGER = 3
    HAND = 4
    EAR_LOBE = 5
    FOOT = 6


@dataclass(frozen=True, slots=True)
class BodySensorLocation:
    location: SensorLocation | int
    """A reserved code stays a plain int: a location this version does not know."""

    def readings(self) -> list[ProfileReading]:
        return []


def decode_body_sensor_location(data: bytes) -> BodySensorLocation:
    cur = Cursor(LOCATION_NAME, data)
    location = known_or_raw(SensorLocation, cur.u8("location"))
    cur.done()
    return BodySensorLocation(location)
