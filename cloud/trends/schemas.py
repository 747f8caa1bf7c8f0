"""Response model of a trend (``TrendPublic``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class PointPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ts: datetime
    value: float


class TrendPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    patient_id: str
    metric: str
    since: datetime
    until: datetime
    resolution: str
    """``raw`` readings, or ``hour`` / ``day`` means (``min`` and ``max`` are always real readings)."""
    source_points: int
    points: list[PointPublic]
    min: PointPublic | None
    max: PointPublic | None
