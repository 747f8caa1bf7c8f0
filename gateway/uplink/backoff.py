"""Reconnect policy for the broker connection: exponential backoff with equal jitter.

After a broker restart every gateway of a fleet loses its connection at the same moment;
without jitter they would all come back in lock-step and hammer the broker together.
"Equal jitter" keeps half of each step fixed (so a gateway never retries in a tight loop)
and spreads the other half at random. The formula is ``gateway.backoff``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from gateway.backoff import backoff_s

RECONNECT_FIRST_S: Final = 1.0
"""Base delay before the first retry (s)."""
RECONNECT_FACTOR: Final = 2.0
RECONNECT_CAP_S: Final = 60.0
"""No gateway waits longer than this between two attempts (s)."""
RECONNECT_JITTER: Final = 0.5
"""Equal jitter: each wait is in ``[step/2, step]``."""


def reconnect_delay_s(
    attempt: int,
    *,
    rand: Callable[[], float],
    first_s: float = RECONNECT_FIRST_S,
    cap_s: float = RECONNECT_CAP_S,
    factor: float = RECONNECT_FACTOR,
) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based), in ``[step/2, step]``.

    ``step = min(cap_s, first_s * factor**attempt)``; ``rand()`` returns a float in
    ``[0, 1)`` (``random.random`` in production, a fixed value in tests).
    """
    return backoff_s(
        attempt, first_s=first_s, factor=factor, cap_s=cap_s, jitter=RECONNECT_JITTER, rand=rand
    )
