"""Request and response models of the alert lifecycle, escalation, messages and worklist."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cloud.api.params import _utc

UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it as bad input rather than fail."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


Note = Annotated[str, Field(max_length=2000), AfterValidator(_no_nul)]
UserId = Annotated[int, Field(ge=1, le=2**31 - 1)]
Priority = Literal["high", "medium", "low"]
MAX_SNOOZE_MINUTES = 7 * 24 * 60


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


class InboundResult(BaseModel):
    status: str
    """``attached``, ``unmatched``, ``ambiguous``, ``staff``, ``duplicate``."""
    message_id: int | None
    intent: str | None = None
    task_id: int | None = None
    alert_id: int | None = None


class MessagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    patient_id: str | None
    direction: str
    channel: str
    body: str
    intent: str | None
    outcome: str
    alert_id: int | None
    at: datetime


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, Field(min_length=1, max_length=1600), AfterValidator(_no_nul)]
    """Plain language; at most ten SMS segments."""


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    patient_id: str
    reason: str
    alert_id: int | None
    message_id: int | None
    status: str
    created_at: datetime
    done_at: datetime | None
    done_by: int | None
    note: str | None


class TaskComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note | None = None


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")] | None = None
    user_id: UserId | None = None
    kind: Literal["email", "sms"]
    address: Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_no_nul)]
    rank: Annotated[int, Field(ge=0, le=100)] = 0

    @model_validator(mode="after")
    def _one_owner(self) -> ContactCreate:
        if (self.patient_id is None) == (self.user_id is None):
            raise ValueError("a contact belongs to one patient_id or one user_id")
        return self


class ContactPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    patient_id: str | None
    user_id: int | None
    kind: str
    address: str
    rank: int
    opted_out: bool
