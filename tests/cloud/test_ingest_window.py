"""Under a steady stream of small messages the worker gathers several into one commit
(``STEADY_WINDOW_S``), so a commit's fixed cost is shared; all are stored and acked."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloud.store.models import Reading
from tests.fixtures.bindings import bind
from tests.fixtures.ingest import ingest_stack
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.waiting import wait_until
from tests.test_wire import batch, reading

pytestmark = pytest.mark.broker

MESSAGES = 30
PACE_S = 0.05
"""One message every 50 ms: the worker's ``flush_s``, so without the steady window nearly
every message would be a commit of its own."""


def test_a_steady_stream_is_committed_in_fewer_larger_batches(
    broker: Mosquitto, tmp_path: Path
) -> None:
    with ingest_stack(broker, f"sqlite:///{tmp_path / 'w.sqlite3'}") as (sessions, pub):
        bind(sessions)
        start = datetime.now(UTC) - timedelta(minutes=5)
        t0 = time.monotonic()
        for k in range(MESSAGES):
            delay = t0 + k * PACE_S - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the pace of the stream, not a wait for a result
            ts = (start + timedelta(seconds=k)).isoformat()
            pub.publish(batch(reading(id=f"r-{k}", ts=ts), batch_id=f"b-{k}"))
        wait_until(lambda: len(pub.acks) == MESSAGES, what="every message acked")
        with sessions() as s:
            stored = s.scalar(select(func.count(Reading.id)))
            commits = s.scalar(select(func.count(func.distinct(Reading.received_at))))
    assert stored == MESSAGES
    assert commits is not None
    assert commits <= MESSAGES / 3
