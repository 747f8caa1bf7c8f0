"""The patient page's "Download AGP report (PDF)" link: the API's glucose PDF, for a signed-in
member of the care team (cookie session), through the same function and audit."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from cloud.api.deps import ClockDep, SessionDep
from cloud.api.params import IdPath
from cloud.trends.router import glucose_pdf
from cloud.web import session as web

router = APIRouter(include_in_schema=False)


@router.get("/patients/{patient_id}/glucose/agp.pdf")
def agp_report(
    patient_id: IdPath,
    user: web.StaffPage,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
) -> Response:
    return glucose_pdf(session, user.principal, request, patient_id=patient_id, now=clock())
