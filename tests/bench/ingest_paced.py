"""Ingest at a steady pace, Mosquitto → PostgreSQL: CPU-seconds per 100,000 readings.

100,000 readings (``VG_BENCH_READINGS`` to change it), ``PER_MESSAGE`` to a message from
``GATEWAYS`` gateways, are published at a steady ``RATE`` readings/s while one consumer
process ingests them. The figure is the CPU time spent by that process and by PostgreSQL
(every server process, those that exited included, from /proc) from the first publish to
the last end-to-end ack, per 100,000 readings. CPU time, not wall time: at a steady pace the
wall time is the pace's, and CPU time is far less disturbed by other work on the machine.

Baseline, same run, same cluster (a database of its own): a plain paho + psycopg consumer
inserting each message's readings in its own transaction (``tests.bench._plain_ingest``),
with none of VitalGate's validation, authorisation, rollups or alert evaluation. Also in
the same run, for comparison: VitalGate with its former fixed 50 ms batching window
(``steady_window_s`` = ``flush_s``), printed as ``without_steady_window``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Reading
from tests.bench import _ingest
from tests.bench._common import Figure
from tests.bench._ingest import AckCounter, Load, make_load, mqtt_client, register, stored, workdir
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.postgres import Postgres

READINGS = int(os.environ.get("VG_BENCH_READINGS", "100000"))
RATE = 3_000.0
"""Readings per second, published steadily."""
PER_MESSAGE = int(os.environ.get("VG_BENCH_PER_MESSAGE", str(_ingest.PER_MESSAGE)))
"""Readings per MQTT message, as in the other ingest benchmarks (200)."""
PER = 100_000
TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat fields after the command name (field 3 onwards)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw.rsplit(")", 1)[1].split()


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one live process."""
    f = _stat(pid)
    return (int(f[11]) + int(f[12])) / TICK


def postgres_cpu_s(postmaster: int) -> float:
    """CPU seconds of a PostgreSQL cluster: the postmaster, the children it has reaped
    (exited backends), and its live children."""
    f = _stat(postmaster)
    total = sum(int(x) for x in f[11:15]) / TICK
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            child = _stat(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(child[1]) == postmaster:
            total += (int(child[11]) + int(child[12])) / TICK
    return total


@dataclass(frozen=True)
class Run:
    ingest_cpu_s: float
    postgres_cpu_s: float
    wall_s: float
    stored: int

    def per(self, readings: int) -> float:
        return (self.ingest_cpu_s + self.postgres_cpu_s) * PER / readings


def publish_paced(broker: Mosquitto, load: Load, rate: float) -> None:
    """Publish every message on a fixed schedule (``rate`` readings/s), not as fast as possible."""
    client = mqtt_client(broker)
    client.loop_start()
    interval = PER_MESSAGE / rate
    t0 = time.perf_counter()
    infos = []
    for k, (topic, payload, _) in enumerate(load.messages):
        delay = t0 + k * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def measure(
    command: list[str], broker: Mosquitto, load: Load, postmaster: int, *, ready: str
) -> Run:
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    acks = AckCounter(broker, {b for _, _, b in load.messages})
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == ready
        time.sleep(1.0)  # the subscription's SUBACK, before anything is published
        c0, p0, t0 = process_cpu_s(proc.pid), postgres_cpu_s(postmaster), time.perf_counter()
        publisher = threading.Thread(target=publish_paced, args=(broker, load, RATE))
        publisher.start()
        if not acks.done.wait(120 + 3 * load.readings / RATE):
            raise AssertionError(f"only {len(acks.seen)} of {len(load.messages)} batches acked")
        c1, p1, t1 = process_cpu_s(proc.pid), postgres_cpu_s(postmaster), time.perf_counter()
        publisher.join()
    finally:
        acks.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return Run(c1 - c0, p1 - p0, t1 - t0, 0)


def _commits(sessions: sessionmaker[Session], tag: str) -> int:
    """Commits that stored the readings tagged ``tag`` (one commit, one ``received_at``)."""
    with sessions() as s:
        return int(
            s.scalar(
                select(func.count(func.distinct(Reading.received_at))).where(
                    Reading.id.like(f"{tag}-%")
                )
            )
            or 0
        )


def run() -> Iterator[Figure]:
    tmp = workdir("paced")
    pg_dir = workdir("paced-db")
    pg = Postgres(pg_dir)
    broker = Mosquitto(tmp / "mosquitto")
    pg.start()
    broker.start()
    try:
        postmaster = int((pg.datadir / "postmaster.pid").read_text().split()[0])
        vg_url = pg.create_database("paced_vitalgate")
        plain_url = pg.create_database("paced_plain")
        for url in (vg_url, plain_url):
            migrate(url)
        engine = make_engine(vg_url)
        sessions = session_factory(engine)
        vg_load = make_load(READINGS, tag="vg", per_message=PER_MESSAGE)
        old_load = make_load(READINGS, tag="old", per_message=PER_MESSAGE)
        register(sessions, vg_load)
        register(sessions, old_load)
        python = [sys.executable, "-m"]
        worker = [*python, "tests.bench._worker_process", vg_url, broker.host, str(broker.port)]
        vg = measure(
            [*worker, "paced-vg", "paced-vg"], broker, vg_load, postmaster, ready="connected"
        )
        old = measure(
            [*worker, "paced-old", "paced-old", "0.05"],
            broker, old_load, postmaster, ready="connected",
        )  # fmt: skip
        vg_stored = stored(sessions, "vg")
        commits, old_commits = _commits(sessions, "vg"), _commits(sessions, "old")
        engine.dispose()
        plain_load = make_load(READINGS, tag="plain", per_message=PER_MESSAGE)
        plain = measure(
            [*python, "tests.bench._plain_ingest", pg.dsn("paced_plain"), broker.host,
             str(broker.port), "paced-plain"],
            broker, plain_load, postmaster, ready="subscribed",
        )  # fmt: skip
    finally:
        broker.kill()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
    figure, baseline = vg.per(vg_load.readings), plain.per(plain_load.readings)
    yield Figure(
        "ingest_paced",
        round(figure, 2),
        "CPU-s per 100,000 readings",
        baseline=round(baseline, 2),
        ratio=round(baseline / figure, 2),
        extra={
            "readings": vg_load.readings,
            "rate": RATE,
            "per_message": PER_MESSAGE,
            "stored": vg_stored,
            "commits": commits,
            "without_steady_window": round(old.per(old_load.readings), 2),
            "without_steady_window_commits": old_commits,
            "ingest_cpu_s": round(vg.ingest_cpu_s, 2),
            "postgres_cpu_s": round(vg.postgres_cpu_s, 2),
            "baseline_ingest_cpu_s": round(plain.ingest_cpu_s, 2),
            "baseline_postgres_cpu_s": round(plain.postgres_cpu_s, 2),
            "wall_s": round(vg.wall_s, 1),
            "baseline_wall_s": round(plain.wall_s, 1),
        },
    )
