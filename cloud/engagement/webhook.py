"""Authentication of the inbound-reply webhook: a timestamped HMAC, or the plain secret.

The provider signs ``<timestamp>.<raw body>`` with the shared secret (HMAC-SHA256, as Stripe
and Slack do) and sends ``X-VitalGate-Timestamp: <Unix seconds>`` and
``X-VitalGate-Signature: sha256=<hex>``. A timestamp more than ``TOLERANCE`` away from now is
stale, and a signature already accepted is a replay: both are refused, so a captured request
cannot be sent again.

``X-VitalGate-Secret: <secret>`` is still accepted for providers that can only add a fixed
header. It is weaker and documented so: whoever sees one such request can send any other,
for as long as the secret is unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.errors import ConflictError, ForbiddenError, NotAuthenticatedError
from cloud.store.tenancy import WebhookSignature

TOLERANCE: Final = timedelta(minutes=5)
"""How far the signed timestamp may be from the server's clock, either way."""
SECRET_HEADER: Final = "x-vitalgate-secret"  # noqa: S105 - a header name
SIGNATURE_HEADER: Final = "x-vitalgate-signature"
TIMESTAMP_HEADER: Final = "x-vitalgate-timestamp"


class WebhookDisabledError(ForbiddenError):
    code = "inbound_disabled"


class BadSignatureError(NotAuthenticatedError):
    code = "bad_signature"


class ReplayedWebhookError(ConflictError):
    code = "replayed"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of ``timestamp.body``: what the provider sends."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    session: Session,
    *,
    secret: str | None,
    headers: dict[str, str],
    body: bytes,
    now: datetime,
) -> None:
    """Accept a fresh, unused signature or the plain secret; refuse anything else.

    A signature is recorded in the caller's transaction (it commits with the message it
    brought, so a request refused later for bad content may be sent again, corrected).
    """
    if secret is None:
        raise WebhookDisabledError(
            "the inbound webhook is off: set VG_INBOUND_SECRET and give it to the SMS provider"
        )
    key = secret.encode()
    given = headers.get(SECRET_HEADER)
    if given is not None and hmac.compare_digest(given.encode(), key):
        return
    signature = headers.get(SIGNATURE_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not signature:
        raise BadSignatureError("the webhook's secret or signature does not match")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise BadSignatureError(
            "a signed webhook needs X-VitalGate-Timestamp (Unix seconds) and a signature "
            "over '<timestamp>.<body>'"
        )
    if not hmac.compare_digest(signature.encode(), sign(key, timestamp, body).encode()):
        raise BadSignatureError("the webhook's secret or signature does not match")
    skew = abs(now.timestamp() - int(timestamp))
    if skew > TOLERANCE.total_seconds():
        raise BadSignatureError(
            f"the webhook's timestamp is {int(skew)} s away from the server's clock "
            f"(at most {int(TOLERANCE.total_seconds())}): check the sender's clock"
        )
    _remember(session, signature.removeprefix("sha256="), now=now)


def _remember(session: Session, digest: str, *, now: datetime) -> None:
    session.execute(delete(WebhookSignature).where(WebhookSignature.seen_at < now - 2 * TOLERANCE))
    try:
        with session.begin_nested():
            session.add(WebhookSignature(signature=digest, seen_at=now))
    except IntegrityError as exc:
        raise ReplayedWebhookError(
            "this signed webhook was already received; a new delivery needs a new timestamp"
        ) from exc
