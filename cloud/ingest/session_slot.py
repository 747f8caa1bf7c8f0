"""A durable MQTT session name for an ingest worker that was given none: ``<group>-<n>``.

The broker routes a ``$share`` group's messages only to sessions it knows: with no session
in the group (every worker stopped, and their sessions ended with them) it discards what
gateways publish, and they wait a whole ack timeout before sending it again. A worker whose
session outlives it (MQTT 5 session expiry) keeps its share of the subscription alive
across a restart: the broker queues for it, and the restarted worker receives the backlog at
once. That needs a client id that is the same after the restart, yet never used by two live
processes at once (a second client with the same id takes the session over).

Slots give both: a worker takes the lowest free lease ``ingest-session:<group>-<n>``
(``cloud.store.leases``), renews it while it runs, and releases it when it stops cleanly,
so a restarted worker takes the same slot and resumes the same session. A worker killed
without releasing it leaves the slot taken until the lease expires; its replacement takes
the next slot, and the old session's queue is delivered to whichever worker takes that
slot before the session expires (after that the gateways' re-sends recover it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import structlog
from sqlalchemy.orm import Session, sessionmaker

from cloud.store import leases

log = structlog.get_logger(__name__)

LEASE_TTL_S: Final = 30.0
"""A slot's lease lasts this long unless renewed; a killed worker's slot is free after it."""
RENEW_EVERY_S: Final = LEASE_TTL_S / 3
MAX_SLOTS: Final = 256
PREFIX: Final = "ingest-session:"


class SlotError(Exception):
    """No session slot could be taken (all ``MAX_SLOTS`` are held by live workers)."""


class SessionSlot:
    """One worker's claim on a session name; ``claim`` before connecting, ``renew`` while
    running (False: another process holds it now, stop using the name), ``release`` at a
    clean stop."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        group: str,
        *,
        ttl_s: float = LEASE_TTL_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.group = group
        self.ttl_s = ttl_s
        self.clock = clock
        self.owner = leases.process_owner()
        self.client_id: str | None = None

    def claim(self) -> str:
        """Take the lowest free slot; its client id (``<group>-<n>``)."""
        for n in range(MAX_SLOTS):
            client_id = f"{self.group}-{n}"
            if leases.acquire(
                self.sessions, PREFIX + client_id, owner=self.owner, ttl_s=self.ttl_s,
                now=self.clock(),
            ):  # fmt: skip
                self.client_id = client_id
                log.info("ingest.session_slot", client_id=client_id)
                return client_id
        raise SlotError(
            f"all {MAX_SLOTS} ingest session slots of group {self.group!r} are taken: "
            "stop some workers, or give this one VG_INGEST_CLIENT_ID"
        )

    def renew(self) -> bool:
        """Extend the lease; False when another process holds the slot now."""
        assert self.client_id is not None
        return leases.acquire(
            self.sessions, PREFIX + self.client_id, owner=self.owner, ttl_s=self.ttl_s,
            now=self.clock(),
        )  # fmt: skip

    def release(self) -> None:
        if self.client_id is not None:
            leases.release(
                self.sessions, PREFIX + self.client_id, owner=self.owner, now=self.clock()
            )
