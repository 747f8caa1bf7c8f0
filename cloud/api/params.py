"""Parameter and field types shared by the routers and their schemas (ids as the wire
defines them, times in UTC, free text without NUL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, Field

from gateway.wire import ID_PATTERN

IdField = Annotated[str, Field(pattern=ID_PATTERN)]
"""An id in a request body (the wire's ``Identifier``)."""
IdQuery = Annotated[str, Query(pattern=ID_PATTERN)]
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
IntPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2999, 12, 31, tzinfo=UTC)
"""Times the API takes: far enough from the ends of the calendar (years 1 and 9999) that
the routes' arithmetic (a default 7-day span, a 3-year bound) cannot overflow into a 500."""


def _utc(value: datetime) -> datetime:
    """In UTC, as the store keeps it; a time that has no UTC equivalent (year 1 at +01:00,
    found by the API fuzz) or lies outside ``EARLIEST``–``LATEST`` is refused as bad input
    instead of failing in the database or in a route's date arithmetic."""
    try:
        value = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("time is out of range once converted to UTC") from exc
    if not EARLIEST <= value <= LATEST:
        raise ValueError("time must lie between 1970-01-01 and 2999-12-31 (UTC)")
    return value


UtcQuery = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A time-range parameter: time zone required, converted to UTC."""
UtcTime = UtcQuery
"""The same, for a time in a request body."""


def no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it as bad input rather than fail."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


Note = Annotated[str, Field(max_length=2000), AfterValidator(no_nul)]
UserId = Annotated[int, Field(ge=1, le=2**31 - 1)]
