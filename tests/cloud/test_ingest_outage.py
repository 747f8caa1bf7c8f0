"""A PostgreSQL outage with readings flowing: ingest stops acknowledging, holds a bounded
window of messages (its MQTT 5 Receive Maximum) while the broker keeps the rest, and once
the database is back every reading is stored exactly once, with no gateway resend needed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud import metrics
from cloud.ingest.worker import IngestWorker
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Reading, Rollup
from gateway.uplink.settings import MqttSettings
from tests.fixtures.bindings import bind
from tests.fixtures.ingest import Stream
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.postgres import Postgres
from tests.fixtures.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

WINDOW = 40
"""The worker's Receive Maximum here: far fewer messages than the outage brings."""
BATCH = 10


@pytest.fixture
def sessions(migrated_postgres_url: str) -> Iterator[sessionmaker[Session]]:
    migrate(migrated_postgres_url)
    engine = make_engine(migrated_postgres_url)
    factory = session_factory(engine)
    bind(factory)  # the stream's gateway gw-1, its device d-1 paired to p-1
    yield factory
    engine.dispose()


def stored(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(Reading.id)))


def test_a_database_outage_applies_backpressure_and_loses_nothing(
    broker: Mosquitto, postgres_cluster: Postgres, sessions: sessionmaker[Session]
) -> None:
    worker = IngestWorker(
        MqttSettings(host=broker.host, port=broker.port),
        sessions,
        group="outage",
        client_id="ingest-outage",
        batch_max=BATCH,
        queue_max=WINDOW,
    )
    worker.start()
    wait_until(worker.connected.is_set, what="ingest to connect")
    stream = Stream(broker, tag="o")  # no gateway resend: the broker holds the backlog
    errors_before = metrics.INGEST_DB_ERRORS._value.get()
    try:
        stream.start()
        wait_until(lambda: len(stored(sessions)) >= 200, what="readings before the outage")
        postgres_cluster.stop()
        try:
            wait_until(
                lambda: metrics.INGEST_DB_ERRORS._value.get() > errors_before,
                what="ingest to notice the outage",
            )
            acked_in_outage = set(stream.acked)
            at_outage = len(stream.sent)
            # Several times the window arrives while the database is away.
            wait_until(lambda: len(stream.sent) >= at_outage + 8 * WINDOW, what="a backlog")
            wait_until(lambda: worker.pending == WINDOW, what="the worker's window to fill")
            assert stream.acked == acked_in_outage  # nothing acknowledged without a commit
            assert worker.pending_high_water == WINDOW
        finally:
            postgres_cluster.start()
        stream.stop_publishing()
        wait_until(stream.all_acked, timeout=120, what="every batch acknowledged after the outage")
    finally:
        stream.close()
        worker.stop()
    # Draining the backlog, Mosquitto 2.0 overshoots the Receive Maximum; the worker's own
    # bounded queue (TCP flow control behind it) keeps the bound.
    assert worker.pending_high_water <= WINDOW + BATCH
    ids = stored(sessions)
    assert len(ids) == len(set(ids))
    assert set(ids) == stream.readings_sent()
    with sessions() as s:
        hourly = s.scalar(select(func.sum(Rollup.count)).where(Rollup.period == "hour"))
    assert hourly == len(ids)
    assert stream.resends == 0
    broker.sys_tick()
    assert broker.sys_counter("publish/messages/dropped") == 0
