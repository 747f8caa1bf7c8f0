"""Byte vectors for every characteristic, each with its source.

Sources: byte layouts derived by hand from the Bluetooth SIG service specifications and the
GATT Specification Supplement (GSS), with the arithmetic in the comment; IEEE 11073-20601
Annex F for SFLOAT/FLOAT. Multi-byte fields are little-endian, so 0x0078 is written "7800".
The flag-combination vectors are assembled from hand-written field fragments (one per
optional field) — never from the encoders under test. ``vectors_tolerant.py`` adds what
the specification lets a newer device send (reserved bits and codes) and vectors from other
projects' public tests, each naming its source.
"""

from __future__ import annotations

from tests.profiles._vector import STAMP, STAMP_HEX, Vector
from tests.profiles.vectors_cgm import CGM
from tests.profiles.vectors_records import DEVICE, GLUCOSE, WEIGHT
from tests.profiles.vectors_tolerant import PUBLISHED, RESERVED
from tests.profiles.vectors_vitals import (
    BLOOD_PRESSURE,
    HEART_RATE,
    PLX,
    SFLOAT_SPECIAL_VECTORS,
    TEMPERATURE,
)

__all__ = [
    "ALL",
    "BLOOD_PRESSURE",
    "HEART_RATE",
    "PUBLISHED",
    "RESERVED",
    "SFLOAT_SPECIAL_VECTORS",
    "STAMP",
    "STAMP_HEX",
    "Vector",
]

ALL: list[Vector] = (
    HEART_RATE
    + BLOOD_PRESSURE
    + SFLOAT_SPECIAL_VECTORS
    + TEMPERATURE
    + PLX
    + WEIGHT
    + GLUCOSE
    + DEVICE
    + RESERVED
    + PUBLISHED
    + CGM
)
