"""``/api/v1/patients/{id}/preferences``: how a patient wants to be messaged.

Staff who see the patient and the patient themselves read and change them; every read and
change is audited. The channel order is the patient's contacts' ranks (``/contacts``).
"""

from __future__ import annotations

from datetime import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from cloud.api.alert_actions import ClockDep, TransportsDep
from cloud.api.params import IdPath
from cloud.auth.deps import CurrentUser, SessionDep
from cloud.auth.scope import audit_read, audit_write, get_patient
from cloud.engagement import policy, preferences
from cloud.errors import InvalidRequestError

router = APIRouter(tags=["messages"])


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


def _public(prefs: policy.Preferences) -> PreferencesPublic:
    return PreferencesPublic(
        language=prefs.language, timezone=prefs.timezone, quiet_start=prefs.quiet_start,
        quiet_end=prefs.quiet_end, daily_cap=prefs.daily_cap, channels=list(prefs.channels),
        opted_out=prefs.opted_out,
    )  # fmt: skip


@router.get("/patients/{patient_id}/preferences", response_model=PreferencesPublic)
def read_preferences(
    patient_id: IdPath,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    transports: TransportsDep,
) -> PreferencesPublic:
    """The patient's messaging preferences (defaults for what was never set)."""
    patient = get_patient(session, principal, patient_id)
    out = _public(preferences.load(session, patient.id, transports))
    audit_read(session, principal, request, patient_id=patient.id, rows=1)
    return out


@router.put("/patients/{patient_id}/preferences", response_model=PreferencesPublic)
def update_preferences(
    patient_id: IdPath,
    body: PreferencesUpdate,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    *,
    clock: ClockDep,
    transports: TransportsDep,
) -> PreferencesPublic:
    """Change the patient's language, time zone, quiet hours and daily cap (a patient may
    change their own)."""
    patient = get_patient(session, principal, patient_id)
    try:
        preferences.save(
            session, patient.id, language=body.language, timezone=body.timezone,
            quiet_start=body.quiet_start, quiet_end=body.quiet_end, daily_cap=body.daily_cap,
            actor=principal.user_id, now=clock(),
        )  # fmt: skip
    except preferences.BadPreferenceError as exc:
        raise InvalidRequestError(str(exc)) from exc
    audit_write(session, principal, request, patient_id=patient.id, rows=1)
    session.commit()
    return _public(preferences.load(session, patient.id, transports))
