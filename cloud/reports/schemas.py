"""Request and response models of time logging and the billing and engagement reports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from cloud.api.params import UtcTime

Month = Annotated[str, Field(pattern=r"^2\d{3}-(0[1-9]|1[0-2])$")]
ReportDay = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2999, 12, 1))]


class TimeEntryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: Annotated[int, Field(ge=1, le=480)]
    interactive: bool = False
    """A real-time conversation with the patient (or caregiver) took place."""
    at: UtcTime | None = None
    """When the work was done (default: now); its calendar month (UTC) is the billing month."""
    note: Annotated[str, Field(max_length=500)] | None = None


class TimeEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    patient_id: str
    user_id: int
    at: datetime
    minutes: int
    interactive: bool
    note: str | None


class BillingRow(BaseModel):
    patient_id: str
    days_with_data: int
    """Days with readings in the 30-day device-supply period starting on the 1st."""
    supply_code: str | None
    """``99454`` (16–30 days), ``99445`` (2–15 days) or none, as of the report."""
    projected_days: float
    at_risk: bool
    """Will miss 16 days at the current pace, although it is still possible."""
    minutes: int
    interactive: bool
    management_codes: list[str]
    """``99470`` (10 min), or ``99457`` (20 min) plus one ``99458`` per further 20 min."""


class BillingReport(BaseModel):
    organisation_id: str
    month: str
    period_start: date
    period_end: date
    """Last day of the 30-day device-supply period."""
    as_of: date
    patients: list[BillingRow]
    totals: dict[str, int]
    """How many patients earn each code."""


class EngagementRow(BaseModel):
    patient_id: str
    adherence_days: int
    """Days with readings among the last 30."""
    last_reading: date | None
    stopped_measuring: bool
    at_risk: bool
    minutes_this_month: int
    messages_sent: int = 0
    """Messages delivered to the patient in the last 30 days (prompts)."""
    replies: int = 0
    """The patient's messages in the last 30 days."""
    reply_rate: float | None = None
    """Share of prompts answered within a day (before the next prompt)."""
    median_reply_s: float | None = None
    plans_acknowledged: int = 0
    """Replies "1" (I feel fine, I follow the plan) in the last 30 days."""
    ratings: int = 0
    mean_rating: float | None = None
    """The one-question rating, 0–10, last 30 days."""
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    nps: float | None = None


class EngagementReport(BaseModel):
    organisation_id: str
    as_of: date
    patients: list[EngagementRow]
    summary: dict[str, float | int | None]
