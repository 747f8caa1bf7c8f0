"""What the gateway decides about one incoming measurement before passing it on: is it a
repeat, and whose is it. Pure, apart from the small memory of recent values.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import Any, Final

from gateway.wire import PatientAssignment

DUPLICATE_WINDOW: Final = timedelta(milliseconds=200)
"""The same bytes on the same characteristic within this window are a duplicate: streams
send at most a few values a second, never the same one twice at once."""
DUPLICATE_FRACTION: Final = 0.25
"""And sooner than this part of the gap before: a repeat comes at once, while a device that
sends every 2 ms (a simulation at speed) may send the same value again 2 ms later."""

RECENT_IDENTITIES: Final = 512
"""Measurement identities (sequence number, time stamp) remembered to drop repeats."""
UNKNOWN_USER: Final = 0xFF
"""User id 255 means "unknown user" (BLS 1.1 §3.1.1.6, WSS 1.0)."""


def identity(decoded: Any) -> str | None:
    """What identifies a measurement on the device (as ``gateway.readings`` uses it)."""
    seq = getattr(decoded, "sequence_number", None)
    if seq is not None:
        return f"seq:{seq}"
    ts = getattr(decoded, "timestamp", None)
    return None if ts is None else f"ts:{ts.isoformat()}"


class Duplicates:
    """Recognises repeats: by identity where the measurement has one (a stored record sent
    twice, or again after a reconnect), else by identical bytes arriving at once."""

    def __init__(self) -> None:
        self._recent: deque[str] = deque(maxlen=RECENT_IDENTITIES)
        self._recent_set: set[str] = set()
        self._last_raw: dict[str, tuple[bytes, datetime, timedelta | None]] = {}
        """Per characteristic: the last bytes, when they came, and the gap before them."""

    def seen(self, char: str, data: bytes, decoded: Any, *, now: datetime) -> bool:
        """True if this value is a repeat; otherwise remember it. Without an identity, a
        repeat is the same bytes again at once: within ``DUPLICATE_WINDOW`` and within
        ``DUPLICATE_FRACTION`` of the gap between the two values before."""
        key = identity(decoded)
        if key is not None:
            key = f"{char}|{key}"
            if key in self._recent_set:
                return True
            if len(self._recent) == self._recent.maxlen:
                self._recent_set.discard(self._recent[0])
            self._recent.append(key)
            self._recent_set.add(key)
            return False
        previous = self._last_raw.get(char)
        self._last_raw[char] = (data, now, None if previous is None else now - previous[1])
        if previous is None or previous[0] != data:
            return False
        window = DUPLICATE_WINDOW
        if previous[2] is not None:
            window = min(window, previous[2] * DUPLICATE_FRACTION)
        return now - previous[1] < window


def attribute(patients: list[PatientAssignment], user_id: int | None) -> str | None:
    """The patient a measurement belongs to, by the device's user id / user index.

    A device used by one person needs no user id. On a shared device an unknown user
    cannot be attributed (None), so nobody's chart gets someone else's blood pressure.
    """
    if user_id is not None and user_id != UNKNOWN_USER:
        match = [p.patient_id for p in patients if p.user_index == user_id]
        if match:
            return match[0]
        unindexed = [p.patient_id for p in patients if p.user_index is None]
        return unindexed[0] if len(patients) == 1 and unindexed else None
    return patients[0].patient_id if len(patients) == 1 else None
