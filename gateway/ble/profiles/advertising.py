"""Advertisement payloads read without connecting: BTHome v2 and the SIG service-data form.

A passive sensor puts its measurement in the Service Data of its advertisement (AD type
0x16: a 16-bit UUID, then the bytes; Core Specification Supplement Part A §1.11). Two forms
are read, through ``SERVICE_DATA`` (a table, like the characteristic registry):

- BTHome v2 under 0xFCD2 (``bthome.py``);
- the Bluetooth SIG form of the health characteristics: the UUID of a measurement
  characteristic (0x2A1C…) or of its service (0x1809…) with that characteristic's bytes,
  read by the same decoder as over GATT.

Pure: no clock, no state. De-duplication and attribution to a patient live one layer up
(``gateway.ble.passive``). Every failure is an ``AdvertisementError`` (a ProfileError).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from gateway.ble.profiles import bthome
from gateway.ble.profiles.base import AdvertisementError, ProfileError
from gateway.ble.profiles.registry import CHARACTERISTICS
from gateway.ble.uuids import short_uuid

AD_FLAGS: Final = 0x01
AD_COMPLETE_NAME: Final = 0x09
AD_SERVICE_DATA_16: Final = 0x16

SERVICE_TO_CHARACTERISTIC: Final[dict[int, int]] = {
    0x1809: 0x2A1C,  # Health Thermometer → Temperature Measurement
    0x181D: 0x2A9D,  # Weight Scale → Weight Measurement
    0x181B: 0x2A9C,  # Body Composition → Body Composition Measurement
    0x180D: 0x2A37,  # Heart Rate → Heart Rate Measurement
    0x1810: 0x2A35,  # Blood Pressure → Blood Pressure Measurement
    0x1822: 0x2A5E,  # Pulse Oximeter → PLX Spot-Check Measurement
    0x1808: 0x2A18,  # Glucose → Glucose Measurement
    0x180F: 0x2A19,  # Battery → Battery Level
}
"""A service UUID in service data carries its measurement characteristic's value."""


@dataclass(frozen=True, slots=True)
class ServiceDataSpec:
    uuid16: int
    name: str
    decode: Callable[[bytes, str, bytes | None], Any]
    """(service data without the UUID, sender address, bind key) → decoded value."""


def _sig(decoder: Callable[[bytes], Any], name: str) -> Callable[[bytes, str, bytes | None], Any]:
    def decode(data: bytes, _address: str, _key: bytes | None) -> Any:
        try:
            return decoder(data)
        except AdvertisementError:
            raise
        except ProfileError as exc:
            raise AdvertisementError(f"service data {name}: {exc}") from exc

    return decode


def _bthome(data: bytes, address: str, key: bytes | None) -> bthome.BTHomeAdvertisement:
    return bthome.decode_bthome(data, address=address, bind_key=key)


_MEASUREMENTS = {c.uuid16: c for c in CHARACTERISTICS if c.metrics}

SERVICE_DATA: Final[dict[int, ServiceDataSpec]] = {
    bthome.UUID16: ServiceDataSpec(bthome.UUID16, bthome.NAME, _bthome),
    **{
        uuid: ServiceDataSpec(uuid, spec.name, _sig(spec.decode, f"0x{uuid:04X}"))
        for uuid, spec in _MEASUREMENTS.items()
    },
    **{
        service: ServiceDataSpec(
            service,
            f"{_MEASUREMENTS[char].name} under service 0x{service:04X}",
            _sig(_MEASUREMENTS[char].decode, f"0x{service:04X}"),
        )
        for service, char in SERVICE_TO_CHARACTERISTIC.items()
    },
}
"""Service-data UUID (16-bit) → how to read it. Measurement characteristics only: a
control point or a feature word in an advertisement means nothing."""


def decode_service_data(
    uuid: int | str, data: bytes, *, address: str, bind_key: bytes | None = None
) -> Any:
    """Decode one service-data entry sent by ``address``; AdvertisementError if unreadable.

    Returns a ``BTHomeAdvertisement`` or the characteristic's dataclass; each has
    ``.readings()``.
    """
    try:
        uuid16 = short_uuid(uuid)
    except ValueError as exc:
        raise AdvertisementError(f"service data: {exc}") from exc
    spec = None if uuid16 is None else SERVICE_DATA.get(uuid16)
    if spec is None:
        raise AdvertisementError(f"service data {uuid!r}: not a format VitalGate reads")
    return spec.decode(bytes(data), address, bind_key)


def ad_structures(raw: bytes) -> list[tuple[int, bytes]]:
    """Split advertising data into (AD type, data) (Core Vol 3 Part C §11: length | type |
    data); a zero length ends the data (padding). AdvertisementError if a length overruns."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(raw):
        length = raw[pos]
        if length == 0:
            break
        end = pos + 1 + length
        if end > len(raw):
            raise AdvertisementError(
                f"advertising data: structure at byte {pos} claims {length} byte(s), "
                f"{len(raw) - pos - 1} left"
            )
        out.append((raw[pos + 1], bytes(raw[pos + 2 : end])))
        pos = end
    return out


def service_data_of(raw: bytes) -> dict[int, bytes]:
    """The 16-bit-UUID service data in advertising data: UUID → bytes after the UUID."""
    out: dict[int, bytes] = {}
    for ad_type, data in ad_structures(raw):
        if ad_type != AD_SERVICE_DATA_16:
            continue
        if len(data) < 2:
            raise AdvertisementError("advertising data: service data shorter than its UUID")
        out[int.from_bytes(data[:2], "little")] = data[2:]
    return out


def decode_advertisement(
    service_data: Mapping[int, bytes] | Mapping[str, bytes],
    *,
    address: str,
    bind_key: bytes | None = None,
) -> tuple[list[Any], list[str]]:
    """Every readable entry of an advertisement's service data, and why the others were not
    read (one line each): an advertisement is many formats side by side."""
    values: list[Any] = []
    problems: list[str] = []
    for uuid, data in service_data.items():
        try:
            values.append(decode_service_data(uuid, data, address=address, bind_key=bind_key))
        except AdvertisementError as exc:
            problems.append(str(exc))
    return values, problems
