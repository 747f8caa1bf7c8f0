"""What a device session hands on: a decoded measurement, with where and when it arrived.

The sessions themselves are ``gateway.ble.runtime.DeviceRuntime`` tasks, run by
``gateway.ble.manager.DeviceManager``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Measurement:
    """A decoded characteristic value, as it left the device, with where and when it arrived."""

    device_id: str
    patient_id: str
    characteristic: str
    decoded: Any
    received_at: datetime
    corrected_ts: datetime | None = None
    """When it was taken on the gateway's clock, if the device's time stamp needed correcting
    (``gateway.ble.clock``); the device's own stamp still identifies the measurement."""
    flags: tuple[str, ...] = ()
    """Quality flags the gateway adds (``clock_corrected``, ``device_clock_invalid``)."""


MeasurementSink = Callable[[Measurement], None]
