"""``/api/v1/alerts``: the list and one alert with its explanation; acknowledge, snooze,
escalate, assign, resolve, history; the e-mailed acknowledge link; the organisation's
escalation chains.

Reading alerts needs a signed-in user who may see the patient. Actions need a care-team role (not a patient) and an alert of a patient the caller may see;
anything else is "not found", like an alert that does not exist. Each action is recorded in
the alert's history and, as it returns the alert, audited as a read.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts import escalation, history, lifecycle, links
from cloud.alerts.chains import Step
from cloud.alerts.schemas import (
    AlertEventPublic,
    AlertPublic,
    AssignRequest,
    ChainPublic,
    ChainRequest,
    Priority,
    ResolveRequest,
    SnoozeRequest,
    StepPublic,
)
from cloud.api.deps import (
    AdminUser,
    ClockDep,
    CurrentUser,
    Principal,
    SessionDep,
    SettingsDep,
    StaffUser,
    TransportsDep,
)
from cloud.api.params import IdQuery, IntPath
from cloud.auth.scope import audit_read, get_alert, get_patient, visible_patient_ids
from cloud.errors import NotFoundError
from cloud.store.models import Alert, AlertStatus, AuditEvent, EscalationChain
from cloud.store.tenancy import Patient, User

router = APIRouter()
API_CHANNEL = "api"
LINK_CHANNEL = "link"


@router.get("/alerts", response_model=list[AlertPublic], tags=["alerts"])
def list_alerts(
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    *,
    status: AlertStatus | None = None,
    patient_id: IdQuery | None = None,
    assigned_to: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Alert]:
    """Alerts, newest first, with their explanation (``assigned_to``: one person's)."""
    stmt = select(Alert).where(Alert.patient_id.in_(visible_patient_ids(principal)))
    one = get_patient(session, principal, patient_id).id if patient_id is not None else None
    if one is not None:
        stmt = stmt.where(Alert.patient_id == one)
    if status is not None:
        stmt = stmt.where(Alert.status == status)
    if assigned_to is not None:
        stmt = stmt.where(Alert.assigned_to == assigned_to)
    rows = list(session.scalars(stmt.order_by(Alert.id.desc()).limit(limit)))
    audit_read(session, principal, request, patient_id=one, rows=len(rows))
    return rows


@router.get("/alerts/{alert_id}", response_model=AlertPublic, tags=["alerts"])
def read_alert(
    alert_id: IntPath, principal: CurrentUser, session: SessionDep, request: Request
) -> Alert:
    alert = get_alert(session, principal, alert_id)
    audit_read(session, principal, request, patient_id=alert.patient_id, rows=1)
    return alert


def _done(session: Session, principal: Principal, request: Request, alert: Alert) -> Alert:
    audit_read(session, principal, request, patient_id=alert.patient_id, rows=1)
    session.refresh(alert)
    return alert


@router.post("/alerts/{alert_id}/ack", response_model=AlertPublic, tags=["alerts"])
def acknowledge(
    alert_id: IntPath, principal: StaffUser, session: SessionDep, request: Request, clock: ClockDep
) -> Alert:
    """Acknowledge: stops the escalation chain on every channel. Twice is harmless."""
    alert = get_alert(session, principal, alert_id)
    lifecycle.acknowledge(session, alert, actor=principal.user_id, channel=API_CHANNEL, now=clock())
    return _done(session, principal, request, alert)


@router.post("/alerts/{alert_id}/snooze", response_model=AlertPublic, tags=["alerts"])
def snooze(
    alert_id: IntPath,
    *,
    body: SnoozeRequest,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
) -> Alert:
    """Notify nobody until ``until`` (or for ``minutes``); then the chain starts again."""
    now = clock()
    until = body.until or now + timedelta(minutes=body.minutes or 0)
    alert = get_alert(session, principal, alert_id)
    lifecycle.snooze(
        session, alert, until=until, actor=principal.user_id, channel=API_CHANNEL, now=now
    )
    return _done(session, principal, request, alert)


@router.post("/alerts/{alert_id}/escalate", response_model=AlertPublic, tags=["alerts"])
def escalate(
    alert_id: IntPath,
    *,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    transports: TransportsDep,
) -> Alert:
    """Notify the next step of the escalation chain now."""
    alert = get_alert(session, principal, alert_id)
    lifecycle.escalate(
        session,
        alert,
        organisation_id=principal.organisation_id,
        actor=principal.user_id,
        channel=API_CHANNEL,
        now=clock(),
        transports=transports,
    )
    result = _done(session, principal, request, alert)
    request.app.state.services.notifier.wake()
    return result


@router.post("/alerts/{alert_id}/assign", response_model=AlertPublic, tags=["alerts"])
def assign(
    alert_id: IntPath,
    *,
    body: AssignRequest,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
) -> Alert:
    alert = get_alert(session, principal, alert_id)
    lifecycle.assign(
        session,
        alert,
        user_id=body.user_id,
        organisation_id=principal.organisation_id,
        actor=principal.user_id,
        channel=API_CHANNEL,
        now=clock(),
    )
    return _done(session, principal, request, alert)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertPublic, tags=["alerts"])
def resolve(
    alert_id: IntPath,
    *,
    principal: StaffUser,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    body: ResolveRequest | None = None,
) -> Alert:
    alert = get_alert(session, principal, alert_id)
    lifecycle.resolve(
        session,
        alert,
        actor=principal.user_id,
        channel=API_CHANNEL,
        now=clock(),
        note=body.note if body else None,
    )
    return _done(session, principal, request, alert)


@router.get("/alerts/{alert_id}/events", response_model=list[AlertEventPublic], tags=["alerts"])
def alert_history(
    alert_id: IntPath, principal: StaffUser, session: SessionDep, request: Request
) -> list[AlertEventPublic]:
    """Who did what to the alert, when, and from which channel, oldest first."""
    alert = get_alert(session, principal, alert_id)
    events = [AlertEventPublic.model_validate(e) for e in history.entries(session, alert.id)]
    audit_read(session, principal, request, patient_id=alert.patient_id, rows=len(events))
    return events


# ------------------------------------------------------------------ acknowledge link

TokenQuery = Annotated[str, Query(min_length=10, max_length=2000)]
TokenForm = Annotated[str, Form(min_length=10, max_length=2000)]

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>VitalGate alert</title>
</head><body><main><h1>{title}</h1><p>{text}</p>{form}</main></body></html>"""


def _page(title: str, text: str, form: str = "") -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(title=html.escape(title), text=html.escape(text), form=form),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _link_alert(
    session: Session, token: str, key: str, now: datetime
) -> tuple[Alert, links.AckClaims]:
    claims = links.read_ack_token(token, key=key, now=now)
    alert = session.get(Alert, claims.alert_id)
    if alert is None:
        raise NotFoundError(f"no alert {claims.alert_id}")
    if claims.user_id is not None:
        user = session.get(User, claims.user_id)
        patient = session.get(Patient, alert.patient_id)
        if (
            user is None
            or not user.is_active
            or patient is None
            or patient.organisation_id != user.organisation_id
        ):
            raise NotFoundError(f"no alert {claims.alert_id}")
    return alert, claims


def _audit_link(
    session: Session, request: Request, alert: Alert, claims: links.AckClaims, now: datetime
) -> None:
    patient = session.get(Patient, alert.patient_id)
    session.add(
        AuditEvent(
            at=now,
            user_id=claims.user_id,
            organisation_id=patient.organisation_id if patient else "",
            role="link",
            action="read",
            resource=f"{request.method} {request.url.path}"[:200],
            patient_id=alert.patient_id,
            query="",  # the token is a credential: never kept
            client=request.client.host if request.client else None,
            outcome=1,
        )
    )
    session.commit()


def _summary(alert: Alert) -> str:
    return (
        f"Alert {alert.id}: {alert.priority} priority {alert.metric.replace('_', ' ')} "
        f"for patient {alert.patient_id}, worst value {alert.worst_value:g}."
    )


@router.get("/ack", response_class=HTMLResponse, tags=["alerts"])
def ack_link_page(
    token: TokenQuery, session: SessionDep, settings: SettingsDep, request: Request, clock: ClockDep
) -> HTMLResponse:
    """The acknowledge link's page. Opening it changes nothing (mail scanners open links);
    its button acknowledges."""
    now = clock()
    alert, claims = _link_alert(session, token, settings.secret_key.get_secret_value(), now)
    _audit_link(session, request, alert, claims, now)
    if alert.status != lifecycle.OPEN:
        return _page("Nothing to do", f"{_summary(alert)} It is already {alert.status}.")
    form = (
        '<form method="post" action="ack"><input type="hidden" name="token" '
        f'value="{html.escape(token)}"><button type="submit">Acknowledge</button></form>'
    )
    return _page("Acknowledge this alert?", _summary(alert), form)


@router.post("/ack", response_class=HTMLResponse, tags=["alerts"])
def ack_link(
    token: TokenForm, session: SessionDep, settings: SettingsDep, request: Request, clock: ClockDep
) -> HTMLResponse:
    """Acknowledge the one alert the link was sent for, without logging in."""
    now = clock()
    alert, claims = _link_alert(session, token, settings.secret_key.get_secret_value(), now)
    if alert.status == lifecycle.RESOLVED:
        _audit_link(session, request, alert, claims, now)
        return _page("Nothing to do", f"{_summary(alert)} It is already resolved.")
    changed = lifecycle.acknowledge(
        session, alert, actor=claims.user_id, channel=LINK_CHANNEL, now=now
    )
    _audit_link(session, request, alert, claims, now)
    text = (
        "Acknowledged. The escalation has stopped." if changed else "It was already acknowledged."
    )
    return _page("Thank you", f"{_summary(alert)} {text}")


# ------------------------------------------------------------------ escalation chains


def _chain_public(session: Session, organisation_id: str, priority: str) -> ChainPublic:
    custom = session.get(EscalationChain, (organisation_id, priority)) is not None
    steps = [
        StepPublic(
            role=s.role, delay_minutes=s.delay.total_seconds() / 60, user_ids=list(s.user_ids)
        )
        for s in escalation.chain_for(session, organisation_id, priority)
    ]
    return ChainPublic.model_validate({"priority": priority, "steps": steps, "custom": custom})


@router.get("/escalation-chains", response_model=list[ChainPublic], tags=["alerts"])
def list_chains(principal: StaffUser, session: SessionDep) -> list[ChainPublic]:
    """Who is told about an alert of each priority, and after how many minutes."""
    return [_chain_public(session, principal.organisation_id, p) for p in ("high", "medium", "low")]


@router.put("/escalation-chains/{priority}", response_model=ChainPublic, tags=["alerts"])
def set_chain(
    priority: Priority, body: ChainRequest, admin: AdminUser, session: SessionDep, clock: ClockDep
) -> ChainPublic:
    """Set the organisation's chain for one priority (named users must be its care team)."""
    escalation.set_chain(
        session, organisation_id=admin.organisation_id, priority=priority,
        steps=[Step(s.role, timedelta(minutes=s.delay_minutes), tuple(s.user_ids)) for s in body.steps],
        user_id=admin.user_id, now=clock(),
    )  # fmt: skip
    session.commit()
    return _chain_public(session, admin.organisation_id, priority)
