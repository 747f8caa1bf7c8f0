"""Health Thermometer Service (0x1809): Temperature Measurement 0x2A1C, Intermediate
Temperature 0x2A1E, Temperature Type 0x2A1D.

Layout (Health Thermometer Service 1.0, §3.1; GATT Specification Supplement §3.225):
flags u8 | temperature FLOAT (32-bit IEEE 11073) | time stamp (Date Time)? | type u8?
flags bit 0: unit °F (else °C); bit 1: time stamp; bit 2: temperature type; bits 3–7 reserved
for future use: ignored on receipt, and bytes after the defined fields then belong to a field
this version does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from gateway.ble.profiles.base import (
    Cursor,
    DateTime,
    ProfileReading,
    Timed,
    converted,
    known_or_raw,
)
from gateway.wire import Metric

NAME = "Temperature Measurement (0x2A1C)"
INTERMEDIATE_NAME = "Intermediate Temperature (0x2A1E)"
TYPE_NAME = "Temperature Type (0x2A1D)"

_FLAG_FAHRENHEIT = 0x01
_FLAG_TIME = 0x02
_FLAG_TYPE = 0x04
_FLAGS_RESERVED = 0xF8


class TemperatureType(IntEnum):
    """Where the temperature was taken (GATT Specification Supplement §3.226); 0 and 10–255
    are reserved and decode to the plain number (unknown site)."""

    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GASTROINTESTINAL = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement(Timed):
    """A thermometer reading in the unit the device sent (``fahrenheit`` says which)."""

    temperature: float | None
    fahrenheit: bool = False
    time_stamp: DateTime | None = None
    temperature_type: TemperatureType | int | None = None
    """None: not sent; a plain int: a reserved code, the site is unknown."""
    intermediate: bool = False
    """True for 0x2A1E: a value shown while the reading settles, not the final one."""

    def readings(self) -> list[ProfileReading]:
        if self.temperature is None or self.intermediate:
            return []
        if self.fahrenheit:
            celsius = converted(self.temperature, 5 / 9, offset=-32.0)
            return [ProfileReading(Metric.BODY_TEMPERATURE, celsius, "[degF]")]
        return [ProfileReading(Metric.BODY_TEMPERATURE, self.temperature, "Cel")]


def _decode(name: str, data: bytes, *, intermediate: bool) -> TemperatureMeasurement:
    cur = Cursor(name, data)
    flags = cur.u8("flags")
    value = cur.float32("temperature")
    stamp = cur.date_time("time stamp") if flags & _FLAG_TIME else None
    kind = None
    if flags & _FLAG_TYPE:
        kind = known_or_raw(TemperatureType, cur.u8("temperature type"))
    cur.done(future_fields=bool(flags & _FLAGS_RESERVED))
    return TemperatureMeasurement(
        value, bool(flags & _FLAG_FAHRENHEIT), stamp, kind, intermediate=intermediate
    )


def decode_temperature(data: bytes) -> TemperatureMeasurement:
    return _decode(NAME, data, intermediate=False)


def decode_intermediate_temperature(data: bytes) -> TemperatureMeasurement:
    return _decode(INTERMEDIATE_NAME, data, intermediate=True)


@dataclass(frozen=True, slots=True)
class TemperatureTypeValue:
    """The static 0x2A1D characteristic: where this thermometer measures."""

    temperature_type: TemperatureType | int
    """A reserved code stays a plain int: the site is unknown."""

    def readings(self) -> list[ProfileReading]:
        return []


def decode_temperature_type(data: bytes) -> TemperatureTypeValue:
    cur = Cursor(TYPE_NAME, data)
    kind = known_or_raw(TemperatureType, cur.u8("temperature type"))
    cur.done()
    return TemperatureTypeValue(kind)
