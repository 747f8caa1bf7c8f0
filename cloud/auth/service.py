"""Accounts and sessions: create users, log in, issue, rotate and revoke tokens.

Failed logins are counted but never lock the account (anyone could lock anyone out);
guessing is slowed by ``cloud.auth.throttle`` instead, before the password is hashed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.auth import security
from cloud.auth.throttle import LoginThrottle
from cloud.errors import (
    AccountLockedError,
    ConflictError,
    InvalidRequestError,
    NotAuthenticatedError,
    NotFoundError,
)
from cloud.settings import CloudSettings
from cloud.store.tenancy import Organisation, Patient, RefreshToken, Role, User

log = structlog.get_logger(__name__)

MIN_PASSWORD_LENGTH = 12
"""NIST SP 800-63B §5.1.1.2 asks for at least 8; we ask for 12."""
LOGIN_REFUSED = "wrong e-mail or password"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    """Seconds the access token is valid for."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_organisation(
    session: Session, *, organisation_id: str, name: str, now: datetime
) -> Organisation:
    if session.get(Organisation, organisation_id) is not None:
        raise ConflictError(f"organisation {organisation_id!r} already exists")
    org = Organisation(id=organisation_id, name=name, retention_days=None, created_at=now)
    session.add(org)
    session.flush()
    return org


def create_user(
    session: Session,
    *,
    organisation_id: str,
    email: str,
    password: str,
    role: Role,
    now: datetime,
    patient_id: str | None = None,
) -> User:
    """A new account; a ``patient`` user is linked to one patient of the same organisation."""
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequestError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    if session.get(Organisation, organisation_id) is None:
        raise NotFoundError(f"no organisation {organisation_id!r}")
    if (role == Role.PATIENT) != (patient_id is not None):
        raise InvalidRequestError(
            "a patient account needs a patient id, and only a patient account"
        )
    if patient_id is not None:
        patient = session.get(Patient, patient_id)
        if patient is None or patient.organisation_id != organisation_id:
            raise NotFoundError(f"no patient {patient_id!r} in organisation {organisation_id!r}")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise ConflictError("a user with this e-mail already exists")
    user = User(
        organisation_id=organisation_id,
        email=email,
        password_hash=security.hash_password(password),
        role=role.value,
        patient_id=patient_id,
        is_active=True,
        failed_logins=0,
        locked_until=None,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def user_by_email(session: Session, *, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFoundError(f"no user <{normalise_email(email)}>")
    return user


def unlock_user(session: Session, *, email: str) -> User:
    """Lift a lockout after failed logins at once (an operator has checked who it is)."""
    user = user_by_email(session, email=email)
    user.failed_logins = 0
    user.locked_until = None
    log.info("auth.unlocked", user_id=user.id)
    return user


def reset_password(session: Session, *, email: str, password: str, now: datetime) -> User:
    """A new password; the lock is lifted and every refresh token is withdrawn, so sessions
    opened with the old password end when their access token expires."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequestError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    user = user_by_email(session, email=email)
    user.password_hash = security.hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    for token in session.scalars(
        select(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.used_at.is_(None))
    ):
        token.used_at = now
    log.info("auth.password_reset", user_id=user.id)
    return user


def authenticate(session: Session, *, email: str, password: str, now: datetime) -> User:
    """The user these credentials belong to; a failure is counted (for the operator).

    An account an operator locked (``locked_until``) stays refused until then. The caller
    commits even on failure, so the count is kept.
    """
    user = session.scalars(select(User).where(User.email == normalise_email(email))).first()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        security.verify_password(password, None)
        raise AccountLockedError(
            "the account is locked until "
            f"{user.locked_until:%H:%M} UTC; try again then or ask an administrator"
        )
    ok = security.verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        if user is not None:
            user.failed_logins += 1
        raise NotAuthenticatedError(LOGIN_REFUSED)
    user.failed_logins = 0
    return user


def sign_in(
    session: Session,
    *,
    throttle: LoginThrottle,
    client: str,
    email: str,
    password: str,
    now: datetime,
) -> User:
    """``authenticate`` behind the login throttle: too many attempts from this address or
    on this account are refused (``TooManyRequestsError``) before the password is hashed.
    The API's token login and the web app's sign-in form both come here."""
    account = normalise_email(email)
    with throttle.attempt(client=client, account=account):
        try:
            user = authenticate(session, email=email, password=password, now=now)
        except NotAuthenticatedError:
            throttle.failed(client=client, account=account)
            raise
        throttle.succeeded(client=client, account=account)
    return user


def issue_tokens(
    session: Session, *, user: User, settings: CloudSettings, now: datetime
) -> TokenPair:
    key = settings.secret_key.get_secret_value()
    access_life = timedelta(minutes=settings.access_token_minutes)
    access, _ = security.issue_token(
        user_id=user.id,
        organisation_id=user.organisation_id,
        role=user.role,
        token_type="access",  # noqa: S106 - a token kind, not a secret
        lifetime=access_life,
        key=key,
        now=now,
        generation=user.token_generation,
    )
    refresh, claims = security.issue_token(
        user_id=user.id,
        organisation_id=user.organisation_id,
        role=user.role,
        token_type="refresh",  # noqa: S106 - a token kind, not a secret
        lifetime=timedelta(days=settings.refresh_token_days),
        key=key,
        now=now,
        generation=user.token_generation,
    )
    session.add(RefreshToken(jti=claims.jti, user_id=user.id, expires_at=claims.expires_at))
    return TokenPair(access, refresh, int(access_life.total_seconds()))


def refresh_tokens(
    session: Session, *, refresh_token: str, settings: CloudSettings, now: datetime
) -> TokenPair:
    """Trade a refresh token for a new pair; each refresh token works once (rotation)."""
    claims = security.read_token(
        refresh_token, expected="refresh", key=settings.secret_key.get_secret_value(), now=now
    )
    stored = session.get(RefreshToken, claims.jti)
    if stored is None or stored.user_id != claims.user_id:
        raise NotAuthenticatedError("refresh token is not known: log in again")
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticatedError("the account is no longer active")
    if stored.used_at is not None:
        # A second use means the token was copied: end every session of this user, the
        # access tokens already handed out included.
        revoke_all(session, user=user, now=now)
        log.warning("auth.refresh_reused", user_id=user.id)
        raise NotAuthenticatedError("refresh token was already used: log in again")
    if claims.generation != user.token_generation:
        raise NotAuthenticatedError("this session was ended (logged out): log in again")
    stored.used_at = now
    return issue_tokens(session, user=user, settings=settings, now=now)


def revoke_all(session: Session, *, user: User, now: datetime) -> None:
    """End every session of the user: a new token generation (access tokens of older ones
    are refused on their next request) and every refresh token spent."""
    user.token_generation += 1
    for token in session.scalars(
        select(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.used_at.is_(None))
    ):
        token.used_at = now
