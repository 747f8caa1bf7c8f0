"""Request and response models of the organisation's administration: retention and erasure."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MAX_RETENTION_DAYS = 36_500


class RetentionUpdate(BaseModel):
    days: int | None = Field(ge=1, le=MAX_RETENTION_DAYS)
    """Keep this many days of readings, rollups, resolved alerts and quarantine; null keeps all."""


class RetentionPublic(BaseModel):
    organisation_id: str
    days: int | None


class ErasurePublic(BaseModel):
    patient_id: str
    removed: dict[str, int]
    """Rows removed from the record, by table."""
    timeseries: Literal["deleted", "pending", "not configured"]
    """``pending``: the time-series store did not answer; the sink finishes the delete later."""
