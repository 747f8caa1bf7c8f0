"""What an ingest failure means: the database is away (hold the batch), or one message
cannot be stored (dead-letter it, with a reason that names the error, never the payload)."""

from __future__ import annotations

from typing import Final

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

MAX_REASON: Final = 500
"""Characters of a dead letter's reason."""
_UNAVAILABLE: Final = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
"""Errors that say the database cannot be reached now (connection refused or lost, a lock
or pool timeout, a deadlock to retry), as opposed to refusing a row's content."""


try:  # PostgreSQL's COPY path talks to psycopg directly: its errors come unwrapped
    import psycopg

    _DRIVER_UNAVAILABLE: tuple[type[Exception], ...] = (
        psycopg.OperationalError,
        psycopg.InterfaceError,
    )
except ImportError:  # pragma: no cover - the cloud installs psycopg
    _DRIVER_UNAVAILABLE = ()


def unavailable(exc: BaseException) -> bool:
    """The database cannot be reached: hold the batch and retry, never dead-letter it."""
    if isinstance(exc, _UNAVAILABLE + _DRIVER_UNAVAILABLE):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def clean(reason: str) -> str:
    """A reason any database stores as text: no NUL, no lone surrogate, bounded."""
    return reason.replace("\x00", "").encode("utf-8", "replace").decode()[:MAX_REASON]


def undecodable(exc: BaseException) -> str:
    """A dead letter's reason for an error other than a wire refusal. It names the error
    only: an exception's text may quote the payload, which logs must not carry."""
    return f"could not be decoded: {type(exc).__name__}"


def unstorable(exc: BaseException) -> str:
    """A dead letter's reason for a message the database would not store (its first line
    names the constraint or the value type at fault)."""
    lines = str(exc).strip().splitlines()
    first = lines[0][:200] if lines else ""
    return clean(f"could not be stored: {type(exc).__name__}: {first}")
