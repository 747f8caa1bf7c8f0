"""Administration pages (admins only): the organisation's accounts, care teams and contacts,
escalation chains, gateways and pairings.

Each route calls the service the API and the CLI call — ``auth.service`` (create, unlock,
reset a password), ``alerts.escalation`` (chains), ``pki.revocation`` (end a gateway) — in
the admin's own organisation: anything of another organisation is "not found". Reads of
care data (teams, contacts, pairings) are audited like the API's; changes are audited in
their own transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Final
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts import escalation
from cloud.alerts.chains import ROLES, Step
from cloud.alerts.schemas import ChainRequest
from cloud.api.deps import ClockDep, SessionDep, SettingsDep
from cloud.api.params import IdPath, IntPath, no_nul
from cloud.auth import service as auth
from cloud.auth.scope import audit_read, audit_write, get_patient
from cloud.errors import CloudError, ForbiddenError, NotFoundError
from cloud.pki import dynsec, revocation
from cloud.store.models import Contact, EscalationChain, GatewayRecord
from cloud.store.tenancy import CareTeamMember, Device, Pairing, Patient, Role, User
from cloud.tenancy import service as tenancy
from cloud.web import session as web
from cloud.web.render import ago, render

log = structlog.get_logger(__name__)

PRIORITIES: Final = ("high", "medium", "low")
SPARE_STEPS: Final = 1
"""Empty step rows under a chain's steps, to add one without a script."""

router = APIRouter(prefix="/admin", include_in_schema=False)


def _admin(user: web.WebUser) -> web.WebUser:
    if user.principal.role != Role.ADMIN:
        raise ForbiddenError("these pages are for the organisation's administrators")
    return user


def _admin_page(user: web.StaffPage) -> web.WebUser:
    return _admin(user)


def _admin_action(user: web.StaffAction) -> web.WebUser:
    return _admin(user)


AdminPage = Annotated[web.WebUser, Depends(_admin_page)]
AdminAction = Annotated[web.WebUser, Depends(_admin_action)]
Notice = Annotated[str | None, Query(max_length=300)]


def _back(path: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?notice={quote(notice)}", status_code=303)


def _member(session: Session, user: web.WebUser, user_id: int) -> User:
    account = session.get(User, user_id)
    if account is None or account.organisation_id != user.principal.organisation_id:
        raise NotFoundError(f"no user {user_id}")
    return account


# ------------------------------------------------------------------ users


@router.get("/users")
def users_page(
    user: AdminPage, session: SessionDep, clock: ClockDep, notice: Notice = None
) -> HTMLResponse:
    """The organisation's accounts, as ``GET /api/v1/users`` lists them, with their lock."""
    now = clock()
    accounts = list(
        session.scalars(
            select(User)
            .where(User.organisation_id == user.principal.organisation_id)
            .order_by(User.id)
        )
    )
    locked = {a.id for a in accounts if a.locked_until is not None and _aware(a) > now}
    return render(
        "admin_users.html.j2", user=user, active="admin", section="users", accounts=accounts,
        locked=locked, roles=[r.value for r in Role], notice=notice,
        min_password=auth.MIN_PASSWORD_LENGTH,
    )  # fmt: skip


def _aware(account: User) -> datetime:
    """``locked_until`` with its zone (SQLite hands back naive UTC datetimes)."""
    at = account.locked_until or datetime.min
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@router.post("/users")
def create_user(
    *,
    user: AdminAction,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    email: Annotated[str, Form(min_length=3, max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[Role, Form()],
    patient_id: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """A new account in the admin's organisation (``POST /api/v1/users``)."""
    try:
        account = auth.create_user(
            session, organisation_id=user.principal.organisation_id, email=email,
            password=password, role=role, patient_id=patient_id.strip() or None, now=clock(),
        )  # fmt: skip
    except CloudError as exc:
        session.rollback()
        return _back("/admin/users", f"Not created: {exc}")
    audit_write(session, user.principal, request, patient_id=None, rows=1)
    session.commit()
    return _back("/admin/users", f"Created {account.email} as {account.role}")


@router.post("/users/{user_id}/unlock")
def unlock_user(
    user_id: IntPath, user: AdminAction, session: SessionDep, request: Request
) -> Response:
    """Lift a lock, as ``vitalgate-cloud user unlock`` does."""
    account = auth.unlock_user(session, email=_member(session, user, user_id).email)
    audit_write(session, user.principal, request, patient_id=None, rows=1)
    session.commit()
    return _back("/admin/users", f"Unlocked {account.email}")


@router.post("/users/{user_id}/password")
def reset_password(
    user_id: IntPath,
    *,
    user: AdminAction,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    """A new password, as ``vitalgate-cloud user reset-password`` sets it."""
    email = _member(session, user, user_id).email
    try:
        account = auth.reset_password(session, email=email, password=password, now=clock())
    except CloudError as exc:
        session.rollback()
        return _back("/admin/users", f"Password not changed: {exc}")
    audit_write(session, user.principal, request, patient_id=None, rows=1)
    session.commit()
    return _back("/admin/users", f"New password set for {account.email}")


# ------------------------------------------------------------------ care teams


@router.get("/care-teams")
def care_teams_page(
    user: AdminPage, session: SessionDep, request: Request, notice: Notice = None
) -> HTMLResponse:
    """Each patient's care team and contacts (``GET …/care-team``, ``GET /contacts``)."""
    org = user.principal.organisation_id
    patients = list(
        session.scalars(select(Patient).where(Patient.organisation_id == org).order_by(Patient.id))
    )
    teams: dict[str, list[tuple[str, str, str]]] = {p.id: [] for p in patients}
    for member, account in session.execute(
        select(CareTeamMember, User)
        .join(User, User.id == CareTeamMember.user_id)
        .where(CareTeamMember.patient_id.in_(list(teams)), User.organisation_id == org)
        .order_by(CareTeamMember.patient_id, User.email)
    ).all():
        teams[member.patient_id].append((account.email, account.role, member.team_role))
    contacts: dict[str, list[Contact]] = {p.id: [] for p in patients}
    for contact in session.scalars(
        select(Contact)
        .where(Contact.organisation_id == org, Contact.patient_id.is_not(None))
        .order_by(Contact.patient_id, Contact.rank)
    ):
        contacts.setdefault(contact.patient_id or "", []).append(contact)
    rows = sum(map(len, teams.values())) + sum(map(len, contacts.values()))
    audit_read(session, user.principal, request, patient_id=None, rows=rows)
    staff = list(
        session.scalars(
            select(User)
            .where(User.organisation_id == org, User.role != Role.PATIENT)
            .order_by(User.email)
        )
    )
    return render(
        "admin_care_teams.html.j2", user=user, active="admin", section="care-teams",
        patients=patients, teams=teams, contacts=contacts, staff=staff, notice=notice,
    )  # fmt: skip


@router.post("/care-teams/{patient_id}")
def add_member(
    patient_id: IdPath,
    *,
    user: AdminAction,
    session: SessionDep,
    request: Request,
    clock: ClockDep,
    user_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    team_role: Annotated[str, Form(min_length=1, max_length=64)] = "member",
) -> Response:
    """Put a colleague on the patient's care team (``POST …/care-team``)."""
    patient = get_patient(session, user.principal, patient_id)
    try:
        tenancy.add_care_team_member(
            session, organisation_id=user.principal.organisation_id, patient=patient,
            user_id=user_id, team_role=no_nul(team_role), now=clock(),
        )  # fmt: skip
    except CloudError as exc:
        session.rollback()
        return _back("/admin/care-teams", f"Not added: {exc}")
    audit_write(session, user.principal, request, patient_id=patient.id, rows=1)
    session.commit()
    return _back("/admin/care-teams", f"Added to the care team of {patient.id}")


# ------------------------------------------------------------------ escalation chains


@router.get("/chains")
def chains_page(user: AdminPage, session: SessionDep, notice: Notice = None) -> HTMLResponse:
    """The chain of each priority (``GET /api/v1/escalation-chains``), editable."""
    org = user.principal.organisation_id
    chains = [
        (p, escalation.chain_for(session, org, p), session.get(EscalationChain, (org, p)) is not None)
        for p in PRIORITIES
    ]  # fmt: skip
    staff = list(
        session.scalars(
            select(User)
            .where(User.organisation_id == org, User.role != Role.PATIENT)
            .order_by(User.id)
        )
    )
    return render(
        "admin_chains.html.j2", user=user, active="admin", section="chains", chains=chains,
        roles=ROLES, staff=staff, spare=SPARE_STEPS, notice=notice,
    )  # fmt: skip


@router.post("/chains/{priority}")
async def set_chain(
    priority: str, user: AdminAction, request: Request, session: SessionDep, clock: ClockDep
) -> Response:
    """Save one priority's chain from the form's rows (a row without a role is skipped),
    validated by the API's ``ChainRequest`` and stored by ``escalation.set_chain``."""
    if priority not in PRIORITIES:
        raise NotFoundError(f"no priority {priority!r}")
    form = await request.form()
    steps = []
    for i in range(len(form)):
        role = str(form.get(f"role_{i}", "")).strip()
        if not role:
            continue
        users = str(form.get(f"users_{i}", "")).replace(",", " ").split()
        steps.append(
            {"role": role, "delay_minutes": str(form.get(f"delay_{i}", "")).strip() or "0",
             "user_ids": users}
        )  # fmt: skip
    try:
        body = ChainRequest.model_validate({"steps": steps})
        escalation.set_chain(
            session, organisation_id=user.principal.organisation_id, priority=priority,
            steps=[Step(s.role, timedelta(minutes=s.delay_minutes), tuple(s.user_ids))
                   for s in body.steps],
            user_id=user.principal.user_id, now=clock(),
        )  # fmt: skip
    except ValidationError as exc:
        session.rollback()
        reasons = "; ".join(e["msg"] for e in exc.errors())
        return _back("/admin/chains", f"The {priority} chain was not saved: {reasons}")
    except CloudError as exc:
        session.rollback()
        return _back("/admin/chains", f"The {priority} chain was not saved: {exc}")
    audit_write(session, user.principal, request, patient_id=None, rows=len(steps))
    session.commit()
    return _back("/admin/chains", f"The {priority} chain is saved")


# ------------------------------------------------------------------ gateways and pairings


@router.get("/gateways")
def gateways_page(
    user: AdminPage, session: SessionDep, request: Request, clock: ClockDep, notice: Notice = None
) -> HTMLResponse:
    """Gateways (status, last contact, revoked) and the devices paired with each patient."""
    org = user.principal.organisation_id
    gateways = list(
        session.scalars(
            select(GatewayRecord)
            .where(GatewayRecord.organisation_id == org)
            .order_by(GatewayRecord.id)
        )
    )
    pairings = session.execute(
        select(Pairing, Device)
        .join(Device, Device.id == Pairing.device_id)
        .join(Patient, Patient.id == Pairing.patient_id)
        .where(Patient.organisation_id == org, Pairing.valid_to.is_(None))
        .order_by(Pairing.patient_id, Device.id)
    ).all()
    audit_read(session, user.principal, request, patient_id=None, rows=len(pairings))
    return render(
        "admin_gateways.html.j2", user=user, active="admin", section="gateways",
        gateways=gateways, pairings=pairings, now=clock(), ago=ago, notice=notice,
    )  # fmt: skip


@router.post("/gateways/{gateway_id}/revoke")
def revoke_gateway(
    gateway_id: IdPath,
    *,
    user: AdminAction,
    session: SessionDep,
    request: Request,
    settings: SettingsDep,
    clock: ClockDep,
) -> Response:
    """End a gateway's identity, as ``vitalgate-cloud gateway revoke`` does."""
    now = clock()
    fresh = revocation.mark_revoked(
        session, gateway_id=gateway_id, organisation_id=user.principal.organisation_id, now=now
    )
    audit_write(session, user.principal, request, patient_id=None, rows=1)
    session.commit()
    said = f"Revoked {gateway_id}" + ("" if fresh else " (it already was)")
    if settings.pki_dir is None:
        return _back("/admin/gateways", f"{said}; no PKI folder is set, so no credential changed")
    try:
        what = revocation.withdraw_credential(settings.pki_dir, gateway_id, now=now)
    except CloudError as exc:
        return _back("/admin/gateways", f"{said}; its credential was not withdrawn: {exc}")
    try:
        dynsec.remove_gateway(settings.mqtt, gateway_id)
    except dynsec.DynsecError:
        log.warning("web.revoke_broker_not_told", gateway_id=gateway_id)
        what += "; the broker was not reached: run `vitalgate-cloud broker config` and restart it"
    return _back("/admin/gateways", f"{said}; {what}; reload the broker to apply the CRL")
