"""Advertisement encoders: BTHome v2 service data (encrypted or not), the SIG service-data
form, and the advertising-data bytes around them. The exact inverse of
``gateway.ble.profiles.bthome`` / ``advertising``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from gateway.ble.profiles import bthome
from gateway.ble.profiles.advertising import AD_COMPLETE_NAME, AD_FLAGS, AD_SERVICE_DATA_16
from gateway.ble.profiles.bthome import BTHomeAdvertisement, BTHomeObject

LEGACY_ADVERTISING_DATA: Final = 31
"""Bytes a legacy (BLE 4.x) advertisement carries; BTHome sensors fit in it."""
FLAGS_LE_ONLY_GENERAL: Final = 0x06
"""LE General Discoverable, BR/EDR not supported (Core Supplement Part A §1.3)."""


def encode_object(obj: BTHomeObject) -> bytes:
    """Object id and value, scaled back to the raw integer the sensor sends."""
    spec = obj.spec
    head = bytes([obj.object_id])
    if spec.size is None:
        raw = obj.value.encode() if isinstance(obj.value, str) else bytes(obj.value)  # type: ignore[arg-type]
        if len(raw) > 0xFF:
            raise ValueError(f"{spec.name}: {len(raw)} bytes do not fit a length byte")
        return head + bytes([len(raw)]) + raw
    if not isinstance(obj.value, int | float):
        raise ValueError(f"{spec.name} takes a number, not {obj.value!r}")
    number = round(obj.value * spec.den / spec.num)
    return head + number.to_bytes(spec.size, "little", signed=spec.signed)


def encode_objects(objects: Iterable[BTHomeObject]) -> bytes:
    return b"".join(encode_object(obj) for obj in objects)


def encode_bthome(
    adv: BTHomeAdvertisement, *, address: str, bind_key: bytes | None = None
) -> bytes:
    """Service data of UUID 0xFCD2 (without the UUID) for ``adv`` sent from ``address``.

    An encrypted packet needs ``bind_key`` and ``adv.counter``; ``adv.mac`` set means the
    sensor puts its MAC in the packet (and uses it in the nonce).
    """
    info = bthome.VERSION << 5
    info |= bthome.FLAG_ENCRYPTED if adv.encrypted else 0
    info |= bthome.FLAG_MAC_INCLUDED if adv.mac is not None else 0
    info |= bthome.FLAG_TRIGGER_BASED if adv.trigger_based else 0
    mac = bthome.address_bytes(adv.mac or address)
    body = encode_objects(adv.objects)
    if adv.encrypted:
        if bind_key is None or adv.counter is None:
            raise ValueError("an encrypted packet needs the bind key and a counter")
        counter = adv.counter.to_bytes(bthome.COUNTER_SIZE, "little")
        sealed = AESCCM(bind_key, tag_length=bthome.MIC_SIZE).encrypt(
            bthome.nonce(mac, info, counter), body, None
        )
        body = sealed[: -bthome.MIC_SIZE] + counter + sealed[-bthome.MIC_SIZE :]
    prefix = bytes([info]) + (mac[::-1] if adv.mac is not None else b"")
    return prefix + body


def advertising_data(service_data: Mapping[int, bytes], *, name: str | None = None) -> bytes:
    """The advertising data a broadcaster sends: flags, each service data, the name.

    ValueError when it does not fit a legacy advertisement (as a real stack refuses).
    """
    out = bytes([2, AD_FLAGS, FLAGS_LE_ONLY_GENERAL])
    for uuid16, data in service_data.items():
        out += _structure(AD_SERVICE_DATA_16, uuid16.to_bytes(2, "little") + data)
    if name is not None:
        out += _structure(AD_COMPLETE_NAME, name.encode())
    if len(out) > LEGACY_ADVERTISING_DATA:
        raise ValueError(
            f"{len(out)} bytes do not fit a {LEGACY_ADVERTISING_DATA}-byte advertisement"
        )
    return out


def _structure(ad_type: int, data: bytes) -> bytes:
    return bytes([len(data) + 1, ad_type]) + data
