"""Pure decoders for the Bluetooth SIG health profiles: bytes in, frozen dataclasses out.

``decode(uuid, data)`` looks the characteristic up in the registry; bad bytes raise
``ProfileError`` (a ValueError), never anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.ble.profiles.base import ProfileError, ProfileReading
from gateway.ble.profiles.heart_rate import HeartRateMeasurement, decode_heart_rate
from gateway.ble.uuids import normalize_uuid

__all__ = [
    "DECODERS",
    "HeartRateMeasurement",
    "ProfileError",
    "ProfileReading",
    "decode",
]

DECODERS: dict[str, Callable[[bytes], Any]] = {
    normalize_uuid(0x2A37): decode_heart_rate,
}
"""Characteristic UUID (normal form) → pure decoder."""


def decode(uuid: int | str, data: bytes) -> Any:
    """Decode one characteristic value; raise ProfileError for bad bytes or an unknown UUID."""
    try:
        key = normalize_uuid(uuid)
    except ValueError as exc:
        raise ProfileError(str(exc)) from exc
    decoder = DECODERS.get(key)
    if decoder is None:
        raise ProfileError(f"no decoder for characteristic {key}")
    return decoder(bytes(data))
