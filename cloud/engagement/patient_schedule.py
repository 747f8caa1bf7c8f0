"""What patient message is due, for whom, now (``cloud.engagement.patient_messages`` queues it).

* ``remeasure``: right after an out-of-range blood-pressure alert opens, or a blood-pressure
  finding is held for a confirming re-measurement (``cloud.alerts.confirmation``), once per
  episode.
* ``adherence_nudge``: a daily-device program and no reading today by the local evening.
* ``weekly_summary``: Sunday evening, the week's days measured and average.
* ``rating``: every four weeks, the one-question rating.

Each routine kind goes out in a window after its local time (``WINDOW``), once per period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.engagement import policy, preferences, templates
from cloud.engagement.patient_messages import Kind, Outcome, last_sent, local_day, queue
from cloud.store.models import Alert, AlertStatus, PendingFinding, Reading
from cloud.store.tenancy import Patient

BP_METRICS: Final = ("systolic_bp", "diastolic_bp")
REMEASURE_WITHIN: Final = timedelta(hours=2)
"""An alert opened longer ago than this gets no prompt (the moment has passed); two BP alerts
within this of each other are one episode."""
NUDGE_AT: Final = time(19, 0)
"""Local time after which a day without a reading earns a nudge."""
NUDGE_IF_MEASURED_WITHIN: Final = timedelta(days=14)
"""Only patients who have measured recently are nudged; the others are a retention matter."""
SUMMARY_WEEKDAY: Final = 6  # Sunday
SUMMARY_AT: Final = time(17, 0)
RATING_AT: Final = time(12, 0)
WINDOW: Final = timedelta(hours=3)
"""A routine message goes out within this of its local time or waits for the next day: a
nudge is not sent at midnight because the server was down all evening."""
RATING_EVERY: Final = timedelta(days=28)
RATING_AFTER_ENROLMENT: Final = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class Daily:
    metric: str
    measurement: dict[str, str]
    """The reading in words, per language (adherence nudge)."""
    label: dict[str, str]
    """The metric in words, per language (weekly summary)."""


DAILY: Final[dict[str, Daily]] = {
    "hypertension": Daily(
        "systolic_bp",
        {"en": "blood pressure reading", "es": "medición de presión arterial"},
        {"en": "blood pressure", "es": "presión arterial"},
    ),
    "heart_failure": Daily(
        "body_weight", {"en": "weight", "es": "peso"}, {"en": "weight", "es": "peso"}
    ),
    "diabetes": Daily(
        "blood_glucose",
        {"en": "blood glucose reading", "es": "medición de glucosa"},
        {"en": "blood glucose", "es": "glucosa"},
    ),
    "copd": Daily(
        "spo2",
        {"en": "oxygen reading", "es": "medición de oxígeno"},
        {"en": "oxygen level", "es": "nivel de oxígeno"},
    ),
}
"""Programs built on a daily device reading (``general`` has no daily habit to nudge)."""


def remeasure_due(session: Session, *, now: datetime, transports: Sequence[str]) -> list[Outcome]:
    """A prompt for each newly opened blood-pressure alert whose episode has none yet."""
    out: list[Outcome] = []
    alerts = session.scalars(
        select(Alert)
        .where(
            Alert.status == AlertStatus.OPEN,
            Alert.category == "clinical",
            Alert.metric.in_(BP_METRICS),
            Alert.opened_at >= now - REMEASURE_WITHIN,
            Alert.opened_at <= now,
        )
        .order_by(Alert.opened_at, Alert.id)
    ).all()
    for alert in alerts:
        last = last_sent(session, alert.patient_id, Kind.REMEASURE)
        if last is not None and last >= alert.opened_at - REMEASURE_WITHIN:
            continue  # this episode was prompted (the other BP alert, or this one)
        patient = session.get(Patient, alert.patient_id)
        numbers = _bp_at(session, alert)
        if patient is None or numbers is None:
            continue
        out.append(
            queue(session, patient, Kind.REMEASURE, "remeasure_bp",
                  {"systolic": numbers[0], "diastolic": numbers[1]}, now=now,
                  transports=transports, urgency=policy.Urgency.URGENT, alert_id=alert.id)
        )  # fmt: skip
    return out


def remeasure_pending_due(
    session: Session, *, now: datetime, transports: Sequence[str]
) -> list[Outcome]:
    """A prompt for each blood-pressure finding newly held for confirmation (once per episode):
    the re-measurement it waits for."""
    out: list[Outcome] = []
    held = session.scalars(
        select(PendingFinding)
        .where(
            PendingFinding.status == "pending",
            PendingFinding.metric.in_(BP_METRICS),
            PendingFinding.held_at >= now - REMEASURE_WITHIN,
            PendingFinding.held_at <= now,
        )
        .order_by(PendingFinding.held_at, PendingFinding.id)
    ).all()
    for row in held:
        last = last_sent(session, row.patient_id, Kind.REMEASURE)
        if last is not None and last >= row.held_at - REMEASURE_WITHIN:
            continue
        patient = session.get(Patient, row.patient_id)
        numbers = _bp_until(session, row.patient_id, row.ts)
        if patient is None or numbers is None:
            continue
        out.append(
            queue(session, patient, Kind.REMEASURE, "remeasure_bp",
                  {"systolic": numbers[0], "diastolic": numbers[1]}, now=now,
                  transports=transports, urgency=policy.Urgency.URGENT)
        )  # fmt: skip
    return out


def _bp_at(session: Session, alert: Alert) -> tuple[int, int] | None:
    """The systolic/diastolic pair of the measurement that opened the alert (the latest one
    at or before its opening)."""
    return _bp_until(session, alert.patient_id, alert.opened_at)


def _bp_until(session: Session, patient_id: str, until: datetime) -> tuple[int, int] | None:
    """The latest systolic/diastolic pair of one measurement at or before ``until``."""
    rows = session.execute(
        select(Reading.metric, Reading.value, Reading.measurement_id)
        .where(
            Reading.patient_id == patient_id,
            Reading.metric.in_(BP_METRICS),
            Reading.ts <= until,
            Reading.usable.is_(True),
        )
        .order_by(Reading.ts.desc(), Reading.id.desc())
        .limit(20)
    ).all()
    systolic = next((r for r in rows if r.metric == "systolic_bp"), None)
    if systolic is None:
        return None
    diastolic = next(
        (r for r in rows if r.metric == "diastolic_bp"
         and (systolic.measurement_id is None or r.measurement_id == systolic.measurement_id)),
        None,
    )  # fmt: skip
    return None if diastolic is None else (round(systolic.value), round(diastolic.value))


def _in_window(now: datetime, tz: ZoneInfo, at: time) -> bool:
    """Whether local ``now`` lies in [``at``, ``at`` + ``WINDOW``) of its day."""
    local = now.astimezone(tz)
    start = datetime.combine(local.date(), at, tzinfo=tz)
    return start <= local < start + WINDOW


def _patients(session: Session) -> list[tuple[Patient, str]]:
    rows = session.execute(
        select(Patient, Patient.program_id)
        .where(Patient.program_id.in_(DAILY))
        .order_by(Patient.id)
    ).all()
    return [(p, program) for p, program in rows if program is not None]


def _tz(session: Session, patient_id: str, transports: Sequence[str]) -> ZoneInfo:
    return ZoneInfo(preferences.load(session, patient_id, transports).timezone)


def _language(session: Session, patient_id: str, transports: Sequence[str]) -> str:
    lang = preferences.load(session, patient_id, transports).language
    return lang if lang in templates.languages() else templates.FALLBACK_LANGUAGE


def _reading_days(
    session: Session, patient_id: str, metric: str, *, start: datetime, end: datetime, tz: ZoneInfo
) -> tuple[set[date], list[Reading]]:
    rows = list(
        session.scalars(
            select(Reading).where(
                Reading.patient_id == patient_id, Reading.metric == metric,
                Reading.ts >= start, Reading.ts < end,
            )
        )
    )  # fmt: skip
    return {r.ts.astimezone(tz).date() for r in rows}, rows


def adherence_due(session: Session, *, now: datetime, transports: Sequence[str]) -> list[Outcome]:
    """A nudge for each daily-program patient with no reading today by the local evening."""
    out: list[Outcome] = []
    for patient, program in _patients(session):
        tz = _tz(session, patient.id, transports)
        if not _in_window(now, tz, NUDGE_AT):
            continue
        start, end = local_day(now, tz)
        last = last_sent(session, patient.id, Kind.ADHERENCE_NUDGE)
        if last is not None and last >= start:
            continue
        daily = DAILY[program]
        recent, _ = _reading_days(
            session,
            patient.id,
            daily.metric,
            start=start - NUDGE_IF_MEASURED_WITHIN,
            end=end,
            tz=tz,
        )
        today = now.astimezone(tz).date()
        if not recent or today in recent:
            continue
        lang = _language(session, patient.id, transports)
        words = daily.measurement.get(lang, daily.measurement["en"])
        out.append(
            queue(session, patient, Kind.ADHERENCE_NUDGE, "adherence_nudge",
                  {"measurement": words}, now=now, transports=transports)
        )  # fmt: skip
    return out


def weekly_due(session: Session, *, now: datetime, transports: Sequence[str]) -> list[Outcome]:
    """The week's summary, Sunday evening local time, once a week."""
    out: list[Outcome] = []
    for patient, program in _patients(session):
        tz = _tz(session, patient.id, transports)
        local = now.astimezone(tz)
        if local.weekday() != SUMMARY_WEEKDAY or not _in_window(now, tz, SUMMARY_AT):
            continue
        last = last_sent(session, patient.id, Kind.WEEKLY_SUMMARY)
        if last is not None and last > now - timedelta(days=6):
            continue
        start = local_day(now, tz)[0] - timedelta(days=6)
        out.append(
            queue(session, patient, Kind.WEEKLY_SUMMARY, "weekly_summary",
                  week_in_numbers(session, patient.id, program, start=start, end=now, tz=tz,
                                  language=_language(session, patient.id, transports)),
                  now=now, transports=transports)
        )  # fmt: skip
    return out


def week_in_numbers(
    session: Session,
    patient_id: str,
    program: str,
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    language: str,
) -> dict[str, Any]:
    """Days measured and the average of the program's metric (``128/82`` for blood pressure)."""
    daily = DAILY[program]
    days, rows = _reading_days(session, patient_id, daily.metric, start=start, end=end, tz=tz)
    label = daily.label.get(language, daily.label["en"])
    usable = [r.value for r in rows if r.usable]
    if not usable:
        return {"days": len(days), "average": None, "metric_label": label}
    average = f"{sum(usable) / len(usable):.0f}"
    if daily.metric == "systolic_bp":
        _, dia = _reading_days(session, patient_id, "diastolic_bp", start=start, end=end, tz=tz)
        dia_values = [r.value for r in dia if r.usable]
        if dia_values:
            average += f"/{sum(dia_values) / len(dia_values):.0f}"
    return {"days": len(days), "average": average, "metric_label": label}


def rating_due(session: Session, *, now: datetime, transports: Sequence[str]) -> list[Outcome]:
    """The one-question rating, every four weeks after the first two, at local midday."""
    out: list[Outcome] = []
    for patient, _program in _patients(session):
        if patient.created_at > now - RATING_AFTER_ENROLMENT:
            continue
        tz = _tz(session, patient.id, transports)
        if not _in_window(now, tz, RATING_AT):
            continue
        last = last_sent(session, patient.id, Kind.RATING)
        if last is not None and last > now - RATING_EVERY:
            continue
        out.append(
            queue(session, patient, Kind.RATING, "rating", {}, now=now, transports=transports)
        )
    return out
