"""Missing-data alerts: silence has no reading to trigger on, so a clock judges it.

Every ``interval_s`` the watch evaluates each patient's stale-stream and missed-measurement
rules (``gateway.signal.missing``) over the recent series of every metric that has data,
keeping findings since its previous run, and carries them into alerts of the
``missing_data`` category with the same lifecycle as clinical ones. The same tick alerts
the findings held for confirmation whose window has passed (``confirmation.expire``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import confirmation
from cloud.alerts.rulebook import RuleBook
from cloud.alerts.service import (
    ALERT_PATH,
    SCHEDULED_KINDS,
    AlertChange,
    apply_finding,
    load_series,
    record_shadow,
)
from cloud.background import BackgroundService
from cloud.store.models import Reading
from gateway.signal import rules as signal_rules
from gateway.signal.series import to_epoch

log = structlog.get_logger(__name__)

LOOKBACK: Final = timedelta(days=15)
"""Long enough to learn a daily habit (MissedMeasurementRule looks at 14 days)."""
DEFAULT_INTERVAL_S: Final = 60.0


class MissingDataWatch(BackgroundService):
    thread_name = "missing-data"
    failed_event = "missing_data.failed"
    lease = "missing-data"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        rulebook: RuleBook,
        *,
        channels: Sequence[str],
        interval_s: float = DEFAULT_INTERVAL_S,
        on_alerts: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.rulebook = rulebook
        self.channels = list(channels)
        self.on_alerts = on_alerts
        self._last: datetime | None = None
        super().__init__(interval_s=interval_s)

    def run_once(self, *, now: datetime, since: datetime | None = None) -> list[AlertChange]:
        """Judge silence as of ``now``; report findings after ``since`` (default: last run)."""
        since = since or self._last or now - timedelta(seconds=self.interval_s)
        now_s, since_s = to_epoch(now), to_epoch(since)
        changes: list[AlertChange] = []
        with self.sessions.begin() as session:
            pairs = session.execute(
                select(Reading.patient_id, Reading.metric)
                .where(Reading.ts >= now - LOOKBACK)
                .distinct()
            ).all()
            self.rulebook.refresh(session, {patient_id for patient_id, _ in pairs})
            for patient_id, metric in sorted(pairs):
                rules = [
                    r
                    for r in self.rulebook.for_patient(patient_id)
                    if r.metric.value == metric and isinstance(r, SCHEDULED_KINDS)
                ]
                if not rules:
                    continue
                series = load_series(
                    session, patient_id, metric, since=to_epoch(now - LOOKBACK)
                ).until(now_s)
                for rule in rules:
                    for finding in signal_rules.evaluate(
                        rule, series, now=now_s, since=since_s
                    ).findings:
                        if self.rulebook.is_shadow(patient_id, finding.rule):
                            record_shadow(session, finding, now=now)
                            continue
                        change = apply_finding(session, finding, now=now, channels=self.channels)
                        if change is not None:
                            changes.append(change)
            # Findings held for a re-measurement that never came alert now, noted unconfirmed.
            changes += confirmation.expire(
                session, now=now, rulebook=self.rulebook, channels=self.channels,
                path=ALERT_PATH,
            )  # fmt: skip
        self._last = now
        return changes

    def tick(self) -> None:
        changes = self.run_once(now=datetime.now(UTC))
        if self.on_alerts is not None and any(c.change == "opened" for c in changes):
            self.on_alerts()
