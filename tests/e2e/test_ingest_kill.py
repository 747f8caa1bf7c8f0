"""``kill -9`` of an ingest worker process mid-stream: nothing lost, nothing stored twice.

The worker runs as ``vitalgate-cloud ingest`` in its own process. Restarted under the same
client id it resumes its MQTT session, and the broker redelivers what was in flight and
what queued meanwhile, with no help from the gateway. Killed for good while a second worker
of the same ``$share`` group runs, its short session expires, the broker drops the share it
held, and the gateway's end-to-end resend brings those batches to the survivor. Exactly once
is checked twice: the stored ids equal the ids sent, and the hourly rollups (which count
only first-time inserts) add up to the same number.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Reading, Rollup
from tests.fixtures.bindings import bind
from tests.fixtures.ingest import Stream
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker


class WorkerProcess:
    """``python -m cloud ingest`` with its settings in the environment."""

    def __init__(
        self, broker: Mosquitto, db_url: str, tmp: Path, *, client_id: str, expiry_s: int
    ) -> None:
        self.log = tmp / f"{client_id}.log"
        self.env = {
            **os.environ,
            "VG_DATABASE_URL": db_url,
            "VG_DATA_DIR": str(tmp / "data"),
            "VG_MQTT__HOST": broker.host,
            "VG_MQTT__PORT": str(broker.port),
            "VG_INGEST_CLIENT_ID": client_id,
            "VG_INGEST_GROUP": "kill-test",
            "VG_INGEST_SESSION_EXPIRY_S": str(expiry_s),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cloud", "ingest"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        connects = self.log.read_text().count("ingest.connected")
        wait_until(
            lambda: self.log.read_text().count("ingest.connected") > connects,
            timeout=30,
            what="the ingest worker to connect",
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sessions(request: pytest.FixtureRequest) -> Iterator[sessionmaker[Session]]:
    url = str(request.getfixturevalue(f"migrated_{request.param}_url"))
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    bind(factory)  # the stream's gateway gw-1, its device d-1 paired to p-1
    yield factory
    engine.dispose()


def _url(sessions: sessionmaker[Session]) -> str:
    bind = sessions.kw["bind"]
    return str(bind.url.render_as_string(hide_password=False))


def stored_ids(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(Reading.id)))


def rollup_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(
            s.scalar(
                select(func.coalesce(func.sum(Rollup.count), 0)).where(Rollup.period == "hour")
            )
            or 0
        )


def warm_up(stream: Stream, sessions: sessionmaker[Session]) -> None:
    """The group's subscription exists once a first batch is stored (published until it is)."""

    def stored() -> bool:
        stream.client.publish(stream.topics.readings, stream.payload(-1), qos=1)
        return bool(stored_ids(sessions))

    wait_until(stored, timeout=30, interval=0.5, what="the worker to store a first batch")


def assert_exactly_once(stream: Stream, sessions: sessionmaker[Session]) -> None:
    sent = stream.readings_sent() | {f"{stream.tag}--1-{j}" for j in range(stream.per_batch)}
    ids = stored_ids(sessions)
    assert len(ids) == len(set(ids))
    assert set(ids) == sent
    assert rollup_count(sessions) == len(sent)


def test_a_worker_killed_mid_stream_and_restarted_loses_nothing_and_stores_once(
    broker: Mosquitto, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    worker = WorkerProcess(broker, _url(sessions), tmp_path, client_id="ingest-a", expiry_s=60)
    worker.start()
    stream = Stream(broker, tag="k")  # no gateway resend: the broker's session must suffice
    try:
        warm_up(stream, sessions)
        stream.start()
        wait_until(lambda: len(stored_ids(sessions)) >= 400, timeout=30, what="a first stream")
        worker.kill()
        at_kill = len(stream.sent)
        wait_until(lambda: len(stream.sent) >= at_kill + 50, what="the stream to go on")
        worker.start()
        wait_until(lambda: len(stream.sent) >= at_kill + 100, what="more of the stream")
        stream.stop_publishing()
        wait_until(stream.all_acked, timeout=60, what="every batch acknowledged")
        assert stream.resends == 0
        assert_exactly_once(stream, sessions)
        broker.sys_tick()
        assert broker.sys_counter("publish/messages/dropped") == 0
    finally:
        stream.close()
        worker.stop()


def test_a_worker_killed_for_good_leaves_its_share_to_the_other(
    broker: Mosquitto, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    url = _url(sessions)
    a = WorkerProcess(broker, url, tmp_path, client_id="ingest-a", expiry_s=2)
    b = WorkerProcess(broker, url, tmp_path, client_id="ingest-b", expiry_s=2)
    a.start()
    b.start()
    # As a gateway: a batch not acknowledged within 5 s is published again.
    stream = Stream(broker, tag="s", resend_after_s=5.0)
    try:
        warm_up(stream, sessions)
        stream.start()
        wait_until(lambda: len(stored_ids(sessions)) >= 400, timeout=30, what="a first stream")
        a.kill()
        at_kill = len(stream.sent)
        # 200 batches take at least 4 s: a's 2 s session has expired, so from here on the
        # broker gives every batch to b. (With a long session it kept routing half of them
        # to the dead worker, and only the gateway's resend got them through.)
        wait_until(lambda: len(stream.sent) >= at_kill + 200, what="the stream to go on")
        after_expiry = len(stream.sent)
        wait_until(lambda: len(stream.sent) >= after_expiry + 100, what="more of the stream")
        stream.stop_publishing()
        wait_until(stream.all_acked, timeout=60, what="every batch acknowledged by b")
        assert_exactly_once(stream, sessions)
        assert not {b for b in stream.resent if int(b.rsplit("-", 1)[1]) >= after_expiry}
    finally:
        stream.close()
        a.stop()
        b.stop()
