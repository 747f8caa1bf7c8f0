"""Escalation chains: who is told about an alert, and when, until someone acknowledges it.

A chain is data (a role and a delay per step) per organisation and priority; which steps
are due is a pure function of the alert's times and ``now``, so the scheduler and the tests
drive it with any clock. Acknowledgement on any channel stops the chain (docs/architecture.md, alarm
practice). Snoozing holds every step not yet sent until the snooze ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from gateway.wire import Priority

ROLES: Final = ("care_coordinator", "clinician", "admin", "on_call")
"""Who a step reaches: the patient's care coordinators, their clinicians (every clinician of
the organisation when the care team has none), the organisation's admins, or the users named
in the step (``on_call``, or any step with ``user_ids``)."""


@dataclass(frozen=True, slots=True)
class Step:
    role: str
    """``care_coordinator``, ``clinician``, ``on_call``…"""
    delay: timedelta
    """After the alert opened (not after the previous step)."""
    user_ids: tuple[int, ...] = ()
    """Named people (the on-call rota); when set, they are the step's recipients."""

    def to_json(self) -> dict[str, object]:
        return {
            "role": self.role,
            "delay_s": self.delay.total_seconds(),
            "user_ids": list(self.user_ids),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Step:
        delay = data.get("delay_s", 0)
        users = data.get("user_ids", ())
        assert isinstance(delay, int | float)
        assert isinstance(users, list | tuple)
        return cls(str(data["role"]), timedelta(seconds=delay), tuple(int(u) for u in users))


DEFAULT_CHAINS: Final[Mapping[Priority, tuple[Step, ...]]] = {
    Priority.HIGH: (
        Step("care_coordinator", timedelta(0)),
        Step("clinician", timedelta(minutes=10)),
        Step("on_call", timedelta(minutes=20)),
    ),
    Priority.MEDIUM: (
        Step("care_coordinator", timedelta(0)),
        Step("clinician", timedelta(hours=1)),
    ),
    Priority.LOW: (Step("care_coordinator", timedelta(0)),),
}


@dataclass(frozen=True, slots=True)
class AlertTimes:
    opened_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    snoozed_until: datetime | None = None


def due_steps(
    chain: Sequence[Step], times: AlertTimes, *, already_sent: int, now: datetime
) -> list[int]:
    """Indexes of the steps to notify now (those due and not sent), in order."""
    stopped = times.acknowledged_at or times.resolved_at
    if stopped is not None and stopped <= now:
        return []
    if times.snoozed_until is not None and now < times.snoozed_until:
        return []
    return [i for i in range(already_sent, len(chain)) if times.opened_at + chain[i].delay <= now]


def next_step_at(chain: Sequence[Step], times: AlertTimes, *, already_sent: int) -> datetime | None:
    """When the next step falls due (for the scheduler's timer), or None at the chain's end."""
    if already_sent >= len(chain) or times.acknowledged_at or times.resolved_at:
        return None
    at = times.opened_at + chain[already_sent].delay
    if times.snoozed_until is not None:
        at = max(at, times.snoozed_until)
    return at
