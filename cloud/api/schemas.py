"""Response models of the HTTP API (``XPublic``: what a caller may see)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ReadingPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    patient_id: str
    device_id: str
    gateway_id: str
    metric: str
    value: float
    unit: str
    ts: datetime
    measurement_id: str | None
    usable: bool
    quality: dict[str, Any]


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


class DeadLetterPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    received_at: datetime
    topic: str
    reason: str
    size: int


class QuarantinedReadingPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    gateway_id: str
    patient_id: str
    device_id: str
    metric: str
    value: float
    unit: str
    ts: datetime
    received_at: datetime
    reason: str


class ErrorBody(BaseModel):
    """Every refusal: a message for people and a code for programs."""

    detail: str | list[dict[str, Any]]
    code: str


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}
