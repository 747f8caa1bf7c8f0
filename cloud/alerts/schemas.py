"""Request and response models of alerts: the alert, its lifecycle actions and history, and
the escalation chains."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.api.params import Note, UserId, UtcTime

Priority = Literal["high", "medium", "low"]
MAX_SNOOZE_MINUTES = 7 * 24 * 60


class AlertPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    patient_id: str
    rule_id: str
    rule_version: int
    category: str
    priority: str
    metric: str
    status: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    first_value: float
    last_value: float
    worst_value: float
    count: int
    evidence: dict[str, Any]
    acknowledged_at: datetime | None = None
    acknowledged_by: int | None = None
    snoozed_until: datetime | None = None
    assigned_to: int | None = None
    escalation_step: int = 0
    """How many steps of the escalation chain have been notified."""


class SnoozeRequest(BaseModel):
    """Snooze until a time, or for some minutes (one of the two)."""

    model_config = ConfigDict(extra="forbid")

    until: UtcTime | None = None
    minutes: Annotated[int, Field(ge=1, le=MAX_SNOOZE_MINUTES)] | None = None

    @model_validator(mode="after")
    def _one(self) -> SnoozeRequest:
        if (self.until is None) == (self.minutes is None):
            raise ValueError("give either 'until' (a time with its zone) or 'minutes'")
        return self


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note | None = None


class AlertEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    alert_id: int
    at: datetime
    action: str
    actor_user_id: int | None
    channel: str
    detail: dict[str, Any]


class StepModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["care_coordinator", "clinician", "admin", "on_call"]
    delay_minutes: Annotated[float, Field(ge=0, le=7 * 24 * 60)]
    """After the alert opened (not after the previous step)."""
    user_ids: Annotated[list[UserId], Field(max_length=50)] = []

    @model_validator(mode="after")
    def _on_call_named(self) -> StepModel:
        if self.role == "on_call" and not self.user_ids:
            raise ValueError("an on_call step names the people on call in 'user_ids'")
        return self


class ChainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: Annotated[list[StepModel], Field(min_length=1, max_length=10)]

    @model_validator(mode="after")
    def _ordered(self) -> ChainRequest:
        delays = [s.delay_minutes for s in self.steps]
        if delays != sorted(delays):
            raise ValueError("step delays count from the alert's opening: they must not decrease")
        return self


class StepPublic(BaseModel):
    role: str
    delay_minutes: float
    user_ids: list[int]


class ChainPublic(BaseModel):
    priority: Priority
    steps: list[StepPublic]
    custom: bool
    """False: the default chain (the organisation has not set its own)."""
