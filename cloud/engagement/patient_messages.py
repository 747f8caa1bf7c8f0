"""Messages a patient would want, in their words: judged, rendered and queued.

When each kind is due is ``cloud.engagement.patient_schedule``.

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
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.engagement import policy, preferences, templates
from cloud.store.models import Contact, Delivery, DeliveryStatus, Message, Task, TaskStatus
from cloud.store.tenancy import Organisation, Patient

log = structlog.get_logger(__name__)


class Kind(StrEnum):
    REMEASURE = "remeasure"
    ADHERENCE_NUDGE = "adherence_nudge"
    WEEKLY_SUMMARY = "weekly_summary"
    RATING = "rating"


RATING_ANSWER_WITHIN: Final = timedelta(hours=48)
"""A number replied within this of a rating question is a rating, not a menu answer."""


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


def last_sent(session: Session, patient_id: str, kind: Kind) -> datetime | None:
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
            target_index=-1, status=DeliveryStatus.PENDING, attempts=0, created_at=now,
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
            reason="message_failed", alert_id=alert_id, message_id=message.id,
            status=TaskStatus.OPEN, created_at=now, done_at=None, done_by=None, note=str(exc),
        )
    )  # fmt: skip
    log.error("patient_message.template_failed", patient_id=patient.id, kind=kind.value,
              message_id=message.id, error=str(exc))  # fmt: skip
    return Outcome(patient.id, kind, "failed", str(exc), message.id)


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
