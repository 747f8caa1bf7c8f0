"""Acknowledge links: a signed, expiring token for one alert, sent in the care-team message.

Whoever holds the link can acknowledge that one alert, and nothing else, without logging in;
the token names the person it was sent to, so the acknowledgement is theirs in the alert's
history. The token type differs from the API's access and refresh tokens, so neither can
stand in for the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from cloud.auth.security import Refusal, TokenRefusedError, sign, verify
from cloud.errors import NotAuthenticatedError

TOKEN_TYPE: Final = "alert_ack"  # noqa: S105 - a token type, not a secret
DEFAULT_LIFETIME: Final = timedelta(hours=24)
NOT_VALID: Final = "this acknowledge link is not valid; open the alert in VitalGate instead"
REFUSALS: Final = {
    Refusal.TYPE: "this token is not an acknowledge link",
    Refusal.EXPIRED: "this acknowledge link has expired; open the alert in VitalGate instead",
}


@dataclass(frozen=True, slots=True)
class AckClaims:
    alert_id: int
    user_id: int | None
    """The person the link was sent to; empty for an organisation-wide channel."""
    expires_at: datetime


def issue_ack_token(
    *, alert_id: int, user_id: int | None, key: str, now: datetime, lifetime: timedelta
) -> str:
    claims: dict[str, Any] = {"typ": TOKEN_TYPE, "alert": alert_id}
    if user_id is not None:
        claims["sub"] = str(user_id)
    return sign(claims, key=key, now=now, lifetime=lifetime)


def read_ack_token(token: str, *, key: str, now: datetime) -> AckClaims:
    """Verify signature, type and expiry (against ``now``, so a fake clock applies)."""
    try:
        payload = verify(token, key=key, token_type=TOKEN_TYPE, require=("alert",), now=now)
    except TokenRefusedError as exc:
        raise NotAuthenticatedError(REFUSALS.get(exc.refusal, NOT_VALID)) from exc
    try:
        sub = payload.get("sub")
        return AckClaims(
            alert_id=int(payload["alert"]),
            user_id=None if sub is None else int(sub),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), tz=now.tzinfo),
        )
    except (TypeError, ValueError) as exc:
        raise NotAuthenticatedError("this acknowledge link is malformed") from exc
