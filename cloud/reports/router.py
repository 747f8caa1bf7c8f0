"""``/api/v1``: clinician time per patient, and the billing and engagement reports.

Reports cover the patients the caller may see (a care coordinator: their teams'); each is
audit-logged like any read of patient data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from cloud.api.deps import ClockDep, SessionDep, StaffUser
from cloud.api.params import IdPath
from cloud.auth.scope import audit_read, audit_write, get_patient, visible_patient_ids
from cloud.reports import service
from cloud.reports.schemas import (
    BillingReport,
    EngagementReport,
    Month,
    ReportDay,
    TimeEntryCreate,
    TimeEntryPublic,
)
from cloud.store.timelog import TimeEntry

router = APIRouter()


@router.post(
    "/patients/{patient_id}/time",
    response_model=TimeEntryPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["reports"],
)
def log_time(
    patient_id: IdPath,
    *,
    clock: ClockDep,
    body: TimeEntryCreate,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
) -> TimeEntry:
    """Log minutes spent on the patient's care (toward 99470 / 99457 / 99458)."""
    patient = get_patient(session, principal, patient_id)
    entry = service.log_time(
        session, patient=patient, user_id=principal.user_id, minutes=body.minutes,
        interactive=body.interactive, note=body.note, at=body.at, now=clock(),
    )  # fmt: skip
    audit_write(session, principal, request, patient_id=patient.id, rows=1)
    session.commit()
    return entry


def _patients(session: SessionDep, principal: StaffUser) -> list[str]:
    return list(session.scalars(visible_patient_ids(principal)))


@router.get("/reports/billing", response_model=BillingReport, tags=["reports"])
def billing_report(
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    month: Annotated[Month, Query(description="YYYY-MM")],
    *,
    clock: ClockDep,
    as_of: Annotated[
        ReportDay | None, Query(description="Report as of this day (default: today)")
    ] = None,
) -> BillingReport:
    """Billing readiness for a calendar month: device-supply days and management time."""
    ids = _patients(session, principal)
    report = service.billing_report(
        session,
        organisation_id=principal.organisation_id,
        patient_ids=ids,
        month=month,
        today=as_of or clock().date(),
    )
    audit_read(session, principal, request, patient_id=None, rows=len(report.patients))
    return report


@router.get("/reports/engagement", response_model=EngagementReport, tags=["reports"])
def engagement_report(
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    *,
    clock: ClockDep,
    as_of: Annotated[
        ReportDay | None, Query(description="Report as of this day (default: today)")
    ] = None,
) -> EngagementReport:
    """Adherence, retention, billing risk and time per patient, with the organisation's
    summary."""
    ids = _patients(session, principal)
    report = service.engagement_report(
        session,
        organisation_id=principal.organisation_id,
        patient_ids=ids,
        today=as_of or clock().date(),
    )
    audit_read(session, principal, request, patient_id=None, rows=len(report.patients))
    return report
