"""The ingest subscription outlives a restart of every worker: what a gateway publishes while
no worker runs is queued by the broker for the stopped worker's session and stored as soon
as a worker is back, well before the gateway's ack timeout would have re-sent it. Workers
given no name take distinct session slots."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.ingest.session_slot import SessionSlot
from cloud.ingest.worker import IngestWorker
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Reading
from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.radio import SimRadio
from tests.fixtures.bindings import bind
from tests.fixtures.gateway import GatewayThread, drive, gateway_settings, paired
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker

ACK_TIMEOUT_S = 30.0
GROUP = "ingest-durable"


def _worker(broker: Mosquitto, sessions: sessionmaker[Session]) -> IngestWorker:
    return IngestWorker(broker.settings(), sessions, group=GROUP, slot=SessionSlot(sessions, GROUP))


def _heart_rates(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).where(Reading.metric == "heart_rate")) or 0


def test_readings_published_while_no_worker_runs_are_stored_once_one_is_back(
    broker: Mosquitto, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'cloud.sqlite3'}"
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    bind(sessions, gateway_id="gw-test-1", pairs=[("p-71", "hrm-71")])
    # A worker ran once (a deployment's first start), then every worker stopped.
    first = _worker(broker, sessions)
    first.start()
    wait_until(first.connected.is_set, what="the first worker to connect")
    first.stop()

    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:71", seed=71))
    settings = gateway_settings(
        broker,
        tmp_path / "gw",
        devices=[paired(strap, patient_id="p-71", device_id="hrm-71")],
        ack_timeout_s=ACK_TIMEOUT_S,
        batch_size=10,
        window=100,  # every batch goes out at once: none waits for a window slot
    )
    total = 50
    gw = GatewayThread(settings, radio, background=[drive(strap, count=total, period_s=0.005)])
    gateway = gw.start()
    second = None
    try:
        wait_until(lambda: len(strap.emitted) == total, what="all readings taken")
        wait_until(
            lambda: gateway.outbox.stats().unpublished == 0,
            what="every batch PUBACKed by the broker while no worker runs",
        )
        assert _heart_rates(sessions) == 0
        second = _worker(broker, sessions)
        started = time.monotonic()
        second.start()
        assert second.slot is not None
        assert second.slot.client_id == f"{GROUP}-0"  # the first worker's session, resumed
        wait_until(
            lambda: _heart_rates(sessions) == total,
            timeout=ACK_TIMEOUT_S / 3,
            what="the queued readings stored",
        )
        stored_after_s = time.monotonic() - started
        wait_until(gw.settled, timeout=ACK_TIMEOUT_S / 3, what="every batch acknowledged")
        resent_rows = gateway.outbox.counters().resent
    finally:
        gw.stop()
        if second is not None:
            second.stop()
        engine.dispose()
    assert stored_after_s < ACK_TIMEOUT_S / 3
    assert gateway.uplink.resent_batches == 0
    assert resent_rows == 0


def test_workers_without_a_name_take_distinct_slots_and_a_released_one_is_reused(
    tmp_path: Path,
) -> None:
    db_url = f"sqlite:///{tmp_path / 'cloud.sqlite3'}"
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    try:
        a, b = SessionSlot(sessions, GROUP), SessionSlot(sessions, GROUP)
        assert (a.claim(), b.claim()) == (f"{GROUP}-0", f"{GROUP}-1")
        assert a.renew()
        a.release()
        c = SessionSlot(sessions, GROUP)
        assert c.claim() == f"{GROUP}-0"
        assert not a.renew()  # c holds it now: a must stop using the name
        assert b.renew()
    finally:
        engine.dispose()
