"""A patient's own page link: a signed, expiring token that opens their readings, their
messages and their preferences — and nothing else — without an account or a password.

Sent in a message to the patient; whoever holds the link sees that one patient's page, so it
expires (7 days by default) and its type differs from every other token of the cloud.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Final

from cloud.auth.security import Refusal, TokenRefusedError, sign, verify
from cloud.errors import NotAuthenticatedError

TOKEN_TYPE: Final = "patient_page"  # noqa: S105 - a token type, not a secret
DEFAULT_LIFETIME: Final = timedelta(days=7)
REFUSALS: Final = {
    Refusal.EXPIRED: "this link has expired; ask your care team for a new one",
    Refusal.TYPE: "this is not a link to your page",
}
NOT_VALID: Final = "this link is not valid; ask your care team for a new one"


def issue(
    *, patient_id: str, key: str, now: datetime, lifetime: timedelta = DEFAULT_LIFETIME
) -> str:
    return sign({"typ": TOKEN_TYPE, "pat": patient_id}, key=key, now=now, lifetime=lifetime)


def read(token: str, *, key: str, now: datetime) -> str:
    """The patient id a valid link opens; ``NotAuthenticatedError`` with plain words else."""
    try:
        payload = verify(token, key=key, token_type=TOKEN_TYPE, require=("pat",), now=now)
    except TokenRefusedError as exc:
        raise NotAuthenticatedError(REFUSALS.get(exc.refusal, NOT_VALID)) from exc
    patient_id = payload.get("pat")
    if not isinstance(patient_id, str):
        raise NotAuthenticatedError(NOT_VALID)
    return patient_id


def form_token(token: str, *, key: str) -> str:
    """The token the page's forms carry (a form posted from elsewhere does not have it)."""
    return hmac.new(key.encode(), f"patient-form:{token}".encode(), hashlib.sha256).hexdigest()
