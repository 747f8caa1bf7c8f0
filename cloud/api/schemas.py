"""The shapes every route shares: the error body and the health checks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """Every refusal: a message for people and a code for programs."""

    detail: str | list[dict[str, Any]]
    code: str


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}
