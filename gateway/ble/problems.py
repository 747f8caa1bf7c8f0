"""Device problems as edge-detected events for the cloud's device category.

A problem (low battery, unreachable, cuff error, clock drift, bad data) is reported once
when it starts and once more when it clears, never on every reading. Levels are named
constants with hysteresis, so a battery hovering at the threshold does not flap.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from gateway import wire

LOW_BATTERY_PERCENT: Final = 15
"""At or below: report low battery (most health devices keep working a week at 15 %)."""
BATTERY_CLEAR_PERCENT: Final = 30
"""At or above (new batteries): clear it."""
EVENT_NAMESPACE: Final = uuid.UUID("0b6c0d3e-8a43-4f57-9d1e-3c1f7f0a2b54")


class Problem(StrEnum):
    LOW_BATTERY = "low_battery"
    UNREACHABLE = "unreachable"
    CUFF_ERROR = "cuff_error"
    CLOCK_DRIFT = "clock_drift"
    BAD_DATA = "bad_data"
    """Malformed notifications, or a health service advertised but not implemented."""
    ADAPTER_STUCK = "adapter_stuck"
    SENSOR_WARM_UP = "sensor_warm_up"
    """A new CGM sensor is warming up: no glucose readings yet."""
    SENSOR_EXPIRED = "sensor_expired"
    """The CGM session has ended (run time over, or stopped)."""
    CALIBRATION_REQUESTED = "calibration_requested"
    """The CGM asks for (or recommends) a finger-stick calibration."""


ADVICE: Final[dict[Problem, str]] = {
    Problem.LOW_BATTERY: "replace or charge the device's batteries",
    Problem.UNREACHABLE: "check the device is switched on and within a few metres of the gateway",
    Problem.CUFF_ERROR: "put the cuff on again, snug on the bare upper arm, and sit still",
    Problem.CLOCK_DRIFT: "the gateway sets the clock; if it returns, the device battery may be failing",
    Problem.BAD_DATA: "the device sends data VitalGate cannot read: contact support with its model",
    Problem.ADAPTER_STUCK: "unplug the gateway for 10 seconds; if it repeats, replace its Bluetooth adapter",
    Problem.SENSOR_WARM_UP: "the new glucose sensor is warming up: readings start within 2 hours",
    Problem.SENSOR_EXPIRED: "the glucose sensor has expired: apply a new sensor and start it",
    Problem.CALIBRATION_REQUESTED: "do a finger-stick test and enter it as a calibration",
}

PRIORITY: Final[dict[Problem, wire.Priority]] = {
    Problem.LOW_BATTERY: wire.Priority.LOW,
    Problem.UNREACHABLE: wire.Priority.MEDIUM,
    Problem.CUFF_ERROR: wire.Priority.LOW,
    Problem.CLOCK_DRIFT: wire.Priority.LOW,
    Problem.BAD_DATA: wire.Priority.LOW,
    Problem.ADAPTER_STUCK: wire.Priority.HIGH,
    Problem.SENSOR_WARM_UP: wire.Priority.LOW,
    Problem.SENSOR_EXPIRED: wire.Priority.MEDIUM,
    Problem.CALIBRATION_REQUESTED: wire.Priority.MEDIUM,
}

EventSink = Callable[[wire.Event], None]


def event_id(device_id: str | None, code: str, ts: datetime) -> str:
    """Stable per (device, code, moment), so a re-sent event keeps its id."""
    return uuid.uuid5(EVENT_NAMESPACE, f"{device_id}|{code}|{ts.isoformat()}").hex


def device_event(
    *,
    kind: wire.EventKind,
    code: str,
    ts: datetime,
    device_id: str | None,
    patient_id: str | None = None,
    priority: wire.Priority | None = None,
    metric: wire.Metric | None = None,
    value: float | None = None,
    evidence: dict[str, Any] | None = None,
) -> wire.Event:
    return wire.Event(
        id=event_id(device_id, code, ts),
        kind=kind,
        category=wire.Category.DEVICE,
        ts=ts,
        patient_id=patient_id,
        device_id=device_id,
        priority=priority,
        metric=metric,
        value=value,
        code=code,
        evidence=evidence or {},
    )


class ProblemTracker:
    """The open problems of one device; turns observations into start / clear events."""

    def __init__(self, device_id: str | None, patient_id: str | None, sink: EventSink) -> None:
        self.device_id = device_id
        self.patient_id = patient_id
        self.sink = sink
        self.open: dict[Problem, datetime] = {}

    def raise_(self, problem: Problem, *, now: datetime, **evidence: Any) -> bool:
        """Report ``problem`` unless already open; True when an event was emitted."""
        if problem in self.open:
            return False
        self.open[problem] = now
        value = evidence.pop("value", None)
        self.sink(
            device_event(
                kind=wire.EventKind.DEVICE,
                code=problem.value,
                ts=now,
                device_id=self.device_id,
                patient_id=self.patient_id,
                priority=PRIORITY[problem],
                metric=wire.Metric.BATTERY_LEVEL if problem is Problem.LOW_BATTERY else None,
                value=value,
                evidence={"advice": ADVICE[problem], **evidence},
            )
        )
        return True

    def clear(self, problem: Problem, *, now: datetime, **evidence: Any) -> bool:
        """Report that ``problem`` is over, if it was open."""
        since = self.open.pop(problem, None)
        if since is None:
            return False
        self.sink(
            device_event(
                kind=wire.EventKind.ALL_CLEAR,
                code=problem.value,
                ts=now,
                device_id=self.device_id,
                patient_id=self.patient_id,
                evidence={"since": since.isoformat(), **evidence},
            )
        )
        return True

    def battery(self, percent: int, *, now: datetime) -> None:
        """Low-battery with hysteresis: open at ≤ 15 %, clear at ≥ 30 %."""
        if percent <= LOW_BATTERY_PERCENT:
            self.raise_(Problem.LOW_BATTERY, now=now, value=float(percent))
        elif percent >= BATTERY_CLEAR_PERCENT:
            self.clear(Problem.LOW_BATTERY, now=now, battery=percent)


def learned_interval_s(times: list[datetime]) -> float | None:
    """The typical time between readings (median gap, seconds) once there are 3 or more."""
    if len(times) < 3:
        return None
    ordered = sorted(times)
    gaps = sorted((b - a).total_seconds() for a, b in itertools.pairwise(ordered))
    mid = len(gaps) // 2
    return gaps[mid] if len(gaps) % 2 else (gaps[mid - 1] + gaps[mid]) / 2
