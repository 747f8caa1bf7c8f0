"""One ingest worker, Mosquitto → PostgreSQL: readings/s with idempotent upserts.

Same measurement as ``ingest_sqlite`` (baseline: one transaction per reading, same run),
on a throwaway PostgreSQL cluster. Targets: ≥ 20,000 readings/s and ≥ 10× the baseline.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

from tests.bench._common import Figure
from tests.bench._ingest import workdir
from tests.bench.ingest_sqlite import measure
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.postgres import Postgres


def run() -> Iterator[Figure]:
    tmp = workdir("postgres")
    # Its own temp dir: as root the server runs as ``postgres``, which cannot enter ``tmp``.
    pg_dir = workdir("postgres-db")
    pg = Postgres(pg_dir)
    broker = Mosquitto(tmp / "mosquitto")
    pg.start()
    broker.start()
    try:
        yield from measure("ingest_postgres", pg.create_database("ingest_bench"), broker)
    finally:
        broker.kill()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
