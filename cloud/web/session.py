"""Browser sessions for the web app: a signed token in an HttpOnly, SameSite cookie, and a
CSRF token on every form.

The session token is the API's JWT with its own type (``web``), so the same users, roles,
organisation scope and audit apply; it never reaches JavaScript. Every state-changing
request carries a CSRF token derived from the session (HMAC of its id): a form posted from
another site has the cookie but cannot know the token. The sign-in form, which has no
session yet, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import Depends, Request, Response

from cloud.api.deps import Principal, SessionDep, SettingsDep, principal_for
from cloud.auth import security
from cloud.errors import CloudError, ForbiddenError
from cloud.settings import CloudSettings
from cloud.store.tenancy import Role, User

COOKIE: Final = "vg_session"
LOGIN_CSRF_COOKIE: Final = "vg_login_csrf"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "x-csrf-token"
SESSION_LIFETIME: Final = timedelta(hours=8)
"""A clinical shift; then the person signs in again."""


class SignInRequiredError(CloudError):
    """No valid session: the page handler sends the browser to the sign-in form."""

    status = 401
    code = "sign_in_required"


class BadCsrfError(ForbiddenError):
    code = "csrf"


def _secure(settings: CloudSettings) -> bool:
    return settings.public_url.startswith("https://")


def start(response: Response, *, user: User, settings: CloudSettings, now: datetime) -> None:
    """Set the session cookie for ``user``."""
    token, _ = security.issue_token(
        user_id=user.id,
        organisation_id=user.organisation_id,
        role=user.role,
        token_type="web",  # noqa: S106 - a token kind, not a secret
        lifetime=SESSION_LIFETIME,
        key=settings.secret_key.get_secret_value(),
        now=now,
        generation=user.token_generation,
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(settings),
        path="/",
    )


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def csrf_for(jti: str, settings: CloudSettings) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"csrf:{jti}".encode(), hashlib.sha256).hexdigest()


class WebUser:
    """The signed-in person of a page, and the CSRF token their forms carry."""

    __slots__ = ("csrf", "email", "principal")

    def __init__(self, principal: Principal, csrf: str, email: str) -> None:
        self.principal = principal
        self.csrf = csrf
        self.email = email


def get_web_user(request: Request, session: SessionDep, settings: SettingsDep) -> WebUser:
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequiredError("sign in first")
    try:
        claims = security.read_token(
            token,
            expected="web",
            key=settings.secret_key.get_secret_value(),
            now=datetime.now(UTC),  # sessions expire in real time, whatever the app's clock
        )
        principal = principal_for(session, claims, request)
    except CloudError as exc:
        raise SignInRequiredError("your session has ended: sign in again") from exc
    user = session.get(User, principal.user_id)
    return WebUser(principal, csrf_for(claims.jti, settings), user.email if user else "")


def get_staff_user(user: Annotated[WebUser, Depends(get_web_user)]) -> WebUser:
    if user.principal.role == Role.PATIENT:
        raise ForbiddenError("these pages are for the care team")
    return user


async def check_csrf(
    request: Request, user: Annotated[WebUser, Depends(get_staff_user)]
) -> WebUser:
    """The staff user of a state-changing request whose CSRF token matches their session."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not given or not hmac.compare_digest(given, user.csrf):
        raise BadCsrfError("this form has expired or did not come from VitalGate: reload the page")
    return user


StaffPage = Annotated[WebUser, Depends(get_staff_user)]
StaffAction = Annotated[WebUser, Depends(check_csrf)]


def login_csrf_token(request: Request) -> str:
    """The sign-in form's token: the browser's double-submit cookie, or a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_login_csrf(response: Response, token: str, settings: CloudSettings) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(settings)
    )


def login_csrf_ok(request: Request, given: str) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(expected) and hmac.compare_digest(given, expected or "")


def sign_in_url(next_path: str) -> str:
    """The sign-in page, returning to ``next_path`` (a local path only) afterwards."""
    return f"/login?next={quote(safe_next(next_path))}"


def safe_next(next_path: str | None) -> str:
    """A local path to return to after sign-in; anything else (another site) becomes ``/``."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//"):
        return "/"
    return next_path
