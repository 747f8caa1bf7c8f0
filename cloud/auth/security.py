"""Password hashing (argon2 through pwdlib) and signed tokens (JWT, HS256).

Pure functions of their inputs: the clock is a ``now=`` parameter, the key an argument.
``sign`` and ``verify`` are the one JWT helper: the API's access and refresh tokens here,
the e-mailed acknowledge links (``cloud.alerts.links``) too; a token's ``typ`` keeps one
kind from standing in for another.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Literal

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from cloud.errors import NotAuthenticatedError

ALGORITHM: Final = "HS256"
ISSUER: Final = "vitalgate"
TokenType = Literal["access", "refresh", "web"]
"""``web``: a browser session, carried in an HttpOnly cookie (``cloud.web.session``)."""

_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the e-mail is unknown, so a login takes as long either way.
_DUMMY_HASH: Final = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches; with no hash, spend the same time and say no."""
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


class Refusal(StrEnum):
    """Why ``verify`` refused a token."""

    SIGNATURE = "signature"
    INVALID = "invalid"
    """Not a token of ours: malformed, another issuer or algorithm, a claim missing."""
    TYPE = "type"
    EXPIRED = "expired"


class TokenRefusedError(Exception):
    """A token ``verify`` refused: ``refusal`` says why, for the caller to word it."""

    def __init__(self, refusal: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.refusal = refusal
        self.detail = detail


def sign(claims: Mapping[str, Any], *, key: str, now: datetime, lifetime: timedelta) -> str:
    """A signed token with our issuer, issued ``now`` and valid for ``lifetime``."""
    payload: dict[str, Any] = {
        "iss": ISSUER,
        **claims,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def verify(
    token: str, *, key: str, token_type: str, require: Iterable[str], now: datetime
) -> dict[str, Any]:
    """The claims of a token with a valid signature, our issuer, ``typ`` == ``token_type``,
    the ``require``d claims and an expiry after ``now`` (so a fake clock applies); else
    ``TokenRefusedError`` (the ``typ`` it carried, for ``Refusal.TYPE``)."""
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", *require, "typ"], "verify_exp": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenRefusedError(Refusal.SIGNATURE, str(exc)) from exc
    except jwt.PyJWTError as exc:
        raise TokenRefusedError(Refusal.INVALID, str(exc)) from exc
    if payload["typ"] != token_type:
        raise TokenRefusedError(Refusal.TYPE, str(payload["typ"]))
    if int(payload["exp"]) <= now.timestamp():
        raise TokenRefusedError(Refusal.EXPIRED, "expired")
    return payload


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says."""

    user_id: int
    organisation_id: str
    role: str
    token_type: TokenType
    jti: str
    expires_at: datetime
    generation: int = 0
    """The user's token generation at issue; a token of an older one is revoked."""


def issue_token(
    *,
    user_id: int,
    organisation_id: str,
    role: str,
    token_type: TokenType,
    lifetime: timedelta,
    key: str,
    now: datetime,
    generation: int = 0,
) -> tuple[str, Claims]:
    """A signed token and its claims (``jti`` is random, for refresh rotation and audit;
    ``generation`` is the user's, so raising it revokes the token)."""
    claims = Claims(
        user_id=user_id,
        organisation_id=organisation_id,
        role=role,
        token_type=token_type,
        jti=secrets.token_urlsafe(24),
        expires_at=now + lifetime,
        generation=generation,
    )
    payload = {
        "sub": str(user_id),
        "org": organisation_id,
        "role": role,
        "typ": token_type,
        "jti": claims.jti,
        "gen": generation,
    }
    return sign(payload, key=key, now=now, lifetime=lifetime), claims


def read_token(token: str, *, expected: TokenType, key: str, now: datetime) -> Claims:
    """Verify signature, issuer, expiry and type; refuse anything else with a reason."""
    try:
        payload = verify(token, key=key, token_type=expected, require=("sub", "jti"), now=now)
    except TokenRefusedError as exc:
        raise NotAuthenticatedError(_refusal_message(exc, expected)) from exc
    try:
        return Claims(
            user_id=int(payload["sub"]),
            organisation_id=str(payload["org"]),
            role=str(payload["role"]),
            token_type=expected,
            jti=str(payload["jti"]),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), tz=now.tzinfo),
            generation=int(payload.get("gen", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAuthenticatedError("token claims are malformed: log in again") from exc


def _refusal_message(exc: TokenRefusedError, expected: TokenType) -> str:
    if exc.refusal is Refusal.SIGNATURE:
        return "token signature is not valid: log in again"
    if exc.refusal is Refusal.TYPE:
        return f"a {exc.detail} token cannot be used here; send the {expected} token"
    if exc.refusal is Refusal.EXPIRED:
        advice = "use the refresh token" if expected == "access" else "log in again"
        return f"token expired: {advice}"
    return f"token is not valid ({exc.detail}): log in again"
