"""Bluetooth UUID helpers: 16-bit SIG numbers and 128-bit strings in one normal form."""

from __future__ import annotations

import re
from typing import Final

SIG_BASE_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"
_FULL = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SHORT = re.compile(r"^(0x)?[0-9a-f]{4}$")


def normalize_uuid(uuid: int | str) -> str:
    """``0x2A37``, ``"2a37"``, ``"0x2A37"`` or a full UUID → lowercase 128-bit string.

    Raises ValueError for anything that is not a UUID.
    """
    if isinstance(uuid, int):
        if not 0 <= uuid <= 0xFFFFFFFF:
            raise ValueError(f"UUID number out of range: {uuid!r}")
        return f"{uuid:08x}{SIG_BASE_SUFFIX}"
    text = uuid.strip().lower()
    if _SHORT.match(text):
        return f"0000{text[-4:]}{SIG_BASE_SUFFIX}"
    if _FULL.match(text):
        return text
    raise ValueError(f"not a Bluetooth UUID: {uuid!r}")


def short_uuid(uuid: int | str) -> int | None:
    """The 16-bit SIG number of a UUID on the Bluetooth base, or None for a vendor UUID."""
    full = normalize_uuid(uuid)
    if full.endswith(SIG_BASE_SUFFIX) and full.startswith("0000"):
        return int(full[4:8], 16)
    return None
