"""The cloud's record: SQLAlchemy 2 models. Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import ID, Base
from cloud.store.edge_records import EdgeEvent, EdgeRollup
from cloud.store.latest import DataDay, LatestValue
from cloud.store.leases import WorkLease
from cloud.store.lifecycle import (
    AlertEvent,
    Contact,
    EscalationChain,
    Message,
    PatientPreferences,
    Task,
    TaskStatus,
)
from cloud.store.marks import PendingSeriesDeletion, ReadingSequence, SinkMark
from cloud.store.pending import PendingFinding
from cloud.store.quarantine import QuarantinedReading
from cloud.store.rollups import Rollup
from cloud.store.rules import GatewayConfigRecord, PatientRuleSet, ShadowFinding
from cloud.store.tenancy import (
    AuditEvent,
    CareTeamMember,
    Device,
    Organisation,
    Pairing,
    Patient,
    Program,
    RefreshToken,
    User,
)
from cloud.store.timelog import TimeEntry

__all__ = [
    "Alert",
    "AlertEvent",
    "AuditEvent",
    "Base",
    "CareTeamMember",
    "Contact",
    "DataDay",
    "DeadLetter",
    "Delivery",
    "Device",
    "EdgeEvent",
    "EdgeRollup",
    "EscalationChain",
    "GatewayConfigRecord",
    "GatewayRecord",
    "LatestValue",
    "Message",
    "Organisation",
    "Pairing",
    "Patient",
    "PatientPreferences",
    "PatientRuleSet",
    "PendingFinding",
    "PendingSeriesDeletion",
    "Program",
    "QuarantinedReading",
    "Reading",
    "ReadingSequence",
    "RefreshToken",
    "Rollup",
    "ShadowFinding",
    "SinkMark",
    "Task",
    "TaskStatus",
    "TimeEntry",
    "User",
    "WorkLease",
]


class Reading(Base):
    """One reading as the gateway sent it; ``(gateway_id, id)`` makes repeats harmless (upsert)
    and keeps one gateway from taking another's ids."""

    __tablename__ = "readings"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    """The gateway's id for it: unique per gateway only (the key is ``(gateway_id, id)``)."""
    gateway_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128))
    device_id: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime]
    measurement_id: Mapped[str | None] = mapped_column(ID)
    usable: Mapped[bool] = mapped_column(Boolean)
    quality: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    seq: Mapped[int | None] = mapped_column(BigInteger, server_default=FetchedValue())
    """Commit order for the time-series sink (``cloud.store.marks``): a counter on SQLite,
    the writing transaction's id on PostgreSQL (a server default there)."""

    __table_args__ = (
        PrimaryKeyConstraint("gateway_id", "id", name="readings_pkey"),
        Index("ix_readings_patient_metric_ts", "patient_id", "metric", "ts"),
        Index("ix_readings_seq_id", "seq", "id"),
    )


class DeadLetter(Base):
    """A message that broke the wire contract, kept with the reason for an operator."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime]
    topic: Mapped[str] = mapped_column(String(512))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class AlertStatus(StrEnum):
    """An alert's life: open → acknowledged → resolved."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class DeliveryStatus(StrEnum):
    """A delivery in the notifier's outbox: waiting (or retrying), sent, or given up."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Alert(Base):
    """An alert and its explanation (rule, version, the readings and features that fired it)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(128))
    rule_version: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(8))
    metric: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    first_value: Mapped[float] = mapped_column(Float)
    last_value: Mapped[float] = mapped_column(Float)
    worst_value: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer, default=1)
    evidence: Mapped[dict[str, Any]]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(Integer)
    snoozed_until: Mapped[datetime | None]
    """No one is notified before this time; then the escalation chain starts again."""
    assigned_to: Mapped[int | None] = mapped_column(Integer)
    escalation_step: Mapped[int] = mapped_column(Integer, default=0)
    """How many steps of the escalation chain have been notified."""
    escalation_started_at: Mapped[datetime | None]
    """Step delays count from here (the opening, or the end of a snooze); empty: not yet."""

    __table_args__ = (Index("ix_alerts_patient_rule_status", "patient_id", "rule_id", "status"),)


class Delivery(Base):
    """One attempt-tracked delivery of an alert, or of a message to a patient, to one channel
    (the notifier's outbox)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    """The alert this delivery tells about; empty for a message to a patient."""
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    """A care-team message to a patient (``messages``), sent on the patient's contact."""
    channel: Mapped[str] = mapped_column(String(64))
    """The channel's scheme and index (``json#0``); never the URL, which may hold credentials."""
    target_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    user_id: Mapped[int | None] = mapped_column(Integer)
    """A care-team member reached on their own contact (escalation); empty for the
    organisation-wide channels of ``VG_ALERT_CHANNELS`` (``target_index``)."""
    step: Mapped[int | None] = mapped_column(Integer)
    """The escalation step this delivery belongs to."""
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    """The notifier process sending it now (``cloud.store.leases.process_owner``)…"""
    lease_until: Mapped[datetime | None]
    """…until then: a process killed mid-send leaves it to another one after this."""

    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),)

    @property
    def idempotency_key(self) -> str:
        """Stable across retries of this delivery, sent with it so a receiver can drop a
        repeat (a process killed after sending, before recording it)."""
        return f"vitalgate-delivery-{self.id}"


class GatewayRecord(Base):
    """A gateway: its organisation once provisioned, and the last status it published.

    A gateway that publishes before it is provisioned gets a record with no organisation
    (visible to no one but the operator); ``last_seen`` is empty until it first speaks.
    """

    __tablename__ = "gateways"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    organisation_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    state: Mapped[str] = mapped_column(String(16))
    last_seen: Mapped[datetime | None]
    status: Mapped[dict[str, Any]]
    revoked_at: Mapped[datetime | None]
    """When ``vitalgate-cloud gateway revoke`` ended this gateway's identity (empty while
    valid); ingest refuses the messages of a revoked gateway."""
