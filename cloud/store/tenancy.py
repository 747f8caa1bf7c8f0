"""Who owns what: organisations, users and roles, patients and care teams, programs, devices
and their pairings, refresh tokens and the append-only audit log.

Every row that holds or leads to patient data carries an ``organisation_id``; the API
scopes every query by it (``cloud.auth.scope``). Patient, device and gateway ids are the
ids that travel on the wire, so a reading names them directly.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import WIRE_ID, Base

ORG_ID = String(64)


class Role(StrEnum):
    """What a user may see and do (``cloud.auth.scope`` says how each role is scoped)."""

    ADMIN = "admin"
    CLINICIAN = "clinician"
    CARE_COORDINATOR = "care_coordinator"
    PATIENT = "patient"


class Organisation(Base):
    """A tenant: a clinic, practice or health system. Nothing is shared between two."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(ORG_ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    retention_days: Mapped[int | None] = mapped_column(Integer)
    """Readings older than this are deleted; empty keeps them (the record's default)."""
    created_at: Mapped[datetime]


class Program(Base):
    """A care program (heart failure, COPD…) and the default thresholds it gives its patients."""

    __tablename__ = "programs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    thresholds: Mapped[dict[str, Any]]
    """Metric → ``{"high": …, "low": …}`` in the metric's canonical unit."""


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(WIRE_ID, primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    display_name: Mapped[str] = mapped_column(String(200))
    program_id: Mapped[str | None] = mapped_column(ForeignKey("programs.id"))
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Stored lower-case; the login name."""
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    """For the ``patient`` role: the one patient whose data this user may see."""
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Every token carries the generation it was issued in; raising it (log-out, a reused
    refresh token) revokes all the user's tokens at once, access tokens included."""


class PatientTag(Base):
    """A label the care team gives a patient ("post-discharge", "spanish-speaking", "cohort
    b") to filter the population by; the organisation's own vocabulary, not clinical data."""

    __tablename__ = "patient_tags"

    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class CareTeamMember(Base):
    """A user on a patient's care team (care coordinators see only their teams' patients)."""

    __tablename__ = "care_team_members"

    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    team_role: Mapped[str] = mapped_column(String(64))
    """Free text for people: "lead clinician", "night nurse"…"""
    added_at: Mapped[datetime]


class Device(Base):
    """A BLE device an organisation owns, by the id its gateway reports it under."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(WIRE_ID, primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(64))
    gateway_id: Mapped[str | None] = mapped_column(ForeignKey("gateways.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class Pairing(Base):
    """A device lent to a patient for ``[valid_from, valid_to)``; readings in it are theirs."""

    __tablename__ = "pairings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_pairings_device_from", "device_id", "valid_from"),)


class RefreshToken(Base):
    """One issued refresh token (by its ``jti``); used once, then replaced (rotation)."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WebhookSignature(Base):
    """A timestamped webhook signature already accepted: the same one again is a replay.

    Kept for the tolerance window only (``cloud.engagement.webhook``)."""

    __tablename__ = "webhook_signatures"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Hex HMAC-SHA256 over ``timestamp.body``."""
    seen_at: Mapped[datetime] = mapped_column(index=True)


class AuditEvent(Base):
    """One read of patient data: who, what, when, from where. Triggers refuse update/delete."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(Integer)
    """Kept as a plain number, not a foreign key: the log outlives the account."""
    organisation_id: Mapped[str] = mapped_column(ORG_ID)
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(200))
    """Method and path, e.g. ``GET /api/v1/patients/p-001``."""
    patient_id: Mapped[str | None] = mapped_column(WIRE_ID)
    """The patient whose data was read, or empty for a list across the caller's patients."""
    query: Mapped[str] = mapped_column(Text)
    client: Mapped[str | None] = mapped_column(String(64))
    """The caller's address as the server saw it."""
    outcome: Mapped[int] = mapped_column(Integer)
    """Rows returned."""

    __table_args__ = (
        Index("ix_audit_org_at", "organisation_id", "at"),
        Index("ix_audit_patient_at", "patient_id", "at"),
    )
