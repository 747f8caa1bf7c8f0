"""Device clocks: when to set one over Current Time (0x2A2B), and how to correct time stamps.

A device stamps stored measurements with its own clock. The gateway reads that clock on
every connection: more than ``CLOCK_TOLERANCE`` off and the device accepts writes, the
gateway sets it; otherwise it records the offset and corrects the time stamps it receives.
Either way, measurements delivered on this connection were stamped before any correction,
so they are corrected by the offset read before it. All functions are pure (``now=``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from gateway.ble.profiles import ProfileError, current_time_of, decode, encode_current_time

CLOCK_TOLERANCE: Final = timedelta(minutes=2)
"""The issue's bar: a device clock within 2 minutes is left alone (and corrected for)."""
IMPLAUSIBLE_STAMP: Final = timedelta(days=90)
"""A corrected time stamp older than this is a broken clock, not a stored reading (meters
keep weeks of records, not years): the arrival time is used instead, and the reading says so."""
FUTURE_SLACK: Final = timedelta(minutes=5)
"""A corrected time stamp later than arrival by more than this cannot be right."""


class ClockAction(StrEnum):
    NONE = "none"
    """No clock on the device (or it could not be read): stamps are taken as they come."""
    CORRECT = "correct"
    """Within tolerance, or not settable: keep the offset and correct time stamps."""
    SET = "set"
    """Off by more than the tolerance and writable: write Current Time now."""


@dataclass(frozen=True, slots=True)
class ClockDecision:
    action: ClockAction
    offset: timedelta
    """Device clock minus gateway clock when read (zero when unknown)."""

    @property
    def drifted(self) -> bool:
        """Off by more than the tolerance: worth a device-problem event."""
        return abs(self.offset) > CLOCK_TOLERANCE

    @property
    def offset_s(self) -> float:
        return self.offset.total_seconds()


def decide(device_clock: bytes | None, *, now: datetime, writable: bool) -> ClockDecision:
    """What to do about a device whose Current Time read ``device_clock`` at ``now``."""
    if device_clock is None:
        return ClockDecision(ClockAction.NONE, timedelta(0))
    try:
        shown = decode(0x2A2B, device_clock).precise
    except ProfileError:
        shown = None
    if shown is None:
        # Unreadable or "unknown" fields: a clock this broken is best simply set.
        return ClockDecision(ClockAction.SET if writable else ClockAction.NONE, timedelta(0))
    offset = shown - now.astimezone(UTC)
    if abs(offset) > CLOCK_TOLERANCE and writable:
        return ClockDecision(ClockAction.SET, offset)
    return ClockDecision(ClockAction.CORRECT, offset)


def current_time_bytes(now: datetime) -> bytes:
    """The 10 bytes that set a device's clock to ``now`` (UTC, manual update)."""
    return encode_current_time(current_time_of(now, adjust_reason=("manual_time_update",)))


def corrected(
    stamp: datetime | None, *, offset: timedelta, received_at: datetime
) -> tuple[datetime, tuple[str, ...]]:
    """The time a measurement was taken, on the gateway's clock, and quality flags.

    ``stamp`` is the device's time stamp (None when it sent none); ``offset`` the device
    clock's offset when read.
    """
    if stamp is None:
        return received_at, ()
    fixed = stamp - offset
    if fixed - received_at > FUTURE_SLACK or received_at - fixed > IMPLAUSIBLE_STAMP:
        return received_at, ("device_clock_invalid",)
    if offset and abs(offset) >= timedelta(seconds=1):
        return fixed, ("clock_corrected",)
    return fixed, ()
