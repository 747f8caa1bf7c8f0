"""Work leases: which process runs a singleton round right now, for how long.

A background round that must not run twice at once (the missing-data watch, the config
publisher, the purge) takes the lease of its name before it starts: one row per name with an
owner and an expiry. Taking it is one atomic UPDATE (or the INSERT of the row), the same on
PostgreSQL and SQLite; a process killed while holding it stops blocking the others when the
lease expires. Deliveries carry their own lease (``deliveries.lease_owner``/``lease_until``).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

import structlog
from sqlalchemy import String, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from cloud.store.base import Base

log = structlog.get_logger(__name__)


class WorkLease(Base):
    """The holder of one named round of background work, until ``expires_at``."""

    __tablename__ = "work_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


def process_owner() -> str:
    """This process, as lease owner: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:60]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def acquire(
    sessions: sessionmaker[Session], name: str, *, owner: str, ttl_s: float, now: datetime
) -> bool:
    """Take (or renew) the lease ``name`` until ``now + ttl_s``; False when another holds it."""
    until = now + timedelta(seconds=ttl_s)
    with sessions.begin() as session:
        taken = session.execute(
            update(WorkLease)
            .where(
                WorkLease.name == name,
                or_(WorkLease.owner == owner, WorkLease.expires_at <= now),
            )
            .values(owner=owner, expires_at=until)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return True
        if session.get(WorkLease, name) is not None:
            return False
    try:
        with sessions.begin() as session:
            session.add(WorkLease(name=name, owner=owner, expires_at=until))
    except IntegrityError:  # another process inserted it first
        return False
    return True


def release(sessions: sessionmaker[Session], name: str, *, owner: str, now: datetime) -> None:
    """Give the lease back at once (if still ours), so the next round need not wait."""
    with sessions.begin() as session:
        session.execute(
            update(WorkLease)
            .where(WorkLease.name == name, WorkLease.owner == owner)
            .values(expires_at=now)
        )
