"""The daily retention purge as a background round of ``vitalgate-cloud worker``.

It does what ``vitalgate-cloud purge`` does for every organisation with a retention, under
the work lease ``purge``, so several workers purge once. When it last ran is kept in the
database too (the lease ``purge-due``, expiring when the next purge is due), so workers
restarted more often than ``every_s`` still purge on time. The record is purged first (one
transaction per organisation); the time-series store, if any, follows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

import structlog
from sqlalchemy.orm import Session, sessionmaker

from cloud.background import BackgroundService
from cloud.store import leases, retention
from cloud.store.influx import TimeSeriesStore

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL_S: Final = 24 * 3600.0
CHECK_S: Final = 600.0
"""How often a worker looks whether a purge is due (and once at start)."""


class RetentionPurge(BackgroundService):
    thread_name = "purge"
    failed_event = "purge.failed"
    lease = "purge"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime],
        timeseries: TimeSeriesStore | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.timeseries = timeseries
        self.every_s = interval_s
        super().__init__(interval_s=min(CHECK_S, interval_s))

    def start(self) -> None:
        super().start()
        self.wake()  # a purge overdue while no worker ran is done at once

    def tick(self) -> None:
        self.run_due(now=self.clock())

    def run_due(self, *, now: datetime) -> dict[str, dict[str, int]] | None:
        """Purge if no process has purged within ``every_s``; None when it was not due."""
        mark = f"{self.owner}@{now.isoformat()}"  # unique: taken only once the mark expired
        if not leases.acquire(self.sessions, "purge-due", owner=mark, ttl_s=self.every_s, now=now):
            return None
        return self.run_once(now=now)

    def run_once(self, *, now: datetime) -> dict[str, dict[str, int]]:
        """Purge every organisation with a retention; rows removed by table, per organisation."""
        with self.sessions() as session:
            organisations = retention.organisations_with_retention(session)
        removed: dict[str, dict[str, int]] = {}
        for org_id, days in organisations:
            cutoff = retention.cutoff_for(days, now=now)
            with self.sessions.begin() as session:
                removed[org_id] = retention.purge_organisation(
                    session, organisation_id=org_id, cutoff=cutoff
                )
            if self.timeseries is not None:
                retention.purge_timeseries(
                    self.sessions, self.timeseries, organisation_id=org_id, cutoff=cutoff
                )
            log.info("purge.done", organisation=org_id, before=cutoff.isoformat(),
                     removed=removed[org_id])  # fmt: skip
        return removed
