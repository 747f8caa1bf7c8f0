"""Request dependencies shared by every router: the database session, the settings, the
clock, the message transports and the authenticated caller.

Use the ``Annotated`` aliases in routers: ``SessionDep``, ``SettingsDep``, ``ClockDep`` (now,
from the app's clock, so tests can move it), ``TransportsDep``, ``CurrentUser`` (any
signed-in user), ``StaffUser`` (not a patient) and ``AdminUser``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from cloud.auth import security
from cloud.errors import ForbiddenError, NotAuthenticatedError
from cloud.settings import CloudSettings
from cloud.store.tenancy import Role, User

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a path, not a secret
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.services.sessions() as session:
        yield session


def get_settings(request: Request) -> CloudSettings:
    settings: CloudSettings = request.app.state.services.settings
    return settings


def get_clock(request: Request) -> Callable[[], datetime]:
    clock: Callable[[], datetime] = request.app.state.services.clock
    return clock


def get_transports(request: Request) -> list[str]:
    """The contact kinds (``email``, ``sms``…) this deployment can send on."""
    return list(request.app.state.services.notifier.transports)


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[CloudSettings, Depends(get_settings)]
ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]
TransportsDep = Annotated[list[str], Depends(get_transports)]


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in caller, as the database says now (a role change applies at once)."""

    user_id: int
    organisation_id: str
    role: Role
    patient_id: str | None
    client: str | None

    @property
    def is_staff(self) -> bool:
        return self.role != Role.PATIENT


def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(_bearer)],
) -> Principal:
    if not token:
        raise NotAuthenticatedError(
            f"log in first: POST {TOKEN_URL}, then send 'Authorization: Bearer …'"
        )
    claims = security.read_token(
        token,
        expected="access",
        key=settings.secret_key.get_secret_value(),
        now=datetime.now(UTC),  # tokens expire in real time, whatever the app's clock
    )
    return principal_for(session, claims, request)


def principal_for(session: Session, claims: security.Claims, request: Request) -> Principal:
    """The caller a verified token names, as the database says now (API and web alike)."""
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active or user.organisation_id != claims.organisation_id:
        raise NotAuthenticatedError("the account behind this token is no longer active")
    if claims.generation != user.token_generation:
        raise NotAuthenticatedError(
            "this token was revoked (logged out, or a refresh token was used twice): log in again"
        )
    principal = Principal(
        user_id=user.id,
        organisation_id=user.organisation_id,
        role=Role(user.role),
        patient_id=user.patient_id,
        client=request.client.host if request.client else None,
    )
    request.state.principal = principal  # for the audit of refusals (app error handler)
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]


def require_role(*roles: Role) -> Callable[[Principal], Principal]:
    def check(principal: CurrentUser) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise ForbiddenError(f"this needs one of the roles: {allowed}")
        return principal

    return check


StaffUser = Annotated[
    Principal, Depends(require_role(Role.ADMIN, Role.CLINICIAN, Role.CARE_COORDINATOR))
]
AdminUser = Annotated[Principal, Depends(require_role(Role.ADMIN))]
