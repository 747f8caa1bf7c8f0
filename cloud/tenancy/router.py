"""``/api/v1``: patients and care teams, devices, pairings and gateways of the caller's organisation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy import or_, select

from cloud.api.deps import AdminUser, ClockDep, CurrentUser, SessionDep, StaffUser
from cloud.api.pagination import PageDep, paginate
from cloud.api.params import IdPath, IdQuery, IntPath, UtcQuery
from cloud.auth.scope import audit_read, audit_write, get_patient, visible_patient_ids
from cloud.store.models import GatewayConfigRecord, GatewayRecord
from cloud.store.tenancy import CareTeamMember, Device, Pairing, Patient
from cloud.tenancy import service
from cloud.tenancy.schemas import (
    CareTeamMemberCreate,
    CareTeamMemberPublic,
    DeviceCreate,
    DevicePublic,
    GatewayCreate,
    GatewayPublic,
    PairingCreate,
    PairingEnd,
    PairingPublic,
    PatientCreate,
    PatientPublic,
    PatientTags,
    ProgramId,
)

router = APIRouter()


@router.get("/patients", response_model=list[PatientPublic], tags=["patients"])
def list_patients(
    *,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    program_id: ProgramId | None = None,
) -> list[Patient]:
    """The patients the caller may see (a patient sees only themselves)."""
    stmt = select(Patient).where(Patient.id.in_(visible_patient_ids(principal)))
    if program_id is not None:
        stmt = stmt.where(Patient.program_id == program_id)
    rows = paginate(session, stmt.order_by(Patient.id), page, response)
    audit_read(session, principal, request, patient_id=None, rows=len(rows))
    return rows


@router.post(
    "/patients",
    response_model=PatientPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["patients"],
)
def create_patient(
    body: PatientCreate, admin: AdminUser, session: SessionDep, clock: ClockDep
) -> Patient:
    patient = service.create_patient(
        session,
        organisation_id=admin.organisation_id,
        patient_id=body.id,
        display_name=body.display_name,
        program_id=body.program_id,
        now=clock(),
    )
    session.commit()
    return patient


@router.get("/patients/{patient_id}", response_model=PatientPublic, tags=["patients"])
def read_patient(
    patient_id: IdPath, principal: CurrentUser, session: SessionDep, request: Request
) -> Patient:
    patient = get_patient(session, principal, patient_id)
    audit_read(session, principal, request, patient_id=patient.id, rows=1)
    return patient


@router.get("/patients/{patient_id}/tags", response_model=PatientTags, tags=["patients"])
def read_tags(
    patient_id: IdPath, principal: StaffUser, session: SessionDep, request: Request
) -> PatientTags:
    patient = get_patient(session, principal, patient_id)
    tags = service.tags_of(session, [patient.id])[patient.id]
    audit_read(session, principal, request, patient_id=patient.id, rows=len(tags))
    return PatientTags(tags=tags)


@router.put("/patients/{patient_id}/tags", response_model=PatientTags, tags=["patients"])
def replace_tags(
    patient_id: IdPath,
    body: PatientTags,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
) -> PatientTags:
    """Replace the patient's tags: the care team's own labels, to filter the population by
    (``GET /api/v1/population?tag=…``)."""
    patient = get_patient(session, principal, patient_id)
    tags = service.set_tags(session, patient=patient, tags=body.tags)
    audit_write(session, principal, request, patient_id=patient.id, rows=len(tags))
    session.commit()
    return PatientTags(tags=tags)


@router.get(
    "/patients/{patient_id}/care-team",
    response_model=list[CareTeamMemberPublic],
    tags=["patients"],
)
def list_care_team(
    patient_id: IdPath, principal: StaffUser, session: SessionDep, request: Request
) -> list[CareTeamMember]:
    patient = get_patient(session, principal, patient_id)
    rows = list(
        session.scalars(
            select(CareTeamMember)
            .where(CareTeamMember.patient_id == patient.id)
            .order_by(CareTeamMember.user_id)
        )
    )
    audit_read(session, principal, request, patient_id=patient.id, rows=len(rows))
    return rows


@router.post(
    "/patients/{patient_id}/care-team",
    response_model=CareTeamMemberPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["patients"],
)
def add_care_team_member(
    patient_id: IdPath,
    body: CareTeamMemberCreate,
    admin: AdminUser,
    session: SessionDep,
    clock: ClockDep,
) -> CareTeamMember:
    member = service.add_care_team_member(
        session,
        organisation_id=admin.organisation_id,
        patient=get_patient(session, admin, patient_id),
        user_id=body.user_id,
        team_role=body.team_role,
        now=clock(),
    )
    session.commit()
    return member


@router.get("/devices", response_model=list[DevicePublic], tags=["devices"])
def list_devices(
    *,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    kind: Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,32}$")] = None,
    gateway_id: IdQuery | None = None,
) -> list[Device]:
    """The organisation's devices (audited: which device is in whose home is care data)."""
    stmt = select(Device).where(Device.organisation_id == principal.organisation_id)
    if kind is not None:
        stmt = stmt.where(Device.kind == kind)
    if gateway_id is not None:
        stmt = stmt.where(Device.gateway_id == gateway_id)
    rows = paginate(session, stmt.order_by(Device.id), page, response)
    audit_read(session, principal, request, patient_id=None, rows=len(rows))
    return rows


@router.post(
    "/devices", response_model=DevicePublic, status_code=status.HTTP_201_CREATED, tags=["devices"]
)
def create_device(
    body: DeviceCreate, admin: AdminUser, session: SessionDep, clock: ClockDep
) -> Device:
    device = service.create_device(
        session,
        organisation_id=admin.organisation_id,
        device_id=body.id,
        kind=body.kind,
        address=body.address,
        gateway_id=body.gateway_id,
        now=clock(),
    )
    session.commit()
    return device


@router.get("/pairings", response_model=list[PairingPublic], tags=["devices"])
def list_pairings(
    *,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    device_id: IdQuery | None = None,
    patient_id: IdQuery | None = None,
    active_at: UtcQuery | None = None,
) -> list[Pairing]:
    """Pairings of the caller's patients; ``active_at`` keeps those valid at that instant."""
    stmt = select(Pairing).where(Pairing.patient_id.in_(visible_patient_ids(principal)))
    if device_id is not None:
        stmt = stmt.where(Pairing.device_id == device_id)
    if patient_id is not None:
        stmt = stmt.where(Pairing.patient_id == patient_id)
    if active_at is not None:
        stmt = stmt.where(
            Pairing.valid_from <= active_at,
            or_(Pairing.valid_to.is_(None), Pairing.valid_to > active_at),
        )
    rows = paginate(session, stmt.order_by(Pairing.id), page, response)
    audit_read(session, principal, request, patient_id=patient_id, rows=len(rows))
    return rows


@router.post(
    "/pairings",
    response_model=PairingPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["devices"],
)
def create_pairing(
    body: PairingCreate, admin: AdminUser, session: SessionDep, clock: ClockDep
) -> Pairing:
    pairing = service.create_pairing(
        session,
        organisation_id=admin.organisation_id,
        device_id=body.device_id,
        patient=get_patient(session, admin, body.patient_id),
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        now=clock(),
    )
    session.commit()
    return pairing


@router.post("/pairings/{pairing_id}/end", response_model=PairingPublic, tags=["devices"])
def end_pairing(
    pairing_id: IntPath,
    body: PairingEnd,
    admin: AdminUser,
    session: SessionDep,
) -> Pairing:
    pairing = service.end_pairing(
        session,
        organisation_id=admin.organisation_id,
        pairing_id=pairing_id,
        valid_to=body.valid_to,
    )
    session.commit()
    return pairing


@router.get("/gateways", response_model=list[GatewayPublic], tags=["gateways"])
def list_gateways(
    *,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    state: Annotated[str | None, Query(pattern="^(online|offline|provisioned)$")] = None,
) -> list[GatewayPublic]:
    """The organisation's gateways, their last status (``offline`` when the last will fired),
    and the config version issued to each against the one it reports running."""
    stmt = select(GatewayRecord).where(GatewayRecord.organisation_id == principal.organisation_id)
    if state is not None:
        stmt = stmt.where(GatewayRecord.state == state)
    rows = paginate(session, stmt.order_by(GatewayRecord.id), page, response)
    audit_read(session, principal, request, patient_id=None, rows=len(rows))
    issued = dict(
        session.execute(
            select(GatewayConfigRecord.gateway_id, GatewayConfigRecord.version).where(
                GatewayConfigRecord.gateway_id.in_([g.id for g in rows])
            )
        ).all()
    )
    return [
        GatewayPublic.model_validate(g).model_copy(
            update={
                "config_version": issued.get(g.id),
                "applied_config_version": (g.status or {}).get("config_version"),
            }
        )
        for g in rows
    ]


@router.post(
    "/gateways",
    response_model=GatewayPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["gateways"],
)
def provision_gateway(body: GatewayCreate, admin: AdminUser, session: SessionDep) -> GatewayRecord:
    gateway = service.provision_gateway(
        session, organisation_id=admin.organisation_id, gateway_id=body.id
    )
    session.commit()
    return gateway
