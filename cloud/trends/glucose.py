"""A patient's glucose as clinicians read it: the consensus time-in-range metrics and the
ambulatory glucose profile of the last 14 days, from the record, with
``gateway.signal.glucose`` (the same numbers the gateway's simulator and tests check)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.store.lifecycle import PatientPreferences
from cloud.store.models import Reading
from gateway.signal import glucose
from gateway.signal.series import SignalError
from gateway.wire import Metric

WINDOW: Final = timedelta(days=glucose.AGP_DAYS)
MIN_READINGS: Final = 2 * 24 * 12
"""About two days of a CGM's 5-minute readings: fewer make an AGP that misleads."""


@dataclass(frozen=True, slots=True)
class GlucoseReport:
    since: datetime
    until: datetime
    summary: glucose.GlucoseSummary
    agp: glucose.AgpProfile
    timezone: str = "UTC"
    """The time zone whose time of day the AGP is binned by: the patient's own."""


def glucose_report(
    session: Session, *, patient_id: str, now: datetime, timezone: str | None = None
) -> GlucoseReport | None:
    """The last 14 days' metrics and AGP (by the patient's local time of day: their
    preferences' time zone unless ``timezone`` is given), or None when there is not enough
    continuous data for them."""
    if timezone is None:
        prefs = session.get(PatientPreferences, patient_id)
        timezone = prefs.timezone if prefs is not None else "UTC"
    since = now - WINDOW
    rows = session.execute(
        select(Reading.ts, Reading.value)
        .where(
            Reading.patient_id == patient_id,
            Reading.metric == Metric.BLOOD_GLUCOSE.value,
            Reading.usable.is_(True),
            Reading.ts >= since,
            Reading.ts <= now,
        )
        .order_by(Reading.ts)
    ).all()
    if len(rows) < MIN_READINGS:
        return None
    ts = [r[0] for r in rows]
    values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    try:
        summary = glucose.summary(values, ts, start=since, end=now)
        profile = glucose.agp(values, ts, tz=ZoneInfo(timezone), end=now)
    except SignalError:
        return None
    return GlucoseReport(since, now, summary, profile, timezone)
