"""Path and query parameter types shared by the routers (ids as the wire defines them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""``gateway.wire.Identifier``: letters, digits and ``._:-``, at most 128 characters."""

IdQuery = Annotated[str, Query(pattern=ID_PATTERN)]
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
IntPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _utc(value: datetime) -> datetime:
    """In UTC, as the store keeps it; a time that has no UTC equivalent (year 1 at +01:00,
    found by the API fuzz) is refused as bad input instead of failing in the database."""
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("time is out of range once converted to UTC") from exc


UtcQuery = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A time-range parameter: time zone required, converted to UTC."""
