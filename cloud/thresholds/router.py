"""``/api/v1/patients/{id}/thresholds``: the rules in force, changes, history, shadow, replay.

Staff may read a patient's thresholds; clinicians and admins change them (each change a
new version, audited, published to the patient's gateways). Reads are audit-logged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.alerts.rulebook import PatientRules, RuleBook
from cloud.api.deps import ClockDep, Principal, SessionDep, StaffUser, require_role
from cloud.api.params import IdPath
from cloud.auth.scope import audit_read, audit_write, get_patient
from cloud.errors import ConflictError
from cloud.store.rules import ShadowFinding
from cloud.store.tenancy import Patient, Role
from cloud.thresholds import service
from cloud.thresholds.config import config_states, gateways_of_patient
from cloud.thresholds.schemas import (
    EffectiveRulePublic,
    GatewayConfigState,
    ReplayFinding,
    ReplayRequest,
    ReplayResult,
    RuleSetVersionPublic,
    ShadowFindingPublic,
    ThresholdsPublic,
    ThresholdsUpdate,
)
from gateway.signal.ruleset import rule_to_dict

router = APIRouter(tags=["thresholds"])

ClinicalUser = Annotated[Principal, Depends(require_role(Role.ADMIN, Role.CLINICIAN))]


def get_rulebook(request: Request) -> RuleBook:
    rulebook: RuleBook = request.app.state.services.rulebook
    return rulebook


RuleBookDep = Annotated[RuleBook, Depends(get_rulebook)]


def _public(
    session: Session, patient: Patient, rules: PatientRules, *, now: datetime
) -> ThresholdsPublic:
    row = service.latest_set(session, patient.id) if rules.version else None
    states = config_states(session, gateways_of_patient(session, patient.id, now=now))
    return ThresholdsPublic(
        patient_id=patient.id,
        program=rules.program,
        version=rules.version,
        updated_at=row.created_at if row else None,
        updated_by=row.created_by if row else None,
        note=row.note if row else None,
        overrides=list(row.overrides) if row else [],
        rules=[
            EffectiveRulePublic(
                rule_id=r.rule.rule_id,
                kind=str(rule_to_dict(r.rule)["kind"]),
                metric=r.rule.metric.value,
                mode=r.mode.value,
                locked=r.locked,
                source=r.source,
                version=r.rule.version,
                definition=rule_to_dict(r.rule),
            )
            for r in rules.rules
        ],
        gateways=[
            GatewayConfigState(
                gateway_id=gateway_id,
                config_version=record.version if record else None,
                published=bool(record and record.published_version >= record.version),
                applied_version=applied,
                applied=bool(record and applied is not None and applied >= record.version),
            )
            for gateway_id, record, applied in states
        ],
    )


@router.get("/patients/{patient_id}/thresholds", response_model=ThresholdsPublic)
def read_thresholds(
    patient_id: IdPath,
    *,
    principal: StaffUser,
    session: SessionDep,
    rulebook: RuleBookDep,
    request: Request,
    clock: ClockDep,
) -> ThresholdsPublic:
    """The rules in force for the patient: program defaults, overrides, modes, versions, and
    whether the patient's gateways run them."""
    patient = get_patient(session, principal, patient_id)
    body = _public(
        session, patient, service.rules_in_force(session, rulebook, patient), now=clock()
    )
    audit_read(session, principal, request, patient_id=patient.id, rows=len(body.rules))
    return body


@router.put("/patients/{patient_id}/thresholds", response_model=ThresholdsPublic)
def update_thresholds(
    *,
    patient_id: IdPath,
    body: ThresholdsUpdate,
    principal: ClinicalUser,
    session: SessionDep,
    rulebook: RuleBookDep,
    request: Request,
    clock: ClockDep,
) -> ThresholdsPublic:
    """Replace the patient's overrides (a new version; 409 for a rule the program locks)."""
    patient = get_patient(session, principal, patient_id)
    try:
        service.update(
            session,
            rulebook,
            patient=patient,
            overrides=body.rules,
            note=body.note,
            base_version=body.base_version,
            user_id=principal.user_id,
            now=clock(),
        )
        audit_write(session, principal, request, patient_id=patient.id, rows=len(body.rules))
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError(
            "someone changed these thresholds at the same moment; reload them and try again"
        ) from exc
    finally:
        rulebook.invalidate(patient.id)  # never keep a version that was not committed
    request.app.state.services.wake_downlink()
    return _public(
        session, patient, service.rules_in_force(session, rulebook, patient), now=clock()
    )


@router.get("/patients/{patient_id}/thresholds/history", response_model=list[RuleSetVersionPublic])
def thresholds_history(
    patient_id: IdPath, principal: StaffUser, session: SessionDep, request: Request
) -> list[RuleSetVersionPublic]:
    """Every version of the patient's overrides, newest first, with who made it and why."""
    patient = get_patient(session, principal, patient_id)
    rows = [RuleSetVersionPublic.model_validate(r) for r in service.history(session, patient.id)]
    audit_read(session, principal, request, patient_id=patient.id, rows=len(rows))
    return rows


@router.get(
    "/patients/{patient_id}/thresholds/shadow-findings",
    response_model=list[ShadowFindingPublic],
)
def shadow_findings(
    patient_id: IdPath,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ShadowFindingPublic]:
    """What the patient's shadow-mode rules found (never notified), newest first."""
    patient = get_patient(session, principal, patient_id)
    rows = [
        ShadowFindingPublic.model_validate(r)
        for r in session.scalars(
            select(ShadowFinding)
            .where(ShadowFinding.patient_id == patient.id)
            .order_by(ShadowFinding.ts.desc(), ShadowFinding.id.desc())
            .limit(limit)
        )
    ]
    audit_read(session, principal, request, patient_id=patient.id, rows=len(rows))
    return rows


@router.post("/patients/{patient_id}/thresholds/replay", response_model=ReplayResult)
def replay_thresholds(
    *,
    patient_id: IdPath,
    body: ReplayRequest,
    principal: StaffUser,
    session: SessionDep,
    rulebook: RuleBookDep,
    request: Request,
    clock: ClockDep,
) -> ReplayResult:
    """What these rules would have fired over the patient's last ``days`` days (30 by
    default), evaluated exactly as ``vitalgate-cloud replay`` does. Nothing is stored."""
    patient = get_patient(session, principal, patient_id)
    since, until = service.replay_window(body.until or clock(), body.days)
    done = service.replay(
        session,
        rulebook,
        patient=patient,
        rule_dicts=body.rules,
        overrides=body.overrides,
        since=since,
        until=until,
    )
    audit_read(session, principal, request, patient_id=patient.id, rows=done.readings)
    return ReplayResult(
        since=done.since,
        until=done.until,
        readings=done.readings,
        findings=[ReplayFinding.model_validate(f.to_row()) for f in done.findings],
    )
