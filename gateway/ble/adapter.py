"""Is the Bluetooth adapter stuck? A pure watch over scan outcomes.

BlueZ controllers wedge now and then (every discovery "In Progress", connects aborted);
nothing recovers but switching the adapter off and on. Scans are the probe: the gateway
scans regularly anyway, for pairing and signal strength.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

STUCK_AFTER_FAILURES: Final = 3
"""Consecutive failed scans that make an adapter stuck…"""
STUCK_WITHIN: Final = timedelta(minutes=10)
"""…when they span at most this long (a single bad minute is not a stuck adapter)."""
POWER_CYCLE_EVERY: Final = timedelta(minutes=5)
"""At most one power cycle per this interval: a cycle that did not help is not repeated
back to back."""


@dataclass
class AdapterWatch:
    failures: int = 0
    first_failure: datetime | None = None
    last_power_cycle: datetime | None = None
    stuck: bool = False

    def scan_ok(self) -> bool:
        """Record a scan that worked; True if the adapter was stuck until now."""
        was = self.stuck
        self.failures, self.first_failure, self.stuck = 0, None, False
        return was

    def scan_failed(self, *, now: datetime) -> bool:
        """Record a failed scan; True when the adapter has just become stuck."""
        self.failures += 1
        if self.first_failure is None or now - self.first_failure > STUCK_WITHIN:
            self.failures, self.first_failure = 1, now
        if not self.stuck and self.failures >= STUCK_AFTER_FAILURES:
            self.stuck = True
            return True
        return False

    def should_power_cycle(self, *, now: datetime) -> bool:
        if not self.stuck:
            return False
        last = self.last_power_cycle
        if last is not None and now - last < POWER_CYCLE_EVERY:
            return False
        self.last_power_cycle = now
        return True
