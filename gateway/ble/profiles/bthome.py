"""BTHome v2 (bthome.io, the open advertisement format): service data under UUID 0xFCD2.

Layout of the service data after the UUID: device information u8 | objects…, or when
encrypted: device information | ciphertext of the objects | counter u32 | MIC (4 bytes).
Device information: bit 0 encrypted, bit 1 the sensor's MAC follows (6 bytes, reversed),
bit 2 trigger-based (sends only on events), bits 3–4 reserved (ignored), bits 5–7 version
(2). An object is an object id u8 and a value of the length the id fixes (``OBJECTS``, the
format's table as rows); text and raw objects carry their own length byte.

Rules of the format this decoder applies: ids come in ascending order (a sensor that does
not is decoded, and the result says so); an id this version does not know has a length it
cannot know either, so decoding stops there and ``stopped`` says why (the objects before it
are exact); an object cut short is a malformed packet and is refused. Encryption is AES-CCM
with the 16-byte bind key, nonce = MAC (6) | UUID 0xFCD2 as sent (2) | device information
(1) | counter (4), and a 4-byte MIC: a wrong key or an altered packet fails the MIC and is
refused; so is an unencrypted packet when the sensor was paired with a bind key (a spoof
cannot downgrade it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from gateway.ble.profiles.base import AdvertisementError, ProfileReading, converted
from gateway.ble.profiles.weight import LB_TO_KG
from gateway.wire import Metric

NAME = "BTHome v2 (0xFCD2)"
UUID16: Final = 0xFCD2
UUID_BYTES: Final = UUID16.to_bytes(2, "little")
VERSION: Final = 2
KEY_SIZE: Final = 16
MIC_SIZE: Final = 4
COUNTER_SIZE: Final = 4

PACKET_ID: Final = 0x00
FLAG_ENCRYPTED: Final = 0x01
FLAG_MAC_INCLUDED: Final = 0x02
FLAG_TRIGGER_BASED: Final = 0x04


class ObjectSpec(NamedTuple):
    """A row of the object table: id, name, value size (None: a length byte precedes the
    value), signedness, scale ``num/den``, unit, and the wire metric it maps to (with the
    factor to its canonical unit) or why it maps to none."""

    object_id: int
    name: str
    size: int | None = 1
    signed: bool = False
    num: int = 1
    den: int = 1
    unit: str | None = None
    metric: Metric | None = None
    to_canonical: float = 1.0
    why_not: str = "no wire metric for it"


_AMBIENT = "an environment value, not a vital sign"
_COARSE = "resolution too coarse for a body temperature"
_STATE = "a sensor state, not a vital sign"
_INFO = "device information"

_O = ObjectSpec
_BINARY_NAMES = (
    "generic_boolean", "power", "opening", "battery_low", "battery_charging",
    "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas", "heat", "light",
    "lock", "moisture_detected", "motion", "moving", "occupancy", "plug", "presence", "problem",
    "running", "safety", "smoke", "sound", "tamper", "vibration", "window",
)  # fmt: skip
_BINARY = dict(zip((0x0F, 0x10, 0x11, *range(0x15, 0x2E)), _BINARY_NAMES, strict=True))
"""Binary objects (u8, 0 or 1): 0x0F–0x11 and 0x15–0x2D."""

OBJECTS: Final[tuple[ObjectSpec, ...]] = (
    _O(0x00, "packet_id", why_not="identifies the packet, for de-duplication"),
    _O(0x01, "battery", unit="%", metric=Metric.BATTERY_LEVEL),
    _O(0x02, "temperature", 2, True, 1, 100, "Cel", Metric.BODY_TEMPERATURE),
    _O(0x03, "humidity", 2, False, 1, 100, "%", why_not=_AMBIENT),
    _O(0x04, "pressure", 3, False, 1, 100, "hPa", why_not=_AMBIENT),
    _O(0x05, "illuminance", 3, False, 1, 100, "lx", why_not=_AMBIENT),
    _O(0x06, "mass_kg", 2, False, 1, 100, "kg", Metric.BODY_WEIGHT),
    _O(0x07, "mass_lb", 2, False, 1, 100, "[lb_av]", Metric.BODY_WEIGHT, LB_TO_KG),
    _O(0x08, "dew_point", 2, True, 1, 100, "Cel", why_not=_AMBIENT),
    _O(0x09, "count"),
    _O(0x0A, "energy", 3, False, 1, 1000, "kW.h"),
    _O(0x0B, "power", 3, False, 1, 100, "W"),
    _O(0x0C, "voltage", 2, False, 1, 1000, "V"),
    _O(0x0D, "pm2_5", 2, unit="ug/m3", why_not=_AMBIENT),
    _O(0x0E, "pm10", 2, unit="ug/m3", why_not=_AMBIENT),
    *(_O(object_id, name, why_not=_STATE) for object_id, name in _BINARY.items()),
    _O(0x2E, "humidity", unit="%", why_not=_AMBIENT),
    _O(0x2F, "moisture", unit="%", why_not=_AMBIENT),
    _O(0x12, "co2", 2, unit="ppm", why_not=_AMBIENT),
    _O(0x13, "tvoc", 2, unit="ug/m3", why_not=_AMBIENT),
    _O(0x14, "moisture", 2, False, 1, 100, "%", why_not=_AMBIENT),
    _O(0x3A, "button", why_not="an event, not a measurement"),
    _O(0x3C, "dimmer", 2, why_not="an event, not a measurement"),
    _O(0x3D, "count", 2),
    _O(0x3E, "count", 4),
    _O(0x3F, "rotation", 2, True, 1, 10, "deg"),
    _O(0x40, "distance_mm", 2, unit="mm"),
    _O(0x41, "distance_m", 2, False, 1, 10, "m"),
    _O(0x42, "duration", 3, False, 1, 1000, "s"),
    _O(0x43, "current", 2, False, 1, 1000, "A"),
    _O(0x44, "speed", 2, False, 1, 100, "m/s"),
    _O(0x45, "temperature", 2, True, 1, 10, "Cel", Metric.BODY_TEMPERATURE),
    _O(0x46, "uv_index", 1, False, 1, 10, why_not=_AMBIENT),
    _O(0x47, "volume", 2, False, 1, 10, "L"),
    _O(0x48, "volume_ml", 2, unit="mL"),
    _O(0x49, "volume_flow_rate", 2, False, 1, 1000, "m3/h"),
    _O(0x4A, "voltage", 2, False, 1, 10, "V"),
    _O(0x4B, "gas", 3, False, 1, 1000, "m3"),
    _O(0x4C, "gas", 4, False, 1, 1000, "m3"),
    _O(0x4D, "energy", 4, False, 1, 1000, "kW.h"),
    _O(0x4E, "volume", 4, False, 1, 1000, "L"),
    _O(0x4F, "water", 4, False, 1, 1000, "L"),
    _O(0x50, "timestamp", 4, unit="s", why_not="the time of the packet"),
    _O(0x51, "acceleration", 2, False, 1, 1000, "m/s2"),
    _O(0x52, "gyroscope", 2, False, 1, 1000, "deg/s"),
    _O(0x53, "text", None, why_not="text"),
    _O(0x54, "raw", None, why_not="raw bytes"),
    _O(0x55, "volume_storage", 4, False, 1, 1000, "L"),
    _O(0x56, "conductivity", 2, unit="uS/cm", why_not=_AMBIENT),
    _O(0x57, "temperature", 1, True, unit="Cel", why_not=_COARSE),
    _O(0x58, "temperature", 1, True, 35, 100, "Cel", why_not=_COARSE),
    _O(0x59, "count", 1, True),
    _O(0x5A, "count", 2, True),
    _O(0x5B, "count", 4, True),
    _O(0x5C, "power", 4, True, 1, 100, "W"),
    _O(0x5D, "current", 2, True, 1, 1000, "A"),
    _O(0x5E, "direction", 2, False, 1, 100, "deg", why_not=_AMBIENT),
    _O(0x5F, "precipitation", 2, False, 1, 10, "mm", why_not=_AMBIENT),
    _O(0x60, "channel"),
    _O(0x61, "rotational_speed", 2, unit="/min"),
    _O(0x62, "speed", 4, True, 1, 1_000_000, "m/s"),
    _O(0x63, "acceleration", 4, True, 1, 1_000_000, "m/s2"),
    _O(0x64, "light_level"),
    _O(0xF0, "device_type_id", 2, why_not=_INFO),
    _O(0xF1, "firmware_version", 4, why_not=_INFO),
    _O(0xF2, "firmware_version", 3, why_not=_INFO),
)
"""Object ids of the BTHome v2 format (bthome.io/format; as bthome-ble's MEAS_TYPES).
BTHome defines no heart-rate, SpO2 or blood-pressure object: of the vital signs only
temperature and mass exist, plus battery."""

BY_ID: Final[dict[int, ObjectSpec]] = {row.object_id: row for row in OBJECTS}


@dataclass(frozen=True, slots=True)
class BTHomeObject:
    """One decoded object: ``value`` in ``unit`` as the sensor sent it (scaled)."""

    object_id: int
    value: float | int | str | bytes

    @property
    def spec(self) -> ObjectSpec:
        return BY_ID[self.object_id]

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class BTHomeAdvertisement:
    """A decoded BTHome v2 packet.

    ``stopped`` says why decoding ended before the last byte (an unknown object id), or is
    None; ``out_of_order`` is True when the sensor broke the ascending-id rule.
    """

    objects: tuple[BTHomeObject, ...]
    encrypted: bool = False
    trigger_based: bool = False
    mac: str | None = None
    """The MAC the sensor put in the packet (flag bit 1), "AA:BB:…" most significant first."""
    counter: int | None = None
    """The encryption counter of an encrypted packet."""
    stopped: str | None = None
    out_of_order: bool = False

    @property
    def ignored(self) -> list[tuple[str, str]]:
        """(object name, why no reading) for every object that maps to no wire metric (the
        packet id is not listed: it serves de-duplication)."""
        return [
            (o.name, o.spec.why_not)
            for o in self.objects
            if o.spec.metric is None and o.object_id != PACKET_ID
        ]

    @property
    def packet_id(self) -> int | None:
        return next((int(o.value) for o in self.objects if o.object_id == PACKET_ID), None)

    @property
    def timestamp(self) -> datetime | None:
        """The sensor's timestamp object (0x50, Unix seconds) as UTC, if it sent one."""
        seconds = next((o.value for o in self.objects if o.object_id == 0x50), None)
        return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC)

    def readings(self) -> list[ProfileReading]:
        """The objects that map to a wire metric, in its canonical unit."""
        out = []
        for obj in self.objects:
            spec = obj.spec
            if spec.metric is None or not isinstance(obj.value, int | float):
                continue
            value = converted(float(obj.value), spec.to_canonical)
            out.append(ProfileReading(spec.metric, value, spec.unit))
        return out


def address_bytes(address: str) -> bytes:
    """``"A4:C1:38:8D:18:B2"`` → its 6 bytes, most significant first."""
    try:
        raw = bytes.fromhex(address.replace(":", "").replace("-", ""))
    except ValueError:
        raw = b""
    if len(raw) != 6:
        raise AdvertisementError(f"{NAME}: {address!r} is not a Bluetooth address")
    return raw


def address_text(raw: bytes) -> str:
    return ":".join(f"{b:02X}" for b in raw)


def nonce(mac: bytes, device_info: int, counter: bytes) -> bytes:
    """AES-CCM nonce: MAC (most significant first) | UUID as sent | device info | counter."""
    return mac + UUID_BYTES + bytes([device_info]) + counter


def _value(spec: ObjectSpec, raw: bytes) -> float | int | str | bytes:
    if spec.object_id == 0x53:
        return raw.decode("utf-8", "replace")
    if spec.size is None:
        return raw
    number = int.from_bytes(raw, "little", signed=spec.signed)
    if spec.num == spec.den == 1:
        return number
    return number * spec.num / spec.den  # int / int: correctly rounded, 2506/100 = 25.06


def decode_objects(payload: bytes) -> tuple[tuple[BTHomeObject, ...], str | None, bool]:
    """(objects, why decoding stopped or None, whether ids were out of order)."""
    objects: list[BTHomeObject] = []
    pos, previous, out_of_order = 0, -1, False
    while pos < len(payload):
        object_id = payload[pos]
        spec = BY_ID.get(object_id)
        if spec is None:  # its length is unknown too: nothing after it can be delimited
            why = f"unknown object id 0x{object_id:02x}: {len(payload) - pos} byte(s) not read"
            return tuple(objects), why, out_of_order
        out_of_order |= object_id < previous
        previous = object_id
        start = pos + 1
        size = spec.size
        if size is None:
            if start >= len(payload):
                raise AdvertisementError(f"{NAME}: truncated: {spec.name} length byte missing")
            size, start = payload[start], start + 1
        if start + size > len(payload):
            raise AdvertisementError(
                f"{NAME}: truncated: {spec.name} (0x{object_id:02x}) needs {size} byte(s), "
                f"{len(payload) - start} left"
            )
        objects.append(BTHomeObject(object_id, _value(spec, payload[start : start + size])))
        pos = start + size
    return tuple(objects), None, out_of_order


def _decrypt(body: bytes, info: int, mac: bytes, key: bytes) -> tuple[bytes, int]:
    if len(key) != KEY_SIZE:
        raise AdvertisementError(f"{NAME}: the bind key must be {KEY_SIZE} bytes, not {len(key)}")
    if len(body) < COUNTER_SIZE + MIC_SIZE:
        raise AdvertisementError(f"{NAME}: truncated: an encrypted packet needs counter and MIC")
    counter = body[-8:-4]
    ciphertext, mic = body[:-8], body[-4:]
    try:
        plain = AESCCM(key, tag_length=MIC_SIZE).decrypt(
            nonce(mac, info, counter), ciphertext + mic, None
        )
    except InvalidTag:
        raise AdvertisementError(
            f"{NAME}: MIC check failed: wrong bind key for this sensor, or the packet was "
            "altered; check the key printed with the sensor"
        ) from None
    return plain, int.from_bytes(counter, "little")


def decode_bthome(
    data: bytes, *, address: str, bind_key: bytes | None = None
) -> BTHomeAdvertisement:
    """Decode the service data of UUID 0xFCD2 (without the UUID) sent from ``address``.

    ``bind_key``: the sensor's 16-byte key from pairing; needed for an encrypted packet,
    and when given an unencrypted packet is refused. AdvertisementError for bad bytes.
    """
    data = bytes(data)
    if not data:
        raise AdvertisementError(f"{NAME}: empty service data (device information missing)")
    info = data[0]
    version = info >> 5
    if version != VERSION:
        raise AdvertisementError(
            f"{NAME}: BTHome version {version} (device information 0x{info:02x}) is not v2"
        )
    body = data[1:]
    mac_raw = address_bytes(address)
    mac: str | None = None
    if info & FLAG_MAC_INCLUDED:
        if len(body) < 6:
            raise AdvertisementError(f"{NAME}: truncated: MAC flag set but 6 bytes missing")
        mac_raw, body = body[:6][::-1], body[6:]
        mac = address_text(mac_raw)
    encrypted = bool(info & FLAG_ENCRYPTED)
    counter = None
    if encrypted:
        if bind_key is None:
            raise AdvertisementError(f"{NAME}: encrypted packet: pair the sensor with its bind key")
        body, counter = _decrypt(body, info, mac_raw, bind_key)
    elif bind_key is not None:
        raise AdvertisementError(
            f"{NAME}: unencrypted packet from a sensor paired with a bind key: refused (a "
            "sensor reset to factory settings must be paired again)"
        )
    objects, stopped, out_of_order = decode_objects(body)
    return BTHomeAdvertisement(
        objects,
        encrypted=encrypted,
        trigger_based=bool(info & FLAG_TRIGGER_BASED),
        mac=mac,
        counter=counter,
        stopped=stopped,
        out_of_order=out_of_order,
    )
