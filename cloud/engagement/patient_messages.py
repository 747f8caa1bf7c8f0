"""Messages a patient would want: what is due, for whom, in their words.

Four kinds, each from a template (``cloud.engagement.templates``) with the patient's first
name, their numbers and their care team's name, and each judged by ``policy.decide`` against
the patient's preferences (``cloud.engagement.preferences``):

* ``remeasure``: right after an out-of-range blood-pressure alert opens, once per episode;
  urgent (ignores quiet hours, honours opt-out).
* ``adherence_nudge``: a daily-device program and no reading today by the local evening;
  at most one a day.
* ``weekly_summary``: Sunday evening, the week's days measured and average, with
  encouragement.
* ``rating``: every four weeks, the one-question rating (0–10, net-promoter style); a number
  in reply is recorded as the rating (``cloud.engagement.inbound``).

A message is queued as a thread message plus a delivery that the notifier sends (held
messages are queued for the end of the quiet hours); a template that fails is recorded as a
failed message and a worklist task, never sent blank. Bodies are never logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.engagement import policy, preferences, templates
from cloud.store.models import Alert, Contact, Delivery, Message, Reading, Task
from cloud.store.tenancy import Organisation, Patient

log = structlog.get_logger(__name__)


class Kind(StrEnum):
    REMEASURE = "remeasure"
    ADHERENCE_NUDGE = "adherence_nudge"
    WEEKLY_SUMMARY = "weekly_summary"
    RATING = "rating"


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
RATING_ANSWER_WITHIN: Final = timedelta(hours=48)
"""A number replied within this of a rating question is a rating, not a menu answer."""


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


@dataclass(frozen=True, slots=True)
class Outcome:
    patient_id: str
    kind: Kind
    status: str
    """``queued``, ``held`` (queued for the end of quiet hours), ``skipped``, ``failed``."""
    reason: str
    message_id: int | None = None


def local_day(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The patient's local calendar day around ``now`` as a UTC [start, end)."""
    local = now.astimezone(tz)
    start = datetime.combine(local.date(), time(0), tzinfo=tz)
    end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(now.tzinfo), end.astimezone(now.tzinfo)


def _last_sent(session: Session, patient_id: str, kind: Kind) -> datetime | None:
    at: datetime | None = session.scalar(
        select(func.max(Message.at)).where(
            Message.patient_id == patient_id,
            Message.direction == "outbound",
            Message.kind == kind.value,
        )
    )
    return at


def _sent_on(session: Session, patient_id: str, start: datetime, end: datetime) -> int:
    """Scheduled messages counted against the daily cap (failed ones were never sent)."""
    return int(
        session.scalar(
            select(func.count(Message.id)).where(
                Message.patient_id == patient_id,
                Message.direction == "outbound",
                Message.kind.is_not(None),
                Message.outcome != "failed",
                Message.at >= start,
                Message.at < end,
            )
        )
        or 0
    )


def context_for(session: Session, patient: Patient) -> dict[str, Any]:
    """Names every template takes: the patient's first name and their care team's name."""
    org = session.get(Organisation, patient.organisation_id)
    first = patient.display_name.split()[0] if patient.display_name.strip() else ""
    return {"first_name": first, "care_team": f"{org.name if org else ''} care team".strip()}


def queue(
    session: Session,
    patient: Patient,
    kind: Kind,
    template: str,
    context: dict[str, Any],
    *,
    now: datetime,
    transports: Sequence[str],
    urgency: policy.Urgency = policy.Urgency.ROUTINE,
    alert_id: int | None = None,
) -> Outcome:
    """Judge, render and queue one message for the patient's preferred usable contact."""
    prefs = preferences.load(session, patient.id, transports)
    day = local_day(now, ZoneInfo(prefs.timezone))
    decision = policy.decide(
        now=now, prefs=prefs, urgency=urgency, sent_today=_sent_on(session, patient.id, *day)
    )
    if decision.send_at is None:
        log.info("patient_message.skipped", patient_id=patient.id, kind=kind.value,
                 reason=decision.reason)  # fmt: skip
        return Outcome(patient.id, kind, "skipped", decision.reason)
    contact = next(
        c for c in preferences.contacts_of(session, patient.id, transports)
        if not c.opted_out and c.kind == decision.channels[0]
    )  # fmt: skip
    try:
        body = templates.render(template, language=prefs.language, **context_for(session, patient),
                                **context)  # fmt: skip
    except templates.TemplateError as exc:
        return _template_failed(session, patient, kind, contact, exc, now=now, alert_id=alert_id)
    message = Message(
        organisation_id=patient.organisation_id, patient_id=patient.id, user_id=None,
        direction="outbound", channel=contact.kind, address=contact.address, body=body,
        intent=None, outcome="queued", alert_id=alert_id, provider_id=None,
        at=decision.send_at, kind=kind.value,
    )  # fmt: skip
    session.add(message)
    session.flush()
    session.add(
        Delivery(
            alert_id=None, message_id=message.id, channel=f"{contact.kind}:patient#{contact.id}",
            target_index=-1, status="pending", attempts=0, created_at=now,
            next_attempt_at=decision.send_at,
        )
    )  # fmt: skip
    status = "queued" if decision.send_at == now else "held"
    log.info("patient_message.queued", patient_id=patient.id, kind=kind.value,
             message_id=message.id, held=status == "held")  # fmt: skip
    return Outcome(patient.id, kind, status, decision.reason, message.id)


def _template_failed(
    session: Session,
    patient: Patient,
    kind: Kind,
    contact: Contact,
    exc: templates.TemplateError,
    *,
    now: datetime,
    alert_id: int | None,
) -> Outcome:
    """Nothing is sent; the failure is kept (so it is not retried every run) and put on the
    care team's worklist. The error names the template, never the values."""
    message = Message(
        organisation_id=patient.organisation_id, patient_id=patient.id, user_id=None,
        direction="outbound", channel=contact.kind, address=contact.address, body="",
        intent=None, outcome="failed", alert_id=alert_id, provider_id=None, at=now,
        kind=kind.value,
    )  # fmt: skip
    session.add(message)
    session.flush()
    session.add(
        Task(
            organisation_id=patient.organisation_id, patient_id=patient.id,
            reason="message_failed", alert_id=alert_id, message_id=message.id, status="open",
            created_at=now, done_at=None, done_by=None, note=str(exc),
        )
    )  # fmt: skip
    log.error("patient_message.template_failed", patient_id=patient.id, kind=kind.value,
              message_id=message.id, error=str(exc))  # fmt: skip
    return Outcome(patient.id, kind, "failed", str(exc), message.id)


# ------------------------------------------------------------------ what is due


def remeasure_due(session: Session, *, now: datetime, transports: Sequence[str]) -> list[Outcome]:
    """A prompt for each newly opened blood-pressure alert whose episode has none yet."""
    out: list[Outcome] = []
    alerts = session.scalars(
        select(Alert)
        .where(
            Alert.status == "open",
            Alert.category == "clinical",
            Alert.metric.in_(BP_METRICS),
            Alert.opened_at >= now - REMEASURE_WITHIN,
            Alert.opened_at <= now,
        )
        .order_by(Alert.opened_at, Alert.id)
    ).all()
    for alert in alerts:
        last = _last_sent(session, alert.patient_id, Kind.REMEASURE)
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


def _bp_at(session: Session, alert: Alert) -> tuple[int, int] | None:
    """The systolic/diastolic pair of the measurement that opened the alert (the latest one
    at or before its opening)."""
    rows = session.execute(
        select(Reading.metric, Reading.value, Reading.measurement_id)
        .where(
            Reading.patient_id == alert.patient_id,
            Reading.metric.in_(BP_METRICS),
            Reading.ts <= alert.opened_at,
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
        last = _last_sent(session, patient.id, Kind.ADHERENCE_NUDGE)
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
        last = _last_sent(session, patient.id, Kind.WEEKLY_SUMMARY)
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
        last = _last_sent(session, patient.id, Kind.RATING)
        if last is not None and last > now - RATING_EVERY:
            continue
        out.append(
            queue(session, patient, Kind.RATING, "rating", {}, now=now, transports=transports)
        )
    return out


def expects_rating(session: Session, patient_id: str, *, now: datetime) -> bool:
    """Whether a number from this patient now answers a rating question: the last message
    we sent them asked it, within ``RATING_ANSWER_WITHIN``, and it has no rating yet."""
    last = session.scalars(
        select(Message)
        .where(Message.patient_id == patient_id, Message.direction == "outbound",
               Message.outcome != "failed", Message.at <= now)
        .order_by(Message.at.desc(), Message.id.desc())
    ).first()  # fmt: skip
    if last is None or last.kind != Kind.RATING.value or last.at < now - RATING_ANSWER_WITHIN:
        return False
    answered = session.scalar(
        select(func.count(Message.id)).where(
            Message.patient_id == patient_id, Message.direction == "inbound",
            Message.rating.is_not(None), Message.at >= last.at,
        )
    )  # fmt: skip
    return not answered
