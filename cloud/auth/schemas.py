"""Request and response models of the auth endpoints (``XCreate`` in, ``XPublic`` out)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cloud.store.tenancy import Role
from gateway.wire import Identifier


def _normalised(value: object) -> object:
    """The e-mail as it will be stored (``service.normalise_email``), checked after that:
    Python's ``strip`` removes characters the pattern's ``\\s`` does not (\\x1c–\\x1f)."""
    return value.strip().lower() if isinstance(value, str) else value


Email = Annotated[
    str,
    BeforeValidator(_normalised),
    Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"),
]


class TokenPublic(BaseModel):
    """OAuth2 token response (RFC 6749 §5.1) plus the refresh token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name
    expires_in: int
    refresh_token: str


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class UserBase(BaseModel):
    email: Email
    role: Role
    patient_id: Identifier | None = None


class UserCreate(UserBase):
    model_config = ConfigDict(extra="forbid")

    password: Annotated[str, Field(min_length=12, max_length=256)]


class UserPublic(UserBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organisation_id: str
    is_active: bool
    created_at: datetime
