"""Replies coming in (SMS-provider style webhook): who sent it, what it means, what follows.

* From a care-team member's number (or e-mail): ``ACK`` or ``ACK <alert id>`` acknowledges,
  like the dashboard and the e-mailed link; anything else is kept in their messages.
* From a patient: the reply joins the patient's thread and their open alert's history;
  "2" (please call me) and free text become worklist tasks, "1" (I feel fine) is recorded,
  STOP / START opt the address out of and back into patient messages.
* From an address nobody is known by, or one shared by several patients: kept, not attached.

A provider delivering the same webhook twice (its message id) is recorded once.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import structlog
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from cloud.alerts import history, lifecycle
from cloud.api.deps import Principal
from cloud.auth.scope import visible_patient_ids
from cloud.engagement import patient_messages
from cloud.engagement.replies import MAX_TEXT, ReplyIntent, parse_reply
from cloud.errors import CloudError
from cloud.store.models import Alert, AlertStatus, Contact, Delivery, Message, Task, TaskStatus
from cloud.store.tenancy import Patient, Role, User

log = structlog.get_logger(__name__)

ACK_WORDS: Final = frozenset({"ack", "acknowledge", "ok"})
TASK_REASONS: Final = {ReplyIntent.CALL_ME: "call_me", ReplyIntent.FREE_TEXT: "read_reply"}
_NOT_PHONE = re.compile(r"[^0-9]")


class BadAddressError(ValueError):
    """The sender is neither an e-mail address nor a phone number."""


def normalise(sender: str) -> tuple[str, str]:
    """(kind, address): e-mail lower-case; a phone number as ``+`` and digits."""
    value = sender.strip()
    if value.lower().startswith(("tel:", "sms:")):
        value = value[4:]
    if "@" in value:
        return "email", value.lower()
    international = value.startswith(("+", "00"))
    digits = _NOT_PHONE.sub("", value.removeprefix("00"))
    if not 5 <= len(digits) <= 15:
        raise BadAddressError("'from' is neither an e-mail address nor a phone number")
    return "sms", ("+" if international else "") + digits


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    message_id: int | None
    intent: str | None = None
    task_id: int | None = None
    alert_id: int | None = None


def receive(
    session: Session, *, sender: str, body: str, provider_id: str | None, now: datetime
) -> Outcome:
    """Record an inbound message and act on it; the caller commits."""
    if provider_id:
        seen = session.scalars(select(Message).where(Message.provider_id == provider_id)).first()
        if seen is not None:
            return Outcome("duplicate", seen.id, seen.intent, alert_id=seen.alert_id)
    kind, address = normalise(sender)
    text = body.strip()[:MAX_TEXT]
    message = Message(
        organisation_id=None, patient_id=None, user_id=None, direction="inbound", channel=kind,
        address=address, body=text, intent=None, outcome="unmatched", alert_id=None,
        provider_id=provider_id or None, at=now,
    )  # fmt: skip
    session.add(message)
    staff = _staff_with(session, kind, address)
    if len(staff) == 1:
        return _from_staff(session, message, staff[0], now=now)
    patients = session.scalars(
        select(Contact.patient_id)
        .where(Contact.kind == kind, Contact.address == address, Contact.patient_id.is_not(None))
        .distinct()
    ).all()
    if len(patients) != 1 or staff:
        message.outcome = "unmatched" if not patients and not staff else "ambiguous"
        session.flush()
        log.info("inbound.not_attached", message_id=message.id, outcome=message.outcome)
        return Outcome(message.outcome, message.id)
    patient = session.get(Patient, patients[0])
    assert patient is not None  # the contact's foreign key
    return _from_patient(session, message, patient, now=now)


def from_patient_page(session: Session, *, patient: Patient, body: str, now: datetime) -> Outcome:
    """A reply written on the patient's own page: the same meaning and follow-up as an SMS
    reply (a task for "please call me" and free text), channel ``web``; the caller commits."""
    message = Message(
        organisation_id=patient.organisation_id, patient_id=patient.id, user_id=None,
        direction="inbound", channel="web", address="", body=body.strip()[:MAX_TEXT], intent=None,
        outcome="unmatched", alert_id=None, provider_id=None, at=now,
    )  # fmt: skip
    session.add(message)
    return _from_patient(session, message, patient, now=now)


def set_opt_out(session: Session, *, patient_id: str, opted_out: bool) -> int:
    """STOP (or START) every contact of the patient, as a STOP reply does for one address."""
    contacts = session.scalars(select(Contact).where(Contact.patient_id == patient_id)).all()
    for contact in contacts:
        contact.opted_out = opted_out
    return len(contacts)


def _staff_with(session: Session, kind: str, address: str) -> list[User]:
    by_contact = select(Contact.user_id).where(
        Contact.kind == kind, Contact.address == address, Contact.user_id.is_not(None)
    )
    conditions: list[ColumnElement[bool]] = [User.id.in_(by_contact)]
    if kind == "email":
        conditions.append(User.email == address)
    return list(
        session.scalars(
            select(User).where(
                or_(*conditions), User.is_active.is_(True), User.role != Role.PATIENT
            )
        )
    )


def _from_patient(
    session: Session, message: Message, patient: Patient, *, now: datetime
) -> Outcome:
    expect_rating = patient_messages.expects_rating(session, patient.id, now=now)
    reply = parse_reply(message.body, expect_rating=expect_rating)
    message.rating = reply.rating
    alert = session.scalars(
        select(Alert)
        .where(
            Alert.patient_id == patient.id,
            Alert.status.in_((AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)),
        )
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
    ).first()
    message.organisation_id, message.patient_id = patient.organisation_id, patient.id
    message.intent, message.outcome = reply.intent.value, "attached"
    message.alert_id = alert.id if alert is not None else None
    session.flush()
    if reply.intent in (ReplyIntent.OPT_OUT, ReplyIntent.OPT_IN):
        for contact in session.scalars(
            select(Contact).where(
                Contact.patient_id == patient.id,
                Contact.kind == message.channel,
                Contact.address == message.address,
            )
        ):
            contact.opted_out = reply.intent is ReplyIntent.OPT_OUT
    task_id = None
    reason = TASK_REASONS.get(reply.intent)
    if reason is not None:
        task = Task(
            organisation_id=patient.organisation_id, patient_id=patient.id, reason=reason,
            alert_id=message.alert_id, message_id=message.id, status=TaskStatus.OPEN, created_at=now,
            done_at=None, done_by=None, note=None,
        )  # fmt: skip
        session.add(task)
        session.flush()
        task_id = task.id
    if alert is not None:
        history.record(
            session, alert.id, "patient_reply", at=now, actor=None, channel=message.channel,
            detail={"intent": reply.intent.value, "message_id": message.id, "task_id": task_id},
        )  # fmt: skip
    log.info(
        "inbound.patient_reply", message_id=message.id, intent=reply.intent.value, task_id=task_id
    )
    return Outcome("attached", message.id, reply.intent.value, task_id, message.alert_id)


def _from_staff(session: Session, message: Message, user: User, *, now: datetime) -> Outcome:
    message.organisation_id, message.user_id, message.outcome = (
        user.organisation_id,
        user.id,
        "staff",
    )
    session.flush()
    words = message.body.lower().replace(".", " ").split()
    if not words or words[0] not in ACK_WORDS:
        return Outcome("staff", message.id)
    message.intent = "ack"
    principal = Principal(user.id, user.organisation_id, Role(user.role), None, None)
    visible = Alert.patient_id.in_(visible_patient_ids(principal))
    if len(words) > 1 and words[1].isdigit() and len(words[1]) < 10:
        stmt = select(Alert).where(Alert.id == int(words[1]), visible)
    else:  # the latest alert this person was told about
        told = select(Delivery.alert_id).where(Delivery.user_id == user.id)
        stmt = (
            select(Alert)
            .where(Alert.id.in_(told), Alert.status == AlertStatus.OPEN, visible)
            .order_by(Alert.id.desc())
        )
    alert = session.scalars(stmt).first()
    if alert is None:
        log.info("inbound.ack_without_alert", message_id=message.id, user_id=user.id)
        return Outcome("staff", message.id, "ack")
    message.alert_id = alert.id
    with contextlib.suppress(CloudError):  # already resolved: the reply is kept, that is all
        lifecycle.acknowledge(session, alert, actor=user.id, channel=message.channel, now=now)
    log.info("inbound.staff_ack", message_id=message.id, alert_id=alert.id, user_id=user.id)
    return Outcome("staff", message.id, "ack", alert_id=alert.id)
