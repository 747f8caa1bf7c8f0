"""One ingest worker, Mosquitto → SQLite file: readings/s with idempotent upserts.

The row-at-a-time baseline (one transaction per reading) runs in the same process on the
same broker and database. Targets: ≥ 20,000 readings/s and ≥ 10× the baseline.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

from tests.bench._common import Figure
from tests.bench._ingest import RowAtATimeWorker, drain_rate, make_load, workdir
from tests.fixtures.mosquitto import Mosquitto

READINGS = 100_000
BASELINE_READINGS = 3_000


def measure(bench: str, db_url: str, broker: Mosquitto) -> Iterator[Figure]:
    from cloud.store.db import make_engine, migrate, session_factory

    migrate(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    try:
        base_rate, base_n = drain_rate(
            broker,
            sessions,
            make_load(BASELINE_READINGS, tag="base"),
            tag="base",
            cls=RowAtATimeWorker,
        )
        assert base_n == BASELINE_READINGS, base_n
        load = make_load(READINGS, tag="fast")
        rate, n = drain_rate(broker, sessions, load, tag="fast")
        assert n == READINGS, f"stored {n} of {READINGS}"
        # Everything again: the upsert absorbs every repeat.
        again, n2 = drain_rate(broker, sessions, load, tag="fast")
        assert n2 == READINGS, f"{n2} rows after a full repeat"
    finally:
        engine.dispose()
    yield Figure(
        bench,
        round(rate),
        "readings/s (1 worker)",
        baseline=round(base_rate),
        ratio=round(rate / base_rate, 1),
        extra={"readings": READINGS, "repeat_readings_per_s": round(again), "target": 20_000},
    )


def run() -> Iterator[Figure]:
    tmp = workdir("sqlite")
    broker = Mosquitto(tmp / "mosquitto")
    broker.start()
    try:
        yield from measure("ingest_sqlite", f"sqlite:///{tmp / 'cloud.sqlite3'}", broker)
    finally:
        broker.kill()
        shutil.rmtree(tmp, ignore_errors=True)
