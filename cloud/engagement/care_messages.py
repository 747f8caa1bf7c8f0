"""Messages the care team writes to a patient: queued as a delivery on the patient's
preferred contact (the notifier sends and retries it), kept in their thread; refused after
a STOP on every address, or when there is no contact VitalGate can send to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.errors import ConflictError
from cloud.store.models import Contact, Delivery, DeliveryStatus, Message
from cloud.store.tenancy import Patient


class OptedOutError(ConflictError):
    code = "opted_out"


class NoContactError(ConflictError):
    code = "no_contact"


def send(
    session: Session,
    *,
    patient: Patient,
    user_id: int,
    body: str,
    transports: Sequence[str],
    now: datetime,
) -> Message:
    """Queue ``body`` to the patient from ``user_id``; the caller commits."""
    contacts = session.scalars(
        select(Contact)
        .where(Contact.patient_id == patient.id, Contact.kind.in_(transports))
        .order_by(Contact.rank, Contact.id)
    ).all()
    usable = [c for c in contacts if not c.opted_out]
    if not usable:
        if contacts:
            raise OptedOutError(f"patient {patient.id!r} opted out of messages (STOP)")
        raise NoContactError(
            f"patient {patient.id!r} has no contact VitalGate can send to; add one first"
        )
    contact = usable[0]
    message = Message(
        organisation_id=patient.organisation_id, patient_id=patient.id, user_id=user_id,
        direction="outbound", channel=contact.kind, address=contact.address, body=body,
        intent=None, outcome="queued", alert_id=None, provider_id=None, at=now,
    )  # fmt: skip
    session.add(message)
    session.flush()
    session.add(
        Delivery(
            alert_id=None, message_id=message.id, channel=f"{contact.kind}:patient",
            target_index=-1, status=DeliveryStatus.PENDING, attempts=0, created_at=now,
            next_attempt_at=now,
        )
    )  # fmt: skip
    return message
