"""An alert's history and its end: the one writer of ``AlertEvent`` rows and of resolution.

Every entry of an alert's history (opened, notified, escalated, acknowledged, a patient's
reply, a failed delivery, resolved…) is added by ``record``; every resolution, by a person
(``lifecycle.resolve``) or by the readings' all-clear (``service.resolve_all_clear``), goes
through ``resolve``. It depends on the models only, so the lifecycle, the escalation
scheduler, ingest and the notifier all use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.store.models import Alert, AlertEvent, AlertStatus


def record(
    session: Session,
    alert_id: int,
    action: str,
    *,
    at: datetime,
    actor: int | None,
    channel: str,
    detail: Mapping[str, Any] | None = None,
) -> AlertEvent:
    """Add one entry to the alert's history (who, when, from which channel, and why)."""
    event = AlertEvent(
        alert_id=alert_id,
        at=at,
        action=action,
        actor_user_id=actor,
        channel=channel,
        detail=dict(detail or {}),
    )
    session.add(event)
    return event


def entries(session: Session, alert_id: int) -> Sequence[AlertEvent]:
    """The alert's history, oldest first."""
    return session.scalars(
        select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    ).all()


def resolve(
    session: Session,
    alert: Alert,
    *,
    now: datetime,
    action: str,
    actor: int | None,
    channel: str,
    detail: Mapping[str, Any] | None = None,
) -> AlertEvent:
    """Mark the alert resolved now and record why (``action``: ``resolved``, ``all_clear``)."""
    alert.status, alert.resolved_at, alert.updated_at = AlertStatus.RESOLVED, now, now
    return record(session, alert.id, action, at=now, actor=actor, channel=channel, detail=detail)
