"""No message can stop ingest: generated hostile payloads through the real worker over a real
Mosquitto (SQLite and PostgreSQL), each followed by a valid reading that must be stored
within 2 s; a message the database itself refuses stops only itself; and a worker that makes
no progress with messages waiting is reported stalled (``/readyz``), judged on a fake clock.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from cloud.api.app import create_app
from cloud.ingest.batch import MAX_PAYLOAD_BYTES
from cloud.ingest.worker import STALL_AFTER_S, IngestWorker
from cloud.settings import CloudSettings
from cloud.store.db import make_engine, session_factory
from cloud.store.models import DeadLetter, Reading
from gateway.uplink.settings import MqttSettings
from tests.fixtures.api import settings_for
from tests.fixtures.bindings import bind
from tests.fixtures.ingest import Publisher
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.net import free_port
from tests.fixtures.waiting import wait_until
from tests.test_wire import batch, reading

pytestmark = pytest.mark.broker

STORED_WITHIN_S = 2.0
EDGE_TIMES = [
    "0001-01-01T00:30:00+01:00",  # before year 1 in UTC: the OverflowError of the audit
    "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "1899-12-31T23:59:59Z",
    "2026-02-30T00:00:00Z",
    "2026-12-05T25:00:00Z",
    "+12026-01-01T00:00:00Z",
    "",
]
_ids = itertools.count()

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


LEAVES = st.sampled_from(["readings", "events", "rollups", "status"])


@st.composite
def deep_nesting(draw: st.DrawFn) -> tuple[str, bytes]:
    opener = draw(st.sampled_from(["[", '{"a":', '{"schema":"vg.readings/1","readings":[']))
    most = MAX_PAYLOAD_BYTES // len(opener)  # larger ones are refused before any parsing
    return draw(LEAVES), (opener * draw(st.integers(min_value=1, max_value=most))).encode()


@st.composite
def huge_numbers(draw: st.DrawFn) -> tuple[str, bytes]:
    number = draw(
        st.sampled_from(["1e400", "-1e400", "1" * 5000, "9" * 400, "2147483648", "NaN"])
        | st.integers().map(str)
    )
    field = draw(st.sampled_from(["value", "ts", "id"]))
    return "readings", batch(reading(**{field: "@"})).replace(b'"@"', number.encode())


@st.composite
def calendar_edges(draw: st.DrawFn) -> tuple[str, bytes]:
    when = draw(st.sampled_from(EDGE_TIMES) | edge_datetimes())
    if draw(st.booleans()):
        return "readings", batch(reading(ts=when))
    return "readings", batch(reading(), sent_at=when)


@st.composite
def wrong_types(draw: st.DrawFn) -> tuple[str, bytes]:
    field = draw(st.sampled_from(["id", "patient_id", "value", "ts", "quality", "readings"]))
    value = draw(json_values)
    if field == "readings":
        return "readings", batch(readings=value)
    return "readings", batch(reading(**{field: value}))


@st.composite
def invalid_utf8(draw: st.DrawFn) -> tuple[str, bytes]:
    good = batch(reading())
    at = draw(st.integers(min_value=0, max_value=len(good)))
    inject = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00"]))
    return draw(LEAVES), draw(st.sampled_from([good[:at] + inject + good[at:]]) | st.binary())


@st.composite
def unstorable_text(draw: st.DrawFn) -> tuple[str, bytes]:
    """NULs, lone surrogates and long strings where the cloud keeps text."""
    text_ = draw(st.sampled_from(["\\u0000", "\\ud800", "\\udfff" * 3, "x" * 10_000]))
    where = draw(st.sampled_from(["flags", "source", "rule", "code", "evidence"]))
    if where in ("flags", "source"):
        quality = {where: ["@"] if where == "flags" else "@"}
        return "readings", batch(reading(quality=quality)).replace(b'"@"', f'"{text_}"'.encode())
    item: dict[str, Any] = {
        "id": "e-1",
        "kind": "device",
        "category": "device",
        "ts": "2026-12-01T00:00:00Z",
        "patient_id": "p-1",
        "device_id": "d-1",
        "code" if where == "evidence" else where: "@",
    }
    if where == "evidence":
        item["evidence"] = {"@": ["@", {"k": "@"}]}
    body = {"schema": "vg.events/1", "gateway_id": "gw-1", "batch_id": "e", "sent_at": item["ts"]}
    payload = json.dumps(body | {"events": [item]}).replace('"@"', f'"{text_}"')
    return "events", payload.encode()


hostile = st.one_of(
    deep_nesting(),
    huge_numbers(),
    calendar_edges(),
    wrong_types(),
    invalid_utf8(),
    unstorable_text(),
)
"""(topic leaf, payload) of one hostile message."""


def edge_datetimes() -> st.SearchStrategy[str]:
    """Times near the ends of the calendar with any UTC offset within a day."""
    offsets = st.integers(min_value=-1439, max_value=1439).map(
        lambda m: timezone(timedelta(minutes=m))
    )
    near = st.datetimes(max_value=datetime.min + timedelta(days=2)) | st.datetimes(
        min_value=datetime.max - timedelta(days=2)
    )
    return st.builds(lambda d, tz: d.replace(tzinfo=tz).isoformat(), near, offsets)


def stored(sessions: sessionmaker[Session], rid: str) -> bool:
    with sessions() as s:
        return s.scalar(select(Reading.id).where(Reading.id == rid)) is not None


def valid(rid: str) -> bytes:
    now = datetime.now(UTC).isoformat()
    return batch(reading(id=rid, ts=now), batch_id=f"b-{rid}")


@given(messages=st.lists(hostile, min_size=1, max_size=3))
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_generated_message_stops_ingest(stack: Any, messages: list[tuple[str, bytes]]) -> None:
    sessions, pub = stack
    bind(sessions)
    for leaf, payload in messages:
        pub.publish(payload, leaf)
    rid = f"after-{next(_ids)}"
    pub.publish(valid(rid))
    wait_until(
        lambda: stored(sessions, rid), timeout=STORED_WITHIN_S, what="the valid reading after"
    )


def test_the_audits_two_messages_become_dead_letters(stack: Any) -> None:
    sessions, pub = stack
    bind(sessions)
    overflow = batch(reading(id="r-overflow", ts="0001-01-01T00:30:00+01:00"))
    pub.publish(overflow)
    pub.publish(b"[" * 100_000)
    pub.publish(valid("r-good"))
    wait_until(lambda: stored(sessions, "r-good"), timeout=STORED_WITHIN_S, what="r-good")
    with sessions() as s:
        reasons = [d.reason for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))]
    assert len(reasons) == 2
    assert reasons[0].startswith("invalid vg.readings/1: readings.0.ts")
    assert "outside the calendar" in reasons[0]
    assert reasons[1] == "not JSON this service accepts: nested too deeply"


@pytest.fixture
def refuse_666(stack: Any, db_url: str) -> None:
    """The database itself refuses a reading of 666 (a constraint the wire cannot know)."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE readings ADD CONSTRAINT no_666 CHECK (value <> 666)"))
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER no_666 BEFORE INSERT ON readings WHEN NEW.value = 666 "
                    "BEGIN SELECT RAISE(ABORT, 'no 666'); END"
                )
            )
    engine.dispose()


def test_a_message_the_database_refuses_stops_only_itself(stack: Any, refuse_666: None) -> None:
    sessions, pub = stack
    bind(sessions)
    # Published back to back, the three land in one batch (or two): the refused one is split
    # off, dead-lettered with the database's reason, and the others are stored and acked.
    pub.publish(batch(reading(id="r-a", ts=datetime.now(UTC).isoformat()), batch_id="b-a"))
    pub.publish(
        batch(reading(id="r-666", value=666, ts=datetime.now(UTC).isoformat()), batch_id="b-666")
    )
    pub.publish(valid("r-b"))
    wait_until(lambda: sorted(pub.acks) == ["b-666", "b-a", "b-r-b"], what="all three acked")
    assert pub.dead_letters == ["b-666"]  # said so, before its plain ack
    with sessions() as s:
        assert sorted(s.scalars(select(Reading.id))) == ["r-a", "r-b"]
        (dead,) = s.scalars(select(DeadLetter)).all()
    assert dead.topic == "vg/v1/gw-1/readings"
    assert dead.reason.startswith("could not be stored: ")
    assert "no_666" in dead.reason or "no 666" in dead.reason
    assert b'"r-666"' in dead.payload


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_worker_without_progress_and_messages_waiting_is_stalled(broker: Mosquitto) -> None:
    # The database is away (nothing listens on its port): the worker holds what it gets.
    url = f"postgresql+psycopg://vg@127.0.0.1:{free_port()}/absent?connect_timeout=1"
    engine = create_engine(url)
    clock = FakeClock()
    worker = IngestWorker(
        MqttSettings(host=broker.host, port=broker.port),
        session_factory(engine),
        group="stall",
        client_id="ingest-stall",
        clock=clock,
    )
    worker.start()
    pub = Publisher(broker)
    try:
        wait_until(worker.connected.is_set, what="the worker to connect")
        clock.now += 10 * STALL_AFTER_S  # idle for long, nothing waiting: not stalled
        assert worker.stalled() is None
        pub.publish(valid("r-held"))
        wait_until(lambda: worker.pending == 1, what="the message to be held")
        clock.now += STALL_AFTER_S - 1
        assert worker.stalled() is None
        clock.now += 1
        assert worker.stalled() == f"no progress for {STALL_AFTER_S:.0f} s with 1 messages waiting"
    finally:
        pub.close()
        worker.stop()
        engine.dispose()


def test_readyz_says_not_ready_while_ingest_is_stuck(broker: Mosquitto, tmp_path: Path) -> None:
    db = tmp_path / "cloud.sqlite3"
    config: CloudSettings = settings_for(
        f"sqlite:///{db}",
        tmp_path / "data",
        ingest_enabled=True,
        ingest_stall_s=0.5,
        mqtt=MqttSettings(host=broker.host, port=broker.port),
        ingest_client_id="ingest-readyz",
    )
    with TestClient(create_app(config)) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200, what="ready")
        services = client.app.state.services  # type: ignore[attr-defined]
        bind(services.sessions)
        lock = sqlite3.connect(db, timeout=30)
        lock.execute("BEGIN IMMEDIATE")  # another writer holds the database
        pub = Publisher(broker)
        try:
            pub.publish(valid("r-late"))

            def stuck() -> httpx.Response | None:
                r = client.get("/readyz")
                return r if r.status_code == 503 else None

            r = wait_until(stuck, what="not ready")
            assert r is not None
            assert r.json()["status"] == "not ready"
            assert r.json()["checks"]["database"] == "ok"
            assert r.json()["checks"]["ingest"].startswith("no progress for")
            lock.rollback()
            wait_until(lambda: client.get("/readyz").status_code == 200, what="ready again")
            assert stored(services.sessions, "r-late")
            assert client.get("/readyz").json()["checks"]["ingest"] == "ok"
        finally:
            lock.close()
            pub.close()


def test_the_stall_setting_defaults_to_the_named_constant() -> None:
    assert CloudSettings.model_fields["ingest_stall_s"].default == STALL_AFTER_S
