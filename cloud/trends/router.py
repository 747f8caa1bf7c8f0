"""``/api/v1/patients/{patient_id}/trends``: a metric over time, downsampled on the server."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Query, Request

from cloud.api.deps import ClockDep, CurrentUser, SessionDep
from cloud.api.params import IdPath, UtcQuery
from cloud.auth.scope import audit_read, get_patient
from cloud.errors import InvalidRequestError
from cloud.trends import service
from cloud.trends.schemas import PointPublic, TrendPublic
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
