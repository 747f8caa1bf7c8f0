"""What happens to an alert after it opens, and the conversation around it.

* ``alert_events``: the alert's history — who acknowledged, snoozed, escalated, assigned or
  resolved it, when, and from which channel (API, e-mailed link, SMS reply, scheduler).
* ``escalation_chains``: per organisation and priority, who is told and after how long.
* ``contacts``: how to reach a person (a user or a patient): e-mail, SMS…, in order of
  preference; an opt-out (STOP) is kept per address, as carriers require.
* ``messages``: every message to or from a patient or a care-team member, the thread.
* ``patient_preferences``: language, time zone, quiet hours, daily cap of patient messages.
* ``tasks``: the coordinators' worklist ("please call me", a reply a person must read).
"""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import WIRE_ID, Base
from cloud.store.tenancy import ORG_ID


class AlertEvent(Base):
    """One step in an alert's life: ``opened``, ``acknowledged``, ``snoozed``, ``escalated``,
    ``notified``, ``assigned``, ``resolved``, ``reply``…"""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(32))
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    """Who did it (a plain number: the history outlives the account); empty for the system."""
    channel: Mapped[str] = mapped_column(String(32))
    """``api``, ``link`` (the e-mailed acknowledge link), ``sms``, ``scheduler``, ``ingest``."""
    detail: Mapped[dict[str, Any]]

    __table_args__ = (Index("ix_alert_events_alert_at", "alert_id", "at"),)


class EscalationChain(Base):
    """An organisation's chain for one priority: steps ``[{role, delay_s, user_ids}]``."""

    __tablename__ = "escalation_chains"

    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    priority: Mapped[str] = mapped_column(String(8), primary_key=True)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(Integer)


class Contact(Base):
    """One way to reach a user or a patient (exactly one of the two is set)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    patient_id: Mapped[str | None] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    """``email`` or ``sms`` (a transport in ``VG_CONTACT_URLS``)."""
    address: Mapped[str] = mapped_column(String(254))
    """Normalised: e-mail lower-case, phone numbers as ``+`` and digits."""
    rank: Mapped[int] = mapped_column(Integer, default=0)
    """Lower first: the preferred channel, then the fallbacks."""
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_contacts_kind_address", "kind", "address"),)


class Message(Base):
    """A message in a patient's (or a care-team member's) thread; the body stays here, never
    in logs."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str | None] = mapped_column(ORG_ID, index=True)
    """Empty for a message from an address nobody is known by."""
    patient_id: Mapped[str | None] = mapped_column(WIRE_ID)
    user_id: Mapped[int | None] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8))
    """``inbound`` or ``outbound``."""
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(16))
    """For an inbound reply: ``feels_fine``, ``call_me``, ``opt_out``… (``cloud.engagement.replies``)."""
    outcome: Mapped[str] = mapped_column(String(16))
    """``attached`` (to the patient's thread), ``unmatched``, ``ambiguous``, ``staff``, ``sent``."""
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    provider_id: Mapped[str | None] = mapped_column(String(128))
    """The provider's message id: a webhook delivered twice is recorded once."""
    at: Mapped[datetime]
    kind: Mapped[str | None] = mapped_column(String(24), default=None)
    """For a scheduled patient message: ``remeasure``, ``adherence_nudge``, ``weekly_summary``,
    ``rating`` (``cloud.engagement.patient_messages``); empty for a person's message."""
    rating: Mapped[int | None] = mapped_column(Integer, default=None)
    """For an inbound answer to a rating question: 0–10."""

    __table_args__ = (
        Index("ix_messages_patient_at", "patient_id", "at"),
        Index("ix_messages_patient_kind_at", "patient_id", "kind", "at"),
        UniqueConstraint("provider_id", name="uq_messages_provider_id"),
    )


class PatientPreferences(Base):
    """How a patient wants to be messaged; the channel order is their contacts' ranks."""

    __tablename__ = "patient_preferences"

    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))
    quiet_start: Mapped[time] = mapped_column(Time)
    quiet_end: Mapped[time] = mapped_column(Time)
    daily_cap: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(Integer)


class TaskStatus(StrEnum):
    """A worklist task is open until someone on the care team marks it done."""

    OPEN = "open"
    DONE = "done"


class Task(Base):
    """A worklist item for the care team: call the patient, read what they wrote."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(32))
    """``call_me`` or ``read_reply``."""
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(8))
    """A ``TaskStatus``: ``open`` or ``done``."""
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_by: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_tasks_org_status", "organisation_id", "status", "created_at"),)
