"""``/api/v1/population``: the patients a caller may see, ranked by need."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from cloud.api.deps import ClockDep, SessionDep, StaffUser
from cloud.auth.scope import audit_read
from cloud.population import service
from cloud.population.schemas import PatientRowPublic

router = APIRouter(tags=["patients"])

ProgramQuery = Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]+$")]
SearchQuery = Annotated[str | None, Query(max_length=100)]


@router.get("/population", response_model=list[PatientRowPublic])
def read_population(
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    *,
    program: ProgramQuery = None,
    care_team_user: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    search: SearchQuery = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
) -> list[PatientRowPublic]:
    """Every patient, most in need first: open alerts by priority, NEWS2 where the inputs
    exist, device and gateway problems apart, adherence and the latest value of each metric."""
    filters = service.Filters(
        program=program, care_team_user=care_team_user, search=search, tag=tag
    )
    rows = service.population(session, principal=principal, now=clock(), filters=filters)
    audit_read(session, principal, request, patient_id=None, rows=len(rows))
    return [PatientRowPublic.model_validate(row) for row in rows]
