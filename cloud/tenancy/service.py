"""Patients, care teams, devices, pairings and gateways of one organisation.

Every function takes the caller's ``organisation_id`` and refuses ids that belong to
another organisation as "not found", so tenants stay invisible to each other. Ids are one
space across organisations, so a new id can be taken by another one: the conflict says
only that the id is not available, never whose it is or what else it holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Final

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from cloud.errors import ConflictError, InvalidRequestError, NotFoundError
from cloud.store.models import GatewayRecord
from cloud.store.tenancy import (
    CareTeamMember,
    Device,
    Pairing,
    Patient,
    PatientTag,
    Program,
    User,
)


def _taken(kind: str, thing_id: str, *, mine: bool) -> ConflictError:
    """The conflict of a new id that exists: named when it is the caller's own, and
    otherwise only "not available" (whose it is, or that it is anyone's, stays unsaid)."""
    if mine:
        return ConflictError(f"{kind} {thing_id!r} already exists in your organisation")
    return ConflictError(f"this {kind} id is not available; choose another")


def create_patient(
    session: Session,
    *,
    organisation_id: str,
    patient_id: str,
    display_name: str,
    program_id: str | None,
    now: datetime,
) -> Patient:
    if program_id is not None and session.get(Program, program_id) is None:
        known = ", ".join(session.scalars(select(Program.id).order_by(Program.id)))
        raise InvalidRequestError(f"no program {program_id!r}; known programs: {known}")
    existing = session.get(Patient, patient_id)
    if existing is not None:
        raise _taken("patient", patient_id, mine=existing.organisation_id == organisation_id)
    patient = Patient(
        id=patient_id,
        organisation_id=organisation_id,
        display_name=display_name,
        program_id=program_id,
        created_at=now,
    )
    session.add(patient)
    session.flush()
    return patient


def add_care_team_member(
    session: Session,
    *,
    organisation_id: str,
    patient: Patient,
    user_id: int,
    team_role: str,
    now: datetime,
) -> CareTeamMember:
    user = session.get(User, user_id)
    if user is None or user.organisation_id != organisation_id:
        raise NotFoundError(f"no user {user_id}")
    if user.role == "patient":
        raise InvalidRequestError("a patient account cannot be on a care team")
    if session.get(CareTeamMember, (patient.id, user_id)) is not None:
        raise ConflictError(f"user {user_id} is already on this care team")
    member = CareTeamMember(
        patient_id=patient.id, user_id=user_id, team_role=team_role, added_at=now
    )
    session.add(member)
    session.flush()
    return member


TAG_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9 _-]{0,31}")
"""A tag: lower case letters, digits, space, ``-`` and ``_``, at most 32 characters."""
MAX_TAGS: Final = 12


def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Tags as stored: trimmed, lower case, inner spaces collapsed, each once, sorted; an
    invalid one is refused with its reason (nothing is silently dropped)."""
    out: set[str] = set()
    for raw in tags:
        tag = " ".join(raw.split()).lower()
        if not tag:
            continue
        if TAG_PATTERN.fullmatch(tag) is None:
            raise InvalidRequestError(
                f"tag {tag[:40]!r}: use at most 32 letters, digits, spaces, '-' or '_'"
            )
        out.add(tag)
    if len(out) > MAX_TAGS:
        raise InvalidRequestError(f"at most {MAX_TAGS} tags a patient")
    return sorted(out)


def tags_of(session: Session, patient_ids: Iterable[str]) -> dict[str, list[str]]:
    ids = sorted(set(patient_ids))
    out: dict[str, list[str]] = {p: [] for p in ids}
    if not ids:
        return out
    for patient_id, tag in session.execute(
        select(PatientTag.patient_id, PatientTag.tag)
        .where(PatientTag.patient_id.in_(ids))
        .order_by(PatientTag.patient_id, PatientTag.tag)
    ):
        out[patient_id].append(tag)
    return out


def set_tags(session: Session, *, patient: Patient, tags: Iterable[str]) -> list[str]:
    """Replace the patient's tags (the caller has checked the patient is in scope)."""
    wanted = normalise_tags(tags)
    session.execute(delete(PatientTag).where(PatientTag.patient_id == patient.id))
    session.add_all(PatientTag(patient_id=patient.id, tag=tag) for tag in wanted)
    session.flush()
    return wanted


def organisation_tags(session: Session, *, organisation_id: str) -> list[str]:
    """Every tag in use in the organisation, for a filter's choices."""
    return list(
        session.scalars(
            select(PatientTag.tag)
            .join(Patient, Patient.id == PatientTag.patient_id)
            .where(Patient.organisation_id == organisation_id)
            .distinct()
            .order_by(PatientTag.tag)
        )
    )


def owned_gateway(session: Session, *, organisation_id: str, gateway_id: str) -> GatewayRecord:
    gateway = session.get(GatewayRecord, gateway_id)
    if gateway is None or gateway.organisation_id != organisation_id:
        raise NotFoundError(f"no gateway {gateway_id!r}")
    return gateway


def provision_gateway(session: Session, *, organisation_id: str, gateway_id: str) -> GatewayRecord:
    """Register a gateway to the organisation (or claim one that spoke before provisioning)."""
    gateway = session.get(GatewayRecord, gateway_id)
    if gateway is None:
        gateway = GatewayRecord(
            id=gateway_id,
            organisation_id=organisation_id,
            state="provisioned",
            last_seen=None,
            status={},
        )
        session.add(gateway)
    elif gateway.organisation_id is None:
        gateway.organisation_id = organisation_id
    else:
        raise _taken("gateway", gateway_id, mine=gateway.organisation_id == organisation_id)
    session.flush()
    return gateway


def create_device(
    session: Session,
    *,
    organisation_id: str,
    device_id: str,
    kind: str,
    address: str | None,
    gateway_id: str | None,
    now: datetime,
) -> Device:
    if gateway_id is not None:
        owned_gateway(session, organisation_id=organisation_id, gateway_id=gateway_id)
    existing = session.get(Device, device_id)
    if existing is not None:
        raise _taken("device", device_id, mine=existing.organisation_id == organisation_id)
    device = Device(
        id=device_id,
        organisation_id=organisation_id,
        kind=kind,
        address=address,
        gateway_id=gateway_id,
        created_at=now,
    )
    session.add(device)
    session.flush()
    return device


def create_pairing(
    session: Session,
    *,
    organisation_id: str,
    device_id: str,
    patient: Patient,
    valid_from: datetime,
    valid_to: datetime | None,
    now: datetime,
) -> Pairing:
    """Lend a device to a patient; one device is never paired to two patients at once."""
    device = session.get(Device, device_id)
    if device is None or device.organisation_id != organisation_id:
        raise NotFoundError(f"no device {device_id!r}")
    if valid_to is not None and valid_to <= valid_from:
        raise InvalidRequestError("valid_to must be after valid_from")
    overlapping = session.execute(
        select(Pairing.id, Pairing.organisation_id).where(
            Pairing.device_id == device_id,
            or_(Pairing.valid_to.is_(None), Pairing.valid_to > valid_from),
            *([Pairing.valid_from < valid_to] if valid_to is not None else []),
        )
    ).first()
    if overlapping is not None:
        which = (
            f" (pairing {overlapping.id})" if overlapping.organisation_id == organisation_id else ""
        )
        raise ConflictError(
            f"device {device_id!r} is already paired in that period{which}; end that pairing first"
        )
    pairing = Pairing(
        organisation_id=organisation_id,
        device_id=device_id,
        patient_id=patient.id,
        valid_from=valid_from,
        valid_to=valid_to,
        created_at=now,
    )
    session.add(pairing)
    session.flush()
    return pairing


def end_pairing(
    session: Session, *, organisation_id: str, pairing_id: int, valid_to: datetime
) -> Pairing:
    pairing = session.get(Pairing, pairing_id)
    if pairing is None or pairing.organisation_id != organisation_id:
        raise NotFoundError(f"no pairing {pairing_id}")
    if valid_to <= pairing.valid_from:
        raise InvalidRequestError("valid_to must be after the pairing's valid_from")
    if pairing.valid_to is not None and pairing.valid_to < valid_to:
        raise InvalidRequestError("a pairing can be shortened, not extended; pair the device again")
    pairing.valid_to = valid_to
    return pairing
