"""What people do with an alert: acknowledge, snooze, escalate, assign, resolve.

open → acknowledged → resolved. Each action is an ``AlertEvent`` (who, when, from which
channel), so the history shows who saw what, and an acknowledgement from any channel — the
API or dashboard, the e-mailed link, an SMS reply — stops the escalation chain the same way.
Acknowledging twice changes nothing (two people may click at once); acting on a resolved
alert is a conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import update
from sqlalchemy.orm import Session

from cloud.alerts import escalation, history
from cloud.errors import ConflictError, InvalidRequestError, NotFoundError
from cloud.store.models import Alert, AlertStatus, Delivery, DeliveryStatus
from cloud.store.tenancy import Role, User

MAX_SNOOZE: Final = timedelta(days=7)
"""The longest snooze, by time or by minutes: a muted alert must come back within a week."""

OPEN: Final = AlertStatus.OPEN
ACKNOWLEDGED: Final = AlertStatus.ACKNOWLEDGED
RESOLVED: Final = AlertStatus.RESOLVED


def _not_resolved(alert: Alert, doing: str) -> None:
    if alert.status == RESOLVED:
        raise ConflictError(f"alert {alert.id} is already resolved; it cannot be {doing}")


def _cancel_pending_steps(session: Session, alert: Alert) -> None:
    """Escalation messages queued but not yet sent are not sent after an acknowledgement."""
    session.execute(
        update(Delivery)
        .where(
            Delivery.alert_id == alert.id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.user_id.is_not(None),
        )
        .values(status=DeliveryStatus.CANCELLED, last_error="alert acknowledged before sending")
    )


def acknowledge(
    session: Session, alert: Alert, *, actor: int | None, channel: str, now: datetime
) -> bool:
    """Acknowledge an open alert; False (and nothing changed) when it already was."""
    _not_resolved(alert, "acknowledged")
    if alert.status == ACKNOWLEDGED:
        return False
    alert.status, alert.acknowledged_at, alert.acknowledged_by = ACKNOWLEDGED, now, actor
    alert.snoozed_until = None
    alert.updated_at = now
    _cancel_pending_steps(session, alert)
    history.record(session, alert.id, "acknowledged", at=now, actor=actor, channel=channel)
    return True


def snooze(
    session: Session,
    alert: Alert,
    *,
    until: datetime,
    actor: int | None,
    channel: str,
    now: datetime,
) -> None:
    """Hold every notification until ``until``; then the escalation chain starts again."""
    _not_resolved(alert, "snoozed")
    if alert.status == ACKNOWLEDGED:
        raise ConflictError(
            f"alert {alert.id} is acknowledged: nobody is being notified, so there is "
            "nothing to snooze"
        )
    if until <= now:
        raise InvalidRequestError("snooze until a time in the future")
    if until > now + MAX_SNOOZE:
        raise InvalidRequestError(
            f"snooze for at most {MAX_SNOOZE.days} days; resolve the alert if it needs no care"
        )
    alert.snoozed_until, alert.updated_at = until, now
    _cancel_pending_steps(session, alert)
    history.record(
        session,
        alert.id,
        "snoozed",
        at=now,
        actor=actor,
        channel=channel,
        detail={"until": until.isoformat()},
    )


def resolve(
    session: Session,
    alert: Alert,
    *,
    actor: int | None,
    channel: str,
    now: datetime,
    note: str | None = None,
) -> None:
    _not_resolved(alert, "resolved again")
    alert.snoozed_until = None
    _cancel_pending_steps(session, alert)
    history.resolve(
        session,
        alert,
        now=now,
        action="resolved",
        actor=actor,
        channel=channel,
        detail={"note": note},
    )


def assign(
    session: Session,
    alert: Alert,
    *,
    user_id: int,
    organisation_id: str,
    actor: int | None,
    channel: str,
    now: datetime,
) -> None:
    """Make a care-team member of the organisation responsible for the alert."""
    _not_resolved(alert, "assigned")
    user = session.get(User, user_id)
    if user is None or user.organisation_id != organisation_id or not user.is_active:
        raise NotFoundError(f"no user {user_id}")
    if user.role == Role.PATIENT:
        raise InvalidRequestError("an alert is assigned to a member of the care team")
    alert.assigned_to, alert.updated_at = user_id, now
    history.record(
        session,
        alert.id,
        "assigned",
        at=now,
        actor=actor,
        channel=channel,
        detail={"user_id": user_id},
    )


def escalate(
    session: Session,
    alert: Alert,
    *,
    organisation_id: str,
    actor: int | None,
    channel: str,
    now: datetime,
    transports: Sequence[str],
) -> int:
    """Notify the next step of the chain now, without waiting for its delay; the step index."""
    _not_resolved(alert, "escalated")
    chain = escalation.chain_for(session, organisation_id, alert.priority)
    step = alert.escalation_step
    if step >= len(chain):
        raise ConflictError(
            f"alert {alert.id} has reached the end of its escalation chain ({len(chain)} steps)"
        )
    if alert.escalation_started_at is None:
        alert.escalation_started_at = now
    escalation.notify_step(
        session,
        alert,
        step,
        chain[step],
        now=now,
        transports=transports,
        actor=actor,
        channel=channel,
        manual=True,
    )
    alert.escalation_step = step + 1
    alert.snoozed_until = None
    alert.updated_at = now
    return step
