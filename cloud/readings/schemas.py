"""Response models of readings: stored, quarantined, the edge's per-minute rollups (with HRV),
and the dead letters of ingest."""

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


class HrvPublic(BaseModel):
    """Time-domain HRV of a rollup's minute (``gateway.signal.hrv``): ms, %, /min."""

    rmssd_ms: float
    sdnn_ms: float
    pnn50: float
    mean_hr: float
    n_intervals: int


class EdgeRollupPublic(BaseModel):
    """A per-minute aggregate of a continuous stream, as the gateway computed it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    gateway_id: str
    patient_id: str
    device_id: str
    metric: str
    start: datetime
    end: datetime
    count: int
    min: float
    max: float
    mean: float
    median: float | None
    last: float
    rejected: int
    hrv: HrvPublic | None
