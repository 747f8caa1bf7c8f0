"""The background-service base: ``tick`` runs on wake and on its interval, a failing round
does not end the thread, and stop ends it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.admin.purge import RetentionPurge
from cloud.background import BackgroundService
from cloud.engagement.notifier import Notifier
from cloud.store import leases
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Delivery

DEADLINE_S = 10.0


class Counter(BackgroundService):
    thread_name = "test-counter"
    failed_event = "test_counter.failed"

    def __init__(self, *, interval_s: float, fail_first: bool = False) -> None:
        super().__init__(interval_s=interval_s)
        self.ticks = 0
        self.fail_first = fail_first
        self.ticked = threading.Event()

    def tick(self) -> None:
        self.ticks += 1
        if self.fail_first and self.ticks == 1:
            raise RuntimeError("an outage")
        self.ticked.set()


def test_a_woken_service_ticks_at_once_and_stops() -> None:
    service = Counter(interval_s=3600.0)
    service.start()
    try:
        service.wake()
        assert service.ticked.wait(DEADLINE_S)
        assert service.ticks == 1
    finally:
        service.stop()
    assert not service._loop._thread.is_alive()


def test_a_failing_round_is_tried_again_at_the_next_interval() -> None:
    service = Counter(interval_s=0.01, fail_first=True)
    service.start()
    try:
        assert service.ticked.wait(DEADLINE_S)
        assert service.ticks >= 2
    finally:
        service.stop()


def test_stop_without_start_is_harmless() -> None:
    started = time.monotonic()
    Counter(interval_s=1.0).stop()
    assert time.monotonic() - started < DEADLINE_S


class Leased(BackgroundService):
    """A round that must run alone: it records itself while another process holds the lease."""

    thread_name = "test-leased"
    failed_event = "test_leased.failed"
    lease = "test-round"

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.rounds = 0
        super().__init__(interval_s=3600.0)

    def tick(self) -> None:
        self.rounds += 1


def test_a_leased_round_runs_only_where_the_lease_is_held(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    try:
        sessions = session_factory(engine)
        here, there = Leased(sessions), Leased(sessions)
        now = datetime.now(UTC)
        assert leases.acquire(sessions, "test-round", owner=there.owner, ttl_s=60, now=now)
        here._round()  # another process holds the lease: nothing runs here
        assert here.rounds == 0
        leases.release(sessions, "test-round", owner=there.owner, now=now)
        here._round()
        assert here.rounds == 1
        there._round()  # released after the round, so the next one may run anywhere
        assert there.rounds == 1
    finally:
        engine.dispose()


def test_a_stopping_notifier_hands_back_what_it_claimed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    try:
        sessions = session_factory(engine)
        now = datetime.now(UTC)
        with sessions.begin() as s:
            for _ in range(3):
                s.add(
                    Delivery(alert_id=None, channel="json#0", target_index=0, status="pending",
                             attempts=0, created_at=now, next_attempt_at=now)
                )  # fmt: skip
        notifier = Notifier(sessions, [], public_url="http://x")
        claimed = notifier._claim(now=now)
        assert len(claimed) == 3
        other = Notifier(sessions, [], public_url="http://x")
        assert other._claim(now=now) == []  # claimed by the first
        notifier.stop()
        with sessions() as s:
            rows = s.scalars(select(Delivery)).all()
        assert {(d.status, d.lease_owner, d.attempts) for d in rows} == {("pending", None, 0)}
        assert other._claim(now=now) == claimed  # at once, not after the lease
    finally:
        engine.dispose()


def test_the_purge_runs_once_per_interval_across_workers_and_restarts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    try:
        sessions = session_factory(engine)
        now = datetime.now(UTC)
        first, second = (
            RetentionPurge(sessions, clock=lambda: now, interval_s=3600.0) for _ in range(2)
        )
        assert first.run_due(now=now) == {}  # due: nothing has ever purged (no retention set)
        assert second.run_due(now=now) is None  # another worker purged within the interval
        restarted = RetentionPurge(sessions, clock=lambda: now, interval_s=3600.0)
        assert restarted.run_due(now=now + timedelta(minutes=59)) is None
        assert restarted.run_due(now=now + timedelta(minutes=61)) == {}
    finally:
        engine.dispose()
