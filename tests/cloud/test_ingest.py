"""Ingest over a real Mosquitto: bad messages to the dead-letter table, repeats stored once.

Gateway ``gw-1`` is registered and its device ``d-1`` paired to ``p-1`` (``bind``): ingest
stores nothing else (``test_ingest_authorisation``).

The store tests run on the embedded SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.store.models import DeadLetter, GatewayRecord, Reading, Rollup
from tests.fixtures.bindings import bind
from tests.fixtures.waiting import wait_until
from tests.test_wire import batch, reading

pytestmark = pytest.mark.broker


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_poison_messages_go_to_dead_letters_and_the_stream_goes_on(stack: Any) -> None:
    sessions, pub = stack
    bind(sessions)
    poison = [
        b"\xff\xfe not even utf-8",
        b'{"schema": "vg.readings/7"}',
        batch(reading(value="high")),
        batch(gateway_id="gw-someone-else"),
    ]
    for payload in poison:
        pub.publish(payload)
    pub.publish(batch(reading(id="good-1"), batch_id="b-good"))

    wait_until(lambda: count(sessions, Reading) == 1, what="the good reading")
    wait_until(lambda: count(sessions, DeadLetter) == 4, what="four dead letters")
    with sessions() as s:
        dead = s.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
    assert [d.payload for d in dead] == poison
    reasons = [d.reason for d in dead]
    assert "not JSON" in reasons[0]
    assert "unknown schema 'vg.readings/7'" in reasons[1]
    assert "readings.0.value" in reasons[2]
    assert "does not match topic gateway 'gw-1'" in reasons[3]
    assert all(d.topic == "vg/v1/gw-1/readings" for d in dead)
    wait_until(lambda: pub.acks == ["b-good"], what="the end-to-end ack of the good batch only")


def test_a_repeated_delivery_stores_nothing_new_and_is_acked_again(stack: Any) -> None:
    sessions, pub = stack
    bind(sessions)
    payload = batch(reading(id="r-1"), reading(id="r-2", value=75), batch_id="b-1")
    pub.publish(payload)
    wait_until(lambda: pub.acks == ["b-1"], what="first ack")
    pub.publish(payload)
    wait_until(lambda: pub.acks == ["b-1", "b-1"], what="second ack")
    with sessions() as s:
        rows = s.execute(select(Reading.id, Reading.value).order_by(Reading.id)).all()
        rollups = s.execute(
            select(Rollup.period, Rollup.count, Rollup.total, Rollup.min, Rollup.max).order_by(
                Rollup.period
            )
        ).all()
    assert [tuple(r) for r in rows] == [("r-1", 72.0), ("r-2", 75.0)]
    # The rollups were kept current in the same transaction, and the repeat added nothing.
    assert [tuple(r) for r in rollups] == [
        ("day", 2, 147.0, 72.0, 75.0),
        ("hour", 2, 147.0, 72.0, 75.0),
    ]


def test_gateway_status_and_last_will_are_recorded(stack: Any) -> None:
    sessions, pub = stack
    bind(sessions)
    online = {
        "schema": "vg.status/1",
        "gateway_id": "gw-1",
        "state": "online",
        "ts": "2026-11-23T09:00:00Z",
        "outbox_depth": 3,
    }
    pub.publish(json.dumps(online).encode(), leaf="status")
    wait_until(lambda: count(sessions, GatewayRecord) == 1, what="the gateway record")
    pub.publish(json.dumps({**online, "state": "offline"}).encode(), leaf="status")

    def state() -> str | None:
        with sessions() as s:
            rec = s.get(GatewayRecord, "gw-1")
            return rec.state if rec else None

    wait_until(lambda: state() == "offline", what="the offline state")
