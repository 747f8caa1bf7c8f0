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


class AgpPublic(BaseModel):
    """Percentiles of glucose (mg/dL) by time of day; null where a bin has no reading."""

    bin_start_min: list[float]
    p5: list[float | None]
    p25: list[float | None]
    p50: list[float | None]
    p75: list[float | None]
    p95: list[float | None]
    count: list[int]
    timezone: str = "UTC"
    """The time zone of the time of day: the patient's (their preferences), UTC by default."""


class GlucosePublic(BaseModel):
    """The international consensus metrics (Battelino et al. 2019) over the last 14 days:
    percent of readings below 54 and 70 mg/dL, in 70–180, above 180 and 250; mean, GMI (%),
    CV (%), sensor wear (% of expected 5-minute readings); and the AGP."""

    patient_id: str
    since: datetime
    until: datetime
    readings: int
    tbr_54: float
    tbr_70: float
    tir: float
    tar_180: float
    tar_250: float
    mean_mg_dl: float
    gmi: float
    cv: float
    wear: float
    agp: AgpPublic
