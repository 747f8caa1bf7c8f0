"""Two ingest workers holding new readings of one patient at once judge them one after the
other (PostgreSQL): the second sees the first's readings and alert, so one episode is one
alert, never two, and no persistence rule is missed between them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import service
from cloud.alerts.rulebook import RuleBook
from cloud.store.db import make_engine, session_factory
from cloud.store.models import Alert
from cloud.store.readings import reading_row, upsert_readings
from gateway import wire
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
BOOK = RuleBook(program="general")  # heart rate ≥ 131 held ≥ 5 min fires


@pytest.fixture
def sessions(migrated_postgres_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(migrated_postgres_url)
    yield session_factory(engine)
    engine.dispose()


def hr(device_id: str, minute: int, value: float) -> wire.Reading:
    return wire.Reading(
        id=f"{device_id}-{minute}",
        patient_id="p-1",
        device_id=device_id,
        metric=wire.Metric.HEART_RATE,
        value=value,
        unit="/min",
        ts=T0 + timedelta(minutes=minute),
    )


def store_and_judge(s: Session, readings: list[wire.Reading]) -> list[str]:
    """What an ingest worker's transaction does with a batch: upsert, then judge."""
    now = max(r.ts for r in readings) + timedelta(seconds=1)
    rows = [reading_row(r, gateway_id="gw-1", received_at=now) for r in readings]
    upsert_readings(s, rows)
    touched = {("p-1", "heart_rate"): min(r.ts for r in readings)}
    changes = service.evaluate(s, touched, now=now, channels=["json#0"], rulebook=BOOK)
    return [c.change for c in changes]


def waiting_for_a_judge_lock(sessions: sessionmaker[Session]) -> bool:
    with sessions() as s:
        query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        return bool(s.scalar(text(query)))


def test_two_workers_with_one_patients_readings_open_one_alert(
    sessions: sessionmaker[Session],
) -> None:
    # Four minutes above the level are stored already: not yet the five the rule needs.
    with sessions.begin() as s:
        store_and_judge(s, [hr("hrm-1", m, 140.0) for m in range(4)])

    # Worker A's batch (the strap) completes the five minutes, and it opens the alert but
    # has not committed yet when worker B's batch (a second device) is judged.
    a = sessions()
    a.begin()
    assert store_and_judge(a, [hr("hrm-1", m, 140.0) for m in range(4, 7)]) == ["opened"]
    b_changes: list[str] = []

    def worker_b() -> None:
        with sessions.begin() as b:
            b_changes.extend(store_and_judge(b, [hr("hrm-2", m, 150.0) for m in range(5, 8)]))

    b_thread = threading.Thread(target=worker_b)
    b_thread.start()
    try:
        wait_until(
            lambda: waiting_for_a_judge_lock(sessions) or not b_thread.is_alive(),
            what="worker B to wait for worker A's judgement (or to finish without waiting)",
        )
        waited = b_thread.is_alive()
    finally:
        a.commit()
        a.close()
        b_thread.join(timeout=30)
    assert waited, "worker B judged the patient while worker A's judgement was uncommitted"
    assert b_changes == ["merged"]  # B's finding joined A's alert: nothing opened or sent
    with sessions() as s:
        alerts = s.scalars(select(Alert).where(Alert.patient_id == "p-1")).all()
    assert len(alerts) == 1
    assert alerts[0].count >= 2  # B's finding merged into it
