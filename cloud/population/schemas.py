"""Response model of the population view (``PatientRowPublic``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class LatestPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    metric: str
    value: float
    ts: datetime
    direction: str


class PatientRowPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    patient_id: str
    display_name: str
    program: str | None
    clinical_alerts: dict[str, int]
    """Open clinical and missing-data alerts by priority."""
    device_alerts: int
    gateway_problems: list[str]
    """Gateways of the patient's current pairings that are offline."""
    last_reading_at: datetime | None
    latest: list[LatestPublic]
    news2: int | None
    news2_risk: str | None
    news2_missing: list[str]
    data_days: int
    """Days with physiologic readings in the last 30 (16 are needed for 99454)."""
    adherent: bool
    tags: list[str]
    """The care team's labels for the patient (``PUT /api/v1/patients/{id}/tags``)."""
