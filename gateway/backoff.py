"""Exponential backoff with optional jitter: the one formula behind every retry wait.

Shared by both sides, like ``gateway.wire``: the gateway's device links
(``gateway.ble.policy``) and broker reconnects (``gateway.uplink.backoff``), the cloud's
delivery retries (``cloud.engagement.notifier``) and ingest's commit retries
(``cloud.ingest.worker``). Each caller names its own numbers beside the call.

Jitter spreads retries that would otherwise come in lock-step (after a broker restart every
gateway of a fleet reconnects at once): ``jitter=0.5`` is "equal jitter", half of each
step fixed (never a tight loop) and half at random. ``rand`` is injectable, so tests fix it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

MAX_EXPONENT: Final = 64
"""Attempts beyond this wait the same (the cap long since reached); avoids float overflow."""


def backoff_s(
    attempt: int,
    *,
    first_s: float,
    factor: float,
    cap_s: float,
    jitter: float = 0.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry ``attempt`` (0-based), in ``[step·(1 − jitter), step]``.

    ``step = min(cap_s, first_s · factor**attempt)``; ``rand()`` returns a float in
    ``[0, 1)`` and is not called when ``jitter`` is 0.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError("jitter must be within [0, 1]")
    step = float(min(cap_s, first_s * factor ** min(attempt, MAX_EXPONENT)))
    if not jitter:
        return step
    return step * (1.0 - jitter) + step * jitter * rand()


@dataclass(frozen=True, slots=True)
class Backoff:
    """A caller's numbers for ``backoff_s``: wait ``first_s`` · ``factor`` ** attempt
    seconds, at most ``cap_s``, the last ``jitter`` fraction of it at random."""

    first_s: float
    factor: float
    cap_s: float
    jitter: float = 0.0

    def delay_s(self, attempt: int, *, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry ``attempt`` (0-based; a negative one counts as 0)."""
        return backoff_s(
            max(0, attempt),
            first_s=self.first_s,
            factor=self.factor,
            cap_s=self.cap_s,
            jitter=self.jitter,
            rand=rand,
        )
