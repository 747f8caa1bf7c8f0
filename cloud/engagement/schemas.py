"""Request and response models of the conversation: messages, replies, the worklist,
contacts and a patient's messaging preferences."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cloud.api.params import IdField, Note, UserId, no_nul
from cloud.engagement import policy


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

    body: Annotated[str, Field(min_length=1, max_length=1600), AfterValidator(no_nul)]
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

    patient_id: IdField | None = None
    user_id: UserId | None = None
    kind: Literal["email", "sms"]
    address: Annotated[str, Field(min_length=3, max_length=254), AfterValidator(no_nul)]
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


class PreferencesUpdate(BaseModel):
    language: str = Field(default="en", min_length=2, max_length=8, examples=["es"])
    timezone: str = Field(default="UTC", max_length=64, examples=["America/Chicago"])
    quiet_start: time = policy.DEFAULT_QUIET_START
    quiet_end: time = policy.DEFAULT_QUIET_END
    daily_cap: int = Field(default=policy.DEFAULT_DAILY_CAP, ge=0, le=20)


class PreferencesPublic(PreferencesUpdate):
    channels: list[str]
    """Contact kinds in the order tried; from the contacts' ranks."""
    opted_out: bool
    """Every contact said STOP: no message is sent (``channels`` empty: none can be)."""


class PatientLinkPublic(BaseModel):
    url: str
    """Opens the patient's own page without an account; send it to the patient only."""
    expires_at: datetime
