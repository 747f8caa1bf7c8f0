"""``/api/v1/auth``: log in (OAuth2 password form), refresh, who am I; ``/users`` for admins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from cloud.api.deps import AdminUser, ClockDep, CurrentUser, SessionDep, SettingsDep
from cloud.auth import service
from cloud.auth.schemas import RefreshRequest, TokenPublic, UserCreate, UserPublic
from cloud.errors import CloudError, NotAuthenticatedError, NotFoundError
from cloud.store.tenancy import User

router = APIRouter()


def _public(pair: service.TokenPair) -> TokenPublic:
    return TokenPublic(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


@router.post("/auth/token", response_model=TokenPublic, tags=["auth"])
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPublic:
    """Log in with e-mail (as ``username``) and password; returns bearer and refresh tokens.

    Too many attempts from one address, or on one account, are answered 429 with
    ``Retry-After`` before the password is checked (``cloud.auth.throttle``).
    """
    now = datetime.now(UTC)
    try:
        user = service.sign_in(
            session, throttle=request.app.state.services.login_throttle,
            client=request.client.host if request.client else "unknown",
            email=form.username, password=form.password, now=now,
        )  # fmt: skip
    except NotAuthenticatedError:
        session.commit()  # keep the failure count
        raise
    pair = service.issue_tokens(session, user=user, settings=settings, now=now)
    session.commit()
    return _public(pair)


@router.post("/auth/refresh", response_model=TokenPublic, tags=["auth"])
def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPublic:
    """A new token pair for a refresh token; each refresh token works once."""
    try:
        pair = service.refresh_tokens(
            session, refresh_token=body.refresh_token, settings=settings, now=datetime.now(UTC)
        )
    except CloudError:
        session.commit()  # a reused token revokes the user's other sessions
        raise
    session.commit()
    return _public(pair)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def logout(principal: CurrentUser, session: SessionDep, clock: ClockDep) -> None:
    """End the caller's sessions: every access and refresh token of this account stops
    working at once (on every device: tokens are revoked per account)."""
    user = session.get(User, principal.user_id)
    if user is None:
        raise NotFoundError("no such user")
    service.revoke_all(session, user=user, now=clock())
    session.commit()


@router.get("/auth/me", response_model=UserPublic, tags=["auth"])
def me(principal: CurrentUser, session: SessionDep) -> User:
    user = session.get(User, principal.user_id)
    if user is None:
        raise NotFoundError("no such user")
    return user


@router.get("/users", response_model=list[UserPublic], tags=["users"])
def list_users(admin: AdminUser, session: SessionDep) -> list[User]:
    """The organisation's accounts (admins only)."""
    stmt = select(User).where(User.organisation_id == admin.organisation_id).order_by(User.id)
    return list(session.scalars(stmt))


@router.post(
    "/users", response_model=UserPublic, status_code=status.HTTP_201_CREATED, tags=["users"]
)
def create_user(body: UserCreate, admin: AdminUser, session: SessionDep) -> User:
    """A new account in the admin's own organisation."""
    user = service.create_user(
        session,
        organisation_id=admin.organisation_id,
        email=body.email,
        password=body.password,
        role=body.role,
        patient_id=body.patient_id,
        now=datetime.now(UTC),
    )
    session.commit()
    return user
