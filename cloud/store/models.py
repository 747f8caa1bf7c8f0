"""The cloud's record: SQLAlchemy 2 models. Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cloud.store.types import UtcDateTime

ID = String(160)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: JSON}


class Reading(Base):
    """One reading as the gateway sent it; ``id`` makes repeats harmless (upsert)."""

    __tablename__ = "readings"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    gateway_id: Mapped[str] = mapped_column(String(128))
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

    __table_args__ = (Index("ix_readings_patient_metric_ts", "patient_id", "metric", "ts"),)


class DeadLetter(Base):
    """A message that broke the wire contract, kept with the reason for an operator."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime]
    topic: Mapped[str] = mapped_column(String(512))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


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

    __table_args__ = (Index("ix_alerts_patient_rule_status", "patient_id", "rule_id", "status"),)


class Delivery(Base):
    """One attempt-tracked delivery of an alert to one channel (the notifier's outbox)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(64))
    """The channel's scheme and index (``json#0``); never the URL, which may hold credentials."""
    target_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),)


class GatewayRecord(Base):
    """The last status each gateway published (retained ``status``, last will included)."""

    __tablename__ = "gateways"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    last_seen: Mapped[datetime]
    status: Mapped[dict[str, Any]]
