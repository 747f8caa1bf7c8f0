"""``/api/v1/admin``: the organisation's retention, and erasing a patient on request (admins only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request

from cloud.admin.schemas import ErasurePublic, RetentionPublic, RetentionUpdate
from cloud.api.deps import AdminUser, ClockDep, SessionDep
from cloud.api.params import IdPath
from cloud.errors import NotFoundError
from cloud.store import retention
from cloud.store.influx import TimeSeriesError, TimeSeriesStore
from cloud.store.sink import finish_series_deletions
from cloud.store.tenancy import Organisation

router = APIRouter(prefix="/admin", tags=["admin"])


def _timeseries(request: Request) -> TimeSeriesStore | None:
    store: TimeSeriesStore | None = request.app.state.services.timeseries
    return store


TimeSeriesDep = Annotated[TimeSeriesStore | None, Depends(_timeseries)]


@router.get("/retention", response_model=RetentionPublic)
def read_retention(admin: AdminUser, session: SessionDep) -> RetentionPublic:
    org = session.get(Organisation, admin.organisation_id)
    if org is None:
        raise NotFoundError(f"no organisation {admin.organisation_id!r}")
    return RetentionPublic(organisation_id=org.id, days=org.retention_days)


@router.put("/retention", response_model=RetentionPublic)
def set_retention(body: RetentionUpdate, admin: AdminUser, session: SessionDep) -> RetentionPublic:
    """Set how long the organisation's data is kept; ``vitalgate-cloud purge`` applies it."""
    org = session.get(Organisation, admin.organisation_id)
    if org is None:
        raise NotFoundError(f"no organisation {admin.organisation_id!r}")
    org.retention_days = body.days
    session.commit()
    return RetentionPublic(organisation_id=org.id, days=org.retention_days)


@router.post("/patients/{patient_id}/erase", response_model=ErasurePublic)
def erase_patient(
    patient_id: IdPath,
    *,
    clock: ClockDep,
    admin: AdminUser,
    session: SessionDep,
    request: Request,
    store: TimeSeriesDep,
) -> ErasurePublic:
    """Erase a patient and all their data from every store. Irreversible; the erasure is audited."""
    removed = retention.erase_patient(
        session,
        organisation_id=admin.organisation_id,
        patient_id=patient_id,
        actor_user_id=admin.user_id,
        actor_role=admin.role.value,
        client=admin.client,
        now=clock(),
    )
    session.commit()
    state: Literal["deleted", "pending", "not configured"] = "not configured"
    if store is not None:
        try:
            finish_series_deletions(request.app.state.services.sessions, store)
            state = "deleted"
        except TimeSeriesError:
            state = "pending"
    return ErasurePublic(patient_id=patient_id, removed=removed, timeseries=state)
