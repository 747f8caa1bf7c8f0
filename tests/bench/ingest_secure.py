"""One ingest worker, Mosquitto → PostgreSQL, with and without the trusted data path's checks.

The figure: readings/s through the binding checks (registered, not revoked gateway; device
and patient of its organisation, paired at the time taken) and the gateway-scoped
idempotency with conflict detection. The baseline: the same worker, load and database with
the checks off (``binding_checks=False``, a switch only this benchmark uses), in the same
run. Rounds alternate and the best of each is kept (the machine is shared); the worker
process's CPU time gives a second, steadier comparison (``cpu_ratio``). A full repeat of the
load then measures the path where every reading is a duplicate and is compared for
conflicts. Targets: ≥ 20,000 readings/s and ≥ 80 % of the baseline.

The secure path runs over mutual TLS (a client certificate, as a provisioned deployment
has); the baseline over the same broker's plain listener, so the figure carries TLS, the
binding checks and the scoped idempotency together.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

from tests.bench._common import Figure
from tests.bench._ingest import Drain, TlsMosquitto, drain, make_load, workdir
from tests.fixtures.postgres import Postgres

READINGS = 100_000
ROUNDS = 3


def run() -> Iterator[Figure]:
    from cloud.store.db import make_engine, migrate, session_factory

    tmp, pg_dir = workdir("secure"), workdir("secure-db")
    pg, broker = Postgres(pg_dir), TlsMosquitto(tmp / "mosquitto")
    plain_broker = broker.plain()
    pg.start()
    broker.start()
    try:
        url = pg.create_database("secure_bench")
        migrate(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        secure: list[Drain] = []
        plain: list[Drain] = []
        for r in range(ROUNDS):
            for checks, runs in ((False, plain), (True, secure)):
                tag = f"{'sec' if checks else 'plain'}{r}"
                load = make_load(READINGS, tag=tag)
                via = broker if checks else plain_broker
                runs.append(drain(via, sessions, load, tag=tag, binding_checks=checks))
                assert runs[-1].stored == READINGS, f"{tag}: stored {runs[-1].stored}"
        again = drain(broker, sessions, load, tag=tag, binding_checks=True)
        assert again.stored == READINGS, f"{again.stored} rows after a full repeat"
        engine.dispose()
    finally:
        broker.kill()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
    figure, baseline = max(d.rate for d in secure), max(d.rate for d in plain)
    cpu, cpu_baseline = max(d.cpu_rate for d in secure), max(d.cpu_rate for d in plain)
    yield Figure(
        "ingest_secure",
        round(figure),
        "readings/s (1 worker, binding checks + scoped idempotency)",
        baseline=round(baseline),
        ratio=round(figure / baseline, 2),
        extra={
            "readings": READINGS,
            "rounds": {
                "secure": [round(d.rate) for d in secure],
                "plain": [round(d.rate) for d in plain],
            },
            "cpu_readings_per_s": round(cpu),
            "cpu_baseline": round(cpu_baseline),
            "cpu_ratio": round(cpu / cpu_baseline, 2),
            "repeat_readings_per_s": round(again.rate),
            "tls": True,
            "target": 20_000,
            "target_ratio": 0.8,
        },
    )
