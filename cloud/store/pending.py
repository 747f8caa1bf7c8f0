"""Pending findings: fires that wait for a confirming re-measurement (``gateway.signal.confirm``).

A row is written when a non-urgent fire of a rule with a confirmation window is held instead
of alerting; it ends ``confirmed`` or ``unconfirmed`` (with the alert it opened) or
``cancelled`` (recorded, never notified: what confirmation saved, for clinicians to check).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import WIRE_ID, Base


class PendingFinding(Base):
    """One held fire and, once decided, what became of it."""

    __tablename__ = "pending_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finding_id: Mapped[str] = mapped_column(String(160), unique=True)
    """``gateway.signal`` finding id of the held fire: held once however often it is seen."""
    patient_id: Mapped[str] = mapped_column(WIRE_ID)
    rule_id: Mapped[str] = mapped_column(String(128))
    rule_version: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(8))
    value: Mapped[float] = mapped_column(Float)
    ts: Mapped[datetime]
    """When the reading that crossed the level was taken."""
    deadline: Mapped[datetime]
    """The end of the confirmation window: unconfirmed after it."""
    status: Mapped[str] = mapped_column(String(16))
    """pending | confirmed | cancelled | unconfirmed (``gateway.signal.confirm.Outcome``)."""
    held_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    alert_id: Mapped[int | None] = mapped_column(Integer)
    finding: Mapped[dict[str, Any]]
    """The held finding, exactly (times as epoch seconds), to judge it later."""

    __table_args__ = (
        Index("ix_pending_patient_metric_status", "patient_id", "metric", "status"),
        Index("ix_pending_status_deadline", "status", "deadline"),
    )
