"""Two ingest workers (separate processes, one MQTT 5 shared subscription) on PostgreSQL.

Measured in the same run: one worker draining a preloaded queue, then two workers draining
another of the same size. Targets: each worker stores 35–65 % of the readings, none lost or
stored twice, and two are ≥ 1.3× as fast as one.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

from sqlalchemy.orm import Session, sessionmaker

from tests.bench._common import Figure
from tests.bench._ingest import (
    AckCounter,
    Load,
    make_load,
    publish_all,
    register,
    stored,
    workdir,
)
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.postgres import Postgres

READINGS = 100_000


def _spawn(db_url: str, broker: Mosquitto, client_id: str, group: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.bench._worker_process",
            db_url,
            broker.host,
            str(broker.port),
            client_id,
            group,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _go(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "connected"


def _finish(procs: list[subprocess.Popen[str]]) -> list[dict[str, int]]:
    out = []
    for p in procs:
        p.send_signal(signal.SIGTERM)
        text, _ = p.communicate(timeout=60)
        out.append(json.loads(text.strip().splitlines()[-1]))
    return out


def _phase(
    *,
    db_url: str,
    broker: Mosquitto,
    sessions: sessionmaker[Session],
    load: Load,
    tag: str,
    workers: int,
) -> tuple[float, list[dict[str, int]]]:
    register(sessions, load)
    ids = [f"ingest-{tag}-{i}" for i in range(workers)]
    procs = [_spawn(db_url, broker, cid, tag) for cid in ids]
    _go(procs)  # create the persistent sessions…
    _finish(procs)  # …and leave, so the whole load waits in the broker
    publish_all(broker, load)
    acks = AckCounter(broker, {b for _, _, b in load.messages})
    procs = [_spawn(db_url, broker, cid, tag) for cid in ids]
    try:
        t0 = time.perf_counter()
        _go(procs)
        if not acks.done.wait(900):
            raise AssertionError(f"{len(acks.seen)} of {len(load.messages)} batches acked")
        elapsed = time.perf_counter() - t0
    finally:
        acks.close()
        counts = _finish(procs)
    n = stored(sessions, tag)
    assert n == load.readings, f"{tag}: stored {n} of {load.readings}"
    return load.readings / elapsed, counts


def run() -> Iterator[Figure]:
    from cloud.store.db import make_engine, migrate, session_factory

    tmp, pg_dir = workdir("scaleout"), workdir("scaleout-db")
    pg, broker = Postgres(pg_dir), Mosquitto(tmp / "mosquitto")
    pg.start()
    broker.start()
    try:
        url = pg.create_database("scaleout_bench")
        migrate(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        one, _ = _phase(
            db_url=url,
            broker=broker,
            sessions=sessions,
            load=make_load(READINGS, tag="one"),
            tag="one",
            workers=1,
        )
        two, counts = _phase(
            db_url=url,
            broker=broker,
            sessions=sessions,
            load=make_load(READINGS, tag="two"),
            tag="two",
            workers=2,
        )
        engine.dispose()
        shares = [c["readings"] / READINGS for c in counts]
        assert sum(c["readings"] for c in counts) == READINGS
        yield Figure(
            "ingest_scaleout",
            round(two),
            "readings/s (2 workers, PostgreSQL)",
            baseline=round(one),
            ratio=round(two / one, 2),
            extra={
                "shares": [round(s, 3) for s in shares],
                "duplicates": sum(c["duplicates"] for c in counts),
                "target_ratio": 1.3,
            },
        )
    finally:
        broker.kill()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
