"""Clinician time logged per patient (toward the CMS management-time codes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import Base


class TimeEntry(Base):
    """Minutes a care-team member spent on one patient, and whether they spoke with them."""

    __tablename__ = "time_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Integer)
    """Kept as a plain number like the audit log: the record outlives the account."""
    at: Mapped[datetime]
    """When the work was done (its month is the billing month)."""
    minutes: Mapped[int] = mapped_column(Integer)
    interactive: Mapped[bool] = mapped_column(Boolean)
    """A real-time (synchronous) conversation with the patient or caregiver took place."""
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_time_entries_org_at", "organisation_id", "at"),)
