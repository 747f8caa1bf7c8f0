"""``/fhir/r4``: a FHIR R4 server for the record — ``metadata``, ``Patient/{id}``,
``Device/{id}`` and ``Observation`` search (``patient``, ``code``, ``date``, ``_count``, paged)
— with the API's bearer tokens, organisation scope and audit, as ``application/fhir+json``;
and the organisation's Bulk Data ``$export`` (NDJSON) for its admins (``cloud.fhir.bulk``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select

from cloud import __version__
from cloud.api.deps import AdminUser, ClockDep, CurrentUser, SessionDep, SettingsDep
from cloud.api.params import IdPath
from cloud.auth.scope import audit_read, get_patient, visible_patient_ids
from cloud.errors import InvalidRequestError, NotFoundError
from cloud.fhir import bulk, resources, service
from cloud.store.tenancy import Device, Pairing

FHIR_JSON: Final = "application/fhir+json"
DEFAULT_COUNT: Final = 50
MAX_COUNT: Final = 1000

router = APIRouter(prefix="/fhir/r4", tags=["fhir"])


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir/r4"


@router.get("/metadata", response_class=FhirResponse)
def metadata(request: Request, clock: ClockDep) -> FhirResponse:
    """The CapabilityStatement: what this server supports."""
    return FhirResponse(
        resources.capability_statement(
            base=_base(request), software_version=__version__, now=clock()
        )
    )


@router.get("/Patient/{patient_id}", response_class=FhirResponse)
def read_patient(
    patient_id: IdPath, principal: CurrentUser, session: SessionDep, request: Request
) -> FhirResponse:
    row = get_patient(session, principal, patient_id)
    audit_read(session, principal, request, patient_id=row.id, rows=1)
    return FhirResponse(resources.patient(row))


@router.get("/Device/{device_id}", response_class=FhirResponse)
def read_device(
    device_id: IdPath,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
) -> FhirResponse:
    """A device of the organisation, with the patient it is paired to now (if one the caller
    may see)."""
    row = session.get(Device, device_id)
    if row is None or row.organisation_id != principal.organisation_id:
        raise NotFoundError(f"no device {device_id!r}")
    now = clock()
    patient_id = session.scalar(
        select(Pairing.patient_id).where(
            Pairing.device_id == row.id,
            Pairing.patient_id.in_(visible_patient_ids(principal)),
            Pairing.valid_from <= now,
            (Pairing.valid_to.is_(None)) | (Pairing.valid_to > now),
        )
    )
    if patient_id is None and not principal.is_staff:
        raise NotFoundError(f"no device {device_id!r}")
    audit_read(session, principal, request, patient_id=patient_id, rows=1)
    return FhirResponse(resources.device(row, patient_id))


def _split_code(value: str) -> tuple[str | None, str]:
    system, sep, code = value.partition("|")
    return (system, code) if sep else (None, value)


@router.get("/Observation", response_class=FhirResponse)
def search_observations(
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    *,
    patient: Annotated[str | None, Query(max_length=140)] = None,
    code: Annotated[str | None, Query(max_length=200)] = None,
    date: Annotated[list[str] | None, Query(max_length=4)] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=MAX_COUNT)] = DEFAULT_COUNT,
    offset: Annotated[int, Query(alias="_offset", ge=0, le=10_000_000)] = 0,
) -> FhirResponse:
    """Vital-signs Observations, newest first, as a searchset Bundle with paging links."""
    patient_id = None
    if patient is not None:
        patient_id = get_patient(session, principal, patient.removeprefix("Patient/")).id
    metrics: set[str] | None = None
    if code is not None:
        metrics = set()
        for one in code.split(","):
            metrics |= resources.metrics_for_code(*_split_code(one.strip()))
    found = service.search(
        session, principal=principal, patient_id=patient_id, metrics=metrics,
        window=service.parse_dates(date or []), count=count, offset=offset,
    )  # fmt: skip
    entries = [
        resources.observation(r, found.components.get(r.measurement_id or "", []))
        for r in found.readings
    ]
    params: dict[str, Any] = {k: v for k, v in (("patient", patient), ("code", code)) if v}
    query: list[tuple[str, Any]] = [*params.items(), *(("date", d) for d in date or [])]
    base = _base(request)

    def page(at: int) -> str:
        return f"{base}/Observation?" + urlencode([*query, ("_count", count), ("_offset", at)])

    links = {"self": page(offset)}
    if offset + count < found.total:
        links["next"] = page(offset + count)
    if offset > 0:
        links["previous"] = page(max(0, offset - count))
    audit_read(session, principal, request, patient_id=patient_id, rows=len(entries))
    return FhirResponse(resources.bundle(entries, base=base, total=found.total, links=links))


# ------------------------------------------------------------------ bulk export

JobId = Annotated[str, Path(pattern=bulk.JOB_ID.pattern)]


@router.get("/$export", status_code=202)
def bulk_export(
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    clock: ClockDep,
    *,
    prefer: Annotated[str | None, Header(max_length=200)] = None,
    type_: Annotated[str | None, Query(alias="_type", max_length=200)] = None,
    output_format: Annotated[str | None, Query(alias="_outputFormat", max_length=100)] = None,
    since: Annotated[str | None, Query(alias="_since", max_length=64)] = None,
) -> Response:
    """Kick off an export of the organisation (Bulk Data IG): the files are written now, and
    ``Content-Location`` names the status URL that lists them."""
    if prefer is None or "respond-async" not in prefer:
        raise InvalidRequestError("a bulk export needs the header 'Prefer: respond-async'")
    if output_format is not None and output_format not in bulk.OUTPUT_FORMATS:
        raise InvalidRequestError(f"_outputFormat {output_format!r}: only {bulk.NDJSON}")
    if since is not None:
        raise InvalidRequestError("_since is not supported yet: export everything")
    done = bulk.start(
        session, principal=admin, types=bulk.parse_types(type_), request_url=str(request.url),
        root=bulk.exports_dir(settings.data_dir), now=clock(),
    )  # fmt: skip
    rows = sum(int(o["count"]) for o in done.manifest["output"])
    audit_read(session, admin, request, patient_id=None, rows=rows)
    status_url = f"{_base(request)}/$export-status/{done.job_id}"
    return Response(status_code=202, headers={"Content-Location": status_url})


@router.get("/$export-status/{job_id}")
def bulk_status(
    job_id: JobId, admin: AdminUser, settings: SettingsDep, request: Request
) -> JSONResponse:
    """The manifest of a finished export: one NDJSON file per type, with its count."""
    found = bulk.manifest(
        bulk.exports_dir(settings.data_dir), job_id, organisation_id=admin.organisation_id
    )
    base = _base(request)
    found["output"] = [
        {**o, "url": f"{base}/$export-file/{job_id}/{o['type']}.ndjson"} for o in found["output"]
    ]
    return JSONResponse(found)


@router.delete("/$export-status/{job_id}", status_code=202)
def bulk_delete(job_id: JobId, admin: AdminUser, settings: SettingsDep) -> Response:
    """Delete an export's files."""
    bulk.delete(bulk.exports_dir(settings.data_dir), job_id, organisation_id=admin.organisation_id)
    return Response(status_code=202)


@router.get("/$export-file/{job_id}/{kind}.ndjson")
def bulk_file(
    job_id: JobId,
    kind: Annotated[str, Path(pattern="^(" + "|".join(bulk.TYPES) + ")$")],
    *,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> FileResponse:
    """One type's NDJSON file (audited as a read of that many resources)."""
    path, count = bulk.output_file(
        bulk.exports_dir(settings.data_dir), job_id, kind, organisation_id=admin.organisation_id
    )
    audit_read(session, admin, request, patient_id=None, rows=count)
    return FileResponse(path, media_type=bulk.NDJSON, headers={"Cache-Control": "no-store"})
