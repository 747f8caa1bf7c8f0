"""The cloud's one exception root; the API turns each into a consistent error body.

Every refusal the API gives has the shape ``{"detail": <message>, "code": <machine code>}``
and the HTTP status of the exception class, so clients branch on ``code`` and people read
``detail``.
"""

from __future__ import annotations

from typing import ClassVar


class CloudError(Exception):
    """Root of every error the cloud raises on purpose; the message says what to do."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"


class InvalidRequestError(CloudError):
    status = 422
    code = "invalid_request"


class NotAuthenticatedError(CloudError):
    """No credentials, or credentials that are expired, forged or revoked."""

    status = 401
    code = "not_authenticated"


class AccountLockedError(NotAuthenticatedError):
    code = "account_locked"


class ForbiddenError(CloudError):
    """Authenticated, but the role does not allow this action."""

    status = 403
    code = "forbidden"


class NotFoundError(CloudError):
    """Does not exist, or exists outside the caller's organisation (the two look the same).

    ``patient_id``: the patient asked for, when the refused thing is one (for the audit).
    """

    status = 404
    code = "not_found"

    def __init__(self, message: str, *, patient_id: str | None = None) -> None:
        super().__init__(message)
        self.patient_id = patient_id


class ConflictError(CloudError):
    status = 409
    code = "conflict"


class TooManyRequestsError(CloudError):
    """Throttled; the answer carries ``Retry-After`` (seconds)."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
