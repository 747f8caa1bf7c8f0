"""The cloud's background threads: one loop, run every interval or as soon as it is woken.

The notifier, the escalation scheduler, the patient messenger, the missing-data watch and
the config publisher each do one round of work (``tick``) against the database; a round
that fails (a database or broker outage) is logged and tried again at the next interval,
so no outage ends a thread. Each is a ``BackgroundService``: it names its thread and its
failure log event and implements ``tick``; starting, stopping and waking are here.

Any number of processes may run the same services against one database. A service whose
round must not run twice at once names a ``lease`` (``cloud.store.leases``): a round starts
only in the process holding it. The others claim their work row by row in the database.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

import structlog
from sqlalchemy.orm import Session, sessionmaker

from cloud.store import leases

log = structlog.get_logger("cloud.background")


class Loop:
    """A daemon thread calling ``tick`` every ``interval_s`` seconds and on ``wake()``."""

    def __init__(
        self, name: str, tick: Callable[[], object], *, interval_s: float, failed: str
    ) -> None:
        self.interval_s = interval_s
        self._tick = tick
        self._failed = failed
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._tick()
            except Exception as exc:  # an outage must not end the thread; the next round tries
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
                log.exception(
                    self._failed,
                    reason=f"{type(exc).__name__}: {reason[0] if reason else ''}"[:300],
                )


class BackgroundService(ABC):
    """A service whose work is one round, ``tick()``, run by a ``Loop`` every ``interval_s``
    seconds and as soon as it is woken."""

    thread_name: ClassVar[str]
    failed_event: ClassVar[str]
    """The log event of a round that raised."""
    stop_timeout_s: ClassVar[float] = 10.0
    lease: ClassVar[str | None] = None
    """The work lease a round holds (``cloud.store.leases``); None: the service claims its
    work itself, or may run everywhere at once."""
    sessions: sessionmaker[Session]

    def __init__(self, *, interval_s: float) -> None:
        self.interval_s = interval_s
        self.owner = leases.process_owner()
        self._loop = Loop(
            self.thread_name, self._round, interval_s=interval_s, failed=self.failed_event
        )

    def _round(self) -> None:
        if self.lease is None:
            self.tick()
            return
        ttl_s = max(60.0, 3 * self.interval_s)
        if not leases.acquire(
            self.sessions, self.lease, owner=self.owner, ttl_s=ttl_s, now=datetime.now(UTC)
        ):
            return
        try:
            self.tick()
        finally:
            leases.release(self.sessions, self.lease, owner=self.owner, now=datetime.now(UTC))

    @abstractmethod
    def tick(self) -> None:
        """One round of work (on the service's thread)."""

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop(timeout=self.stop_timeout_s)

    def wake(self) -> None:
        """Run a round now rather than at the next interval."""
        self._loop.wake()
