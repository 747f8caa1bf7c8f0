"""Retry policy for device links: named budgets, and backoff as a pure function of the error.

In the manner of bleak-retry-connector's ``calculate_backoff_time``: what went wrong decides
how long to wait (the formula is ``gateway.backoff``'s, without jitter). A device that is
not advertising is asleep or away (spot devices wake only when used, so they are polled
quickly); a link that failed once is retried fast, then slower; a timeout points at the
adapter, which ``gateway.ble.adapter`` watches.
"""

from __future__ import annotations

from typing import Final

from gateway.backoff import Backoff
from gateway.ble.link import BleError, ConnectionLostError, DeviceNotFoundError

SPOT_NOT_ADVERTISING: Final = Backoff(1.0, 1.5, 5.0)
"""A cuff, scale or thermometer advertises only for a minute after a measurement: keep
looking often, or the measurement waits until the next one."""
STREAM_NOT_ADVERTISING: Final = Backoff(2.0, 2.0, 60.0)
"""A strap or oximeter that went away usually comes back when the patient does."""
LINK_FAILED: Final = Backoff(0.5, 2.0, 30.0)
"""The device was there but the connection or a GATT call failed (interference, busy)."""
ADAPTER_TIMEOUT: Final = Backoff(5.0, 1.0, 5.0)
"""A call that hung: retrying sooner does not help a stuck adapter."""

MAX_ATTEMPTS_BEFORE_UNREACHABLE: Final = 8
"""Failed connection attempts in a row after which a streaming device counts as unreachable."""


def backoff_for(exc: BaseException, *, streams: bool) -> Backoff:
    """Which backoff applies after ``exc`` for a device that streams (or not)."""
    if isinstance(exc, DeviceNotFoundError):
        return STREAM_NOT_ADVERTISING if streams else SPOT_NOT_ADVERTISING
    if isinstance(exc, TimeoutError):
        return ADAPTER_TIMEOUT
    if isinstance(exc, ConnectionLostError | BleError):
        return LINK_FAILED
    return LINK_FAILED


def retry_delay_s(exc: BaseException, attempt: int, *, streams: bool, scale: float = 1.0) -> float:
    """Seconds to wait before retry ``attempt`` (0-based) after ``exc``.

    ``scale`` shrinks every delay alike (tests and the simulated world use 0.01).
    """
    return backoff_for(exc, streams=streams).delay_s(attempt) * scale


def advice(exc: BaseException, *, label: str) -> str:
    """One sentence for the person at home about what to do after ``exc``."""
    if isinstance(exc, DeviceNotFoundError):
        return f"the {label} is not advertising: use it once (or press its button) near the gateway"
    if isinstance(exc, TimeoutError):
        return (
            "Bluetooth did not answer in time: if this repeats, unplug the gateway for 10 seconds"
        )
    return f"the connection to the {label} failed: move the gateway closer to it"
