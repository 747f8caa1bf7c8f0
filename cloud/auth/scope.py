"""Which patients a caller may see, as SQL to put in every query, and the audit of reads.

* admin and clinician: every patient of their organisation;
* care coordinator: the patients whose care team they are on;
* patient: only themselves.

A patient outside the caller's scope is "not found", exactly like one that does not exist,
so ids from another organisation reveal nothing. Such refusals are audited all the same
(``audit_refusal``): reaching for another organisation's ids is what an auditor looks for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import structlog
from fastapi import Request
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.api.deps import Principal
from cloud.errors import NotFoundError
from cloud.store.models import Alert
from cloud.store.tenancy import AuditEvent, CareTeamMember, Patient, Role

log = structlog.get_logger(__name__)

MAX_AUDIT_QUERY = 2000


def visible_patient_ids(principal: Principal) -> Select[str]:
    """A subquery of the patient ids this caller may see."""
    stmt = select(Patient.id).where(Patient.organisation_id == principal.organisation_id)
    if principal.role == Role.PATIENT:
        return stmt.where(Patient.id == (principal.patient_id or ""))
    if principal.role == Role.CARE_COORDINATOR:
        team = select(CareTeamMember.patient_id).where(CareTeamMember.user_id == principal.user_id)
        return stmt.where(Patient.id.in_(team))
    return stmt


def get_patient(session: Session, principal: Principal, patient_id: str) -> Patient:
    """The patient, if this caller may see them; otherwise ``NotFoundError``."""
    patient = session.scalars(
        select(Patient).where(
            Patient.id == patient_id, Patient.id.in_(visible_patient_ids(principal))
        )
    ).first()
    if patient is None:
        raise NotFoundError(f"no patient {patient_id!r}", patient_id=patient_id)
    return patient


def get_alert(session: Session, principal: Principal, alert_id: int) -> Alert:
    """The alert, if this caller may see its patient; otherwise ``NotFoundError``."""
    alert = session.scalars(
        select(Alert).where(
            Alert.id == alert_id, Alert.patient_id.in_(visible_patient_ids(principal))
        )
    ).first()
    if alert is None:
        raise NotFoundError(f"no alert {alert_id}")
    return alert


def audit_read(
    session: Session,
    principal: Principal,
    request: Request,
    *,
    patient_id: str | None,
    rows: int,
) -> None:
    """Append who read what, when and from where, and commit it before the data leaves.

    If the audit row cannot be written, the read fails: no unaudited access to patient data.
    """
    session.add(_event(principal, request, "read", patient_id=patient_id, rows=rows))
    session.commit()


def audit_write(
    session: Session,
    principal: Principal,
    request: Request,
    *,
    patient_id: str | None,
    rows: int,
) -> None:
    """Append who changed what, in the caller's transaction: the change and its audit row
    commit together or not at all."""
    session.add(_event(principal, request, "write", patient_id=patient_id, rows=rows))


def audit_refusal(
    sessions: sessionmaker[Session],
    principal: Principal,
    request: Request,
    *,
    refusal: NotFoundError,
) -> None:
    """Record a "not found" answered to a signed-in caller (another organisation's id, or
    one that does not exist: the answer does not tell them apart, the audit keeps the id).

    Written in a session of its own, since the request's is rolled back; a failure to
    write is logged, and the caller still gets the refusal.
    """
    event = _event(principal, request, "refused", patient_id=refusal.patient_id, rows=0)
    detail = "refused=" + quote(str(refusal), safe="")
    event.query = "&".join(q for q in (event.query, detail) if q)[:MAX_AUDIT_QUERY]
    try:
        with sessions() as session, session.begin():
            session.add(event)
    except Exception as exc:  # the refusal must still be answered
        log.error("audit.refusal_not_written", error=type(exc).__name__, path=request.url.path)


def _event(
    principal: Principal, request: Request, action: str, *, patient_id: str | None, rows: int
) -> AuditEvent:
    return AuditEvent(
        at=datetime.now(UTC),
        user_id=principal.user_id,
        organisation_id=principal.organisation_id,
        role=principal.role.value,
        action=action,
        resource=f"{request.method} {request.url.path}"[:200],
        patient_id=patient_id,
        query=str(request.url.query)[:MAX_AUDIT_QUERY],
        client=principal.client,
        outcome=rows,
    )
