"""Password hashing (argon2 through pwdlib) and signed tokens (JWT, HS256).

Pure functions of their inputs: the clock is a ``now=`` parameter, the key an argument.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from cloud.errors import NotAuthenticatedError

ALGORITHM: Final = "HS256"
ISSUER: Final = "vitalgate"
TokenType = Literal["access", "refresh"]

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
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "sub": str(user_id),
        "org": organisation_id,
        "role": role,
        "typ": token_type,
        "jti": claims.jti,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
        "gen": generation,
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM), claims


def read_token(token: str, *, expected: TokenType, key: str, now: datetime) -> Claims:
    """Verify signature, issuer, expiry and type; refuse anything else with a reason."""
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "typ"], "verify_exp": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise NotAuthenticatedError("token signature is not valid: log in again") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticatedError(f"token is not valid ({exc}): log in again") from exc
    if payload["typ"] != expected:
        raise NotAuthenticatedError(
            f"a {payload['typ']} token cannot be used here; send the {expected} token"
        )
    if int(payload["exp"]) <= now.timestamp():
        advice = "use the refresh token" if expected == "access" else "log in again"
        raise NotAuthenticatedError(f"token expired: {advice}")
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
