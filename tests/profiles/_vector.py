"""The vector record and the time stamp the vectors share."""

from __future__ import annotations

from typing import Any, NamedTuple

from gateway.ble.profiles import DateTime


class Vector(NamedTuple):
    uuid: int
    hex: str
    expected: Any
    source: str


# 2026-11-23 08:30:15: year 2026 = 0x07EA → "ea07", month 11 = 0x0b, day 23 = 0x17,
# hours 8 = 0x08, minutes 30 = 0x1e, seconds 15 = 0x0f (GSS §3.70 Date Time).
STAMP_HEX = "ea070b17081e0f"
STAMP = DateTime(2026, 11, 23, 8, 30, 15)
