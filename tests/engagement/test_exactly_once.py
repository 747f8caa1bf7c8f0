"""Exactly once, whatever runs twice: notifiers sharing one PostgreSQL database send each
pending delivery once, counted at a real receiver, and a worker killed mid-send leaves its
delivery to another one after the lease, which sends it once, with the same idempotency key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.engagement.channels import AppriseChannel, Message, channels_from_urls
from cloud.engagement.notifier import Notifier
from cloud.store import leases
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Alert, Delivery
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.postgres


class KeyedReceiver:
    """A webhook receiver that records each completed request's idempotency key; with
    ``hold_first`` it keeps the first request open, unanswered and unrecorded, until
    ``release`` (a send in flight when its process is killed)."""

    def __init__(
        self, *, hold_first: bool = False, on_request: Callable[[], None] | None = None
    ) -> None:
        self.completed: list[str] = []
        self.seen: list[str] = []
        self.held = threading.Event()
        self.release = threading.Event()
        self._hold_first = hold_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get("Idempotency-Key", "")
                with receiver._lock:
                    receiver.seen.append(key)
                    hold = receiver._hold_first and len(receiver.seen) == 1
                if hold:
                    receiver.held.set()
                    receiver.release.wait(30)
                    return  # never answered: the sender died meanwhile
                with receiver._lock:
                    receiver.completed.append(key)
                if on_request is not None:
                    on_request()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/alerts"

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def sessions(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    yield session_factory(engine)
    engine.dispose()


def queue(sessions: sessionmaker[Session], count: int) -> list[int]:
    """One open alert and ``count`` pending deliveries of it on channel 0; their ids."""
    now = datetime.now(UTC)
    with sessions.begin() as s:
        alert = Alert(
            patient_id="p-7", rule_id="htn.sbp", rule_version=1, category="clinical",
            priority="high", metric="systolic_bp", status="open", opened_at=now, updated_at=now,
            resolved_at=None, first_value=182.0, last_value=182.0, worst_value=182.0, count=1,
            evidence={"evidence": {"samples": [], "features": {"level": "high", "fire": 180}}},
        )  # fmt: skip
        s.add(alert)
        s.flush()
        rows = [
            Delivery(
                alert_id=alert.id,
                channel="json#0",
                target_index=0,
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
            for _ in range(count)
        ]
        s.add_all(rows)
        s.flush()
        return [d.id for d in rows]


def test_two_notifiers_send_each_pending_delivery_once(sessions: sessionmaker[Session]) -> None:
    receiver = KeyedReceiver()
    try:
        ids = queue(sessions, 60)
        notifiers = [
            Notifier(sessions, channels_from_urls([receiver.apprise_url]), public_url="http://x")
            for _ in range(2)
        ]
        assert notifiers[0].owner != notifiers[1].owner
        sent = [0, 0]
        start = threading.Barrier(2)

        def run(i: int) -> None:
            start.wait()
            sent[i] = notifiers[i].deliver_due(now=datetime.now(UTC))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(sent) == 60
        assert sorted(receiver.completed) == sorted(f"vitalgate-delivery-{i}" for i in ids)
        assert Counter(receiver.completed).most_common(1)[0][1] == 1
        with sessions() as s:
            rows = s.scalars(select(Delivery)).all()
        assert {(d.status, d.attempts, d.lease_owner) for d in rows} == {("sent", 1, None)}
    finally:
        receiver.stop()


def test_a_send_the_database_did_not_record_is_recorded_later_not_sent_again(
    sessions: sessionmaker[Session], postgres_url: str
) -> None:
    import psycopg
    from sqlalchemy.exc import OperationalError

    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    cut = threading.Event()

    def database_goes_away() -> None:  # as PostgreSQL restarting: every session ends
        if cut.is_set():
            return
        cut.set()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    receiver = KeyedReceiver(on_request=database_goes_away)
    try:
        [delivery_id] = queue(sessions, 1)
        notifier = Notifier(
            sessions, channels_from_urls([receiver.apprise_url]), public_url="http://x"
        )
        with pytest.raises(OperationalError):
            notifier.deliver_due(now=datetime.now(UTC))  # sent; the commit then fails
        # Past the lease, when another round could claim it again: recorded, not resent.
        later = datetime.now(UTC) + timedelta(seconds=notifier.lease_s + 1)
        assert notifier.deliver_due(now=later) == 1
        assert receiver.completed == [f"vitalgate-delivery-{delivery_id}"]
        with sessions() as s:
            row = s.get(Delivery, delivery_id)
            assert row is not None
            assert (row.status, row.lease_owner) == ("sent", None)
    finally:
        receiver.stop()


def worker(
    tmp_path: Path, db_url: str, receiver: KeyedReceiver, **env: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cloud", "worker"],
        env={
            **os.environ,
            "VG_DATA_DIR": str(tmp_path),
            "VG_DATABASE_URL": db_url,
            "VG_ALERT_CHANNELS": json.dumps([receiver.apprise_url]),
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_two_worker_processes_deliver_each_message_once(
    tmp_path: Path, postgres_url: str, sessions: sessionmaker[Session]
) -> None:
    receiver = KeyedReceiver()
    procs = [worker(tmp_path, postgres_url, receiver) for _ in range(2)]
    try:
        ids = queue(sessions, 40)
        wait_until(lambda: len(receiver.completed) >= 40, timeout=60, what="40 deliveries")
        stopping = time.monotonic()
        for proc in procs:  # SIGTERM: both stop within the deadline, cleanly
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert proc.wait(timeout=15) == 0
        assert time.monotonic() - stopping < 10
        assert sorted(receiver.completed) == sorted(f"vitalgate-delivery-{i}" for i in ids)
        assert len(set(receiver.seen)) == len(receiver.seen) == 40
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        receiver.stop()


def test_a_worker_killed_mid_send_leaves_one_delivery_after_its_lease(
    tmp_path: Path, postgres_url: str, sessions: sessionmaker[Session]
) -> None:
    receiver = KeyedReceiver(hold_first=True)
    lease_s = 3.0
    first = worker(tmp_path, postgres_url, receiver, VG_DELIVERY_LEASE_S=str(lease_s))
    second: subprocess.Popen[str] | None = None
    try:
        [delivery_id] = queue(sessions, 1)
        assert receiver.held.wait(60), "the first worker never sent"
        killed_at = time.monotonic()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        receiver.release.set()
        with sessions() as s:
            row = s.get(Delivery, delivery_id)
            assert row is not None
            assert (row.status, row.attempts) == ("pending", 0)  # the attempt rolled back
            assert row.lease_owner is not None  # …and the dead process's lease stands
        second = worker(tmp_path, postgres_url, receiver, VG_DELIVERY_LEASE_S=str(lease_s))
        wait_until(lambda: receiver.completed, timeout=60, what="the retry")
        assert time.monotonic() - killed_at >= lease_s - 0.5  # not before the lease expired
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0
        key = f"vitalgate-delivery-{delivery_id}"
        assert receiver.seen == [key, key]  # the same key on the retry
        assert receiver.completed == [key]  # delivered exactly once
        with sessions() as s:
            row = s.get(Delivery, delivery_id)
            assert row is not None
            assert (row.status, row.attempts, row.lease_owner) == ("sent", 1, None)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        receiver.stop()


def test_a_named_lease_has_one_holder_until_it_expires(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    assert leases.acquire(sessions, "purge", owner="a", ttl_s=60, now=now)
    assert not leases.acquire(sessions, "purge", owner="b", ttl_s=60, now=now)
    assert leases.acquire(sessions, "purge", owner="a", ttl_s=60, now=now)  # renewal
    later = datetime.fromtimestamp(now.timestamp() + 61, UTC)
    assert leases.acquire(sessions, "purge", owner="b", ttl_s=60, now=later)  # a died
    leases.release(sessions, "purge", owner="b", now=later)
    assert leases.acquire(sessions, "purge", owner="a", ttl_s=60, now=later)


def test_email_carries_the_idempotency_key(smtp: Any) -> None:
    channel = AppriseChannel(smtp.apprise_url(to="coordinator@clinic.test"))
    channel.send(Message(title="t", body="b", key="vitalgate-delivery-9"))
    [mail] = smtp.received()
    assert mail["X-Idempotency-Key"] == "vitalgate-delivery-9"
