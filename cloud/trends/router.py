"""``/api/v1/patients/{patient_id}/trends``: a metric over time, downsampled on the server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

import numpy as np
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from cloud.api.deps import ClockDep, CurrentUser, Principal, SessionDep
from cloud.api.params import IdPath, UtcQuery
from cloud.auth.scope import audit_read, get_patient
from cloud.errors import InvalidRequestError, NotFoundError
from cloud.trends import service
from cloud.trends.agp_pdf import agp_pdf
from cloud.trends.glucose import GlucoseReport, glucose_report
from cloud.trends.schemas import AgpPublic, GlucosePublic, PointPublic, TrendPublic
from gateway.wire import Metric

router = APIRouter()
DEFAULT_SPAN: Final = timedelta(days=7)
MAX_SPAN: Final = timedelta(days=3 * 366)


@router.get("/patients/{patient_id}/trends", response_model=TrendPublic, tags=["readings"])
def read_trend(
    *,
    patient_id: IdPath,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    metric: Metric,
    clock: ClockDep,
    since: UtcQuery | None = None,
    until: UtcQuery | None = None,
    points: Annotated[
        int, Query(ge=service.MIN_POINTS, le=5000, description="At most this many points.")
    ] = 1000,
) -> TrendPublic:
    """One metric in ``[since, until)`` (default: the last 7 days) in at most ``points`` points.

    Downsampled with LTTB; the minimum and maximum readings are always among the points.
    """
    until = (until or clock()).astimezone(UTC)
    since = (since or until - DEFAULT_SPAN).astimezone(UTC)
    if since >= until:
        raise InvalidRequestError("since must be before until")
    if until - since > MAX_SPAN:
        raise InvalidRequestError("a trend spans at most 3 years; ask for a shorter range")
    patient = get_patient(session, principal, patient_id)
    result = service.trend(
        session,
        patient_id=patient.id,
        metric=metric.value,
        since=since,
        until=until,
        points=points,
    )
    audit_read(session, principal, request, patient_id=patient.id, rows=len(result.points))

    def public(p: service.Point | None) -> PointPublic | None:
        return None if p is None else PointPublic(ts=p.ts, value=p.value)

    return TrendPublic(
        patient_id=patient.id,
        metric=metric.value,
        since=since,
        until=until,
        resolution=result.resolution,
        source_points=result.source_points,
        points=[PointPublic(ts=p.ts, value=p.value) for p in result.points],
        min=public(result.min),
        max=public(result.max),
    )


def glucose_public(patient_id: str, report: GlucoseReport) -> GlucosePublic:
    """The report as the API (and the web app's AGP chart) gives it."""

    def listed(values: np.ndarray) -> list[float | None]:
        return [None if np.isnan(v) else round(float(v), 1) for v in values]

    s, agp = report.summary, report.agp
    return GlucosePublic(
        patient_id=patient_id, since=report.since, until=report.until, readings=s.n_readings,
        tbr_54=round(s.tbr_54, 1), tbr_70=round(s.tbr_70, 1), tir=round(s.tir, 1),
        tar_180=round(s.tar_180, 1), tar_250=round(s.tar_250, 1),
        mean_mg_dl=round(s.mean_mg_dl, 1), gmi=round(s.gmi, 2), cv=round(s.cv, 1),
        wear=round(s.wear, 1),
        agp=AgpPublic(
            bin_start_min=[float(b) for b in agp.bin_start_min], p5=listed(agp.p5),
            p25=listed(agp.p25), p50=listed(agp.p50), p75=listed(agp.p75), p95=listed(agp.p95),
            count=[int(c) for c in agp.count], timezone=report.timezone,
        ),
    )  # fmt: skip


@router.get("/patients/{patient_id}/glucose", response_model=GlucosePublic, tags=["readings"])
def read_glucose(
    patient_id: IdPath,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
) -> GlucosePublic:
    """Time in range, GMI, CV, wear and the AGP of the last 14 days of glucose readings
    (404 when there are fewer than about two days of continuous readings)."""
    patient = get_patient(session, principal, patient_id)
    report = glucose_report(session, patient_id=patient.id, now=clock())
    if report is None:
        raise NotFoundError(f"patient {patient.id!r} has too few glucose readings for a report")
    audit_read(session, principal, request, patient_id=patient.id, rows=report.summary.n_readings)
    return glucose_public(patient.id, report)


def glucose_pdf(
    session: Session, principal: Principal, request: Request, *, patient_id: str, now: datetime
) -> Response:
    """The 14-day glucose report of a patient the caller may see, as a PDF attachment,
    audited like the JSON report (the API route and the web app's link both answer with it)."""
    patient = get_patient(session, principal, patient_id)
    report = glucose_report(session, patient_id=patient.id, now=now)
    if report is None:
        raise NotFoundError(f"patient {patient.id!r} has too few glucose readings for a report")
    audit_read(session, principal, request, patient_id=patient.id, rows=report.summary.n_readings)
    pdf = agp_pdf(name=patient.display_name, patient_id=patient.id, report=report, now=now)
    filename = f"agp-{patient.id}-{report.until:%Y%m%d}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/patients/{patient_id}/glucose/agp.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "A one-page PDF."}},
    tags=["readings"],
)
def read_glucose_pdf(
    patient_id: IdPath,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
) -> Response:
    """The same 14-day report as a PDF to file: patient, period, time in ranges with the
    consensus targets, mean, GMI, CV and the AGP chart (404 as for the JSON report)."""
    return glucose_pdf(session, principal, request, patient_id=patient_id, now=clock())
