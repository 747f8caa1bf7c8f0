"""Run the patient-message schedule: every ``interval_s`` (or when woken by a new alert) queue
what is due (``cloud.engagement.patient_messages``) and wake the notifier to send it.

Same shape as the escalation scheduler: an injected clock, ``run_once(now=…)`` for tests and
tools, a thread in the API process that survives a database outage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

import structlog
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from cloud.background import BackgroundService
from cloud.engagement import patient_schedule
from cloud.engagement.patient_messages import Outcome

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL_S: Final = 60.0
STEPS: Final = (
    patient_schedule.remeasure_due,
    patient_schedule.remeasure_pending_due,
    patient_schedule.adherence_due,
    patient_schedule.weekly_due,
    patient_schedule.rating_due,
)
"""Urgent first: a re-measure prompt counts against the day before a routine message does."""
LOCK_KEY: Final = 0x56470008
"""PostgreSQL advisory lock: with several API processes, one at a time judges what is due,
so a message is never queued twice (SQLite has one writer anyway)."""


def _my_turn(session: Session) -> bool:
    """Take this transaction's advisory lock on PostgreSQL; False when another process has it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}))


class PatientMessenger(BackgroundService):
    thread_name = "patient-messages"
    failed_event = "patient_messages.failed"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime],
        transports: Callable[[], Sequence[str]],
        interval_s: float = DEFAULT_INTERVAL_S,
        on_messages: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.transports = transports
        self.on_messages = on_messages
        super().__init__(interval_s=interval_s)

    def tick(self) -> None:
        self.run_once(now=self.clock())

    def run_once(self, *, now: datetime) -> list[Outcome]:
        """Queue every patient message due at ``now``; what happened to each."""
        transports = list(self.transports())
        outcomes: list[Outcome] = []
        for step in STEPS:
            with self.sessions.begin() as session:  # one kind failing keeps the others
                if _my_turn(session):
                    outcomes += step(session, now=now, transports=transports)
        if self.on_messages is not None and any(o.message_id for o in outcomes):
            self.on_messages()
        return outcomes
