"""Sustained gateway throughput: notification bytes → decode → wire readings → outbox
(durable, synchronous=FULL) → MQTT → broker PUBACK, on one core; against a naive gateway
that stores each reading in its own fsynced transaction and publishes it alone, waiting for
its PUBACK. The signal stage (``gateway/signal``) is not wired into the pipeline yet, so it
is not part of the figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from gateway import wire
from gateway.ble import profiles
from gateway.ble.measurement import Measurement
from gateway.readings import to_wire
from tests.bench._common import Figure
from tests.bench._gateway import (
    HR_CHAR,
    Harness,
    InstantCloud,
    broker,
    notifications,
    pin_to_one_core,
    quiet_logs,
)
from tests.fixtures.mosquitto import Mosquitto

PIPELINE_READINGS = 30_000
NAIVE_READINGS = 300
QUEUE_HIGH_WATER = 5_000


async def _pipeline(mosq: Mosquitto, data_dir: Path, raws: list[bytes]) -> float:
    harness = Harness(mosq, data_dir)
    task = asyncio.create_task(harness.gateway.run())
    try:
        await harness.wait_connected()
        t0 = time.perf_counter()
        for i, raw in enumerate(raws):
            harness.notify(raw)
            if i % 256 == 0:
                await asyncio.sleep(0)
                while harness.gateway.queue.qsize() > QUEUE_HIGH_WATER:
                    await asyncio.sleep(0.001)
        await harness.wait_published(len(raws))
        return len(raws) / (time.perf_counter() - t0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _naive(mosq: Mosquitto, data_dir: Path, raws: list[bytes]) -> float:
    """One reading at a time: decode, commit (fsync), publish, wait for PUBACK."""
    db = sqlite3.connect(data_dir / "naive.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, payload TEXT, sent INTEGER)")
    client = mosq.client(role="bench-baseline")
    client.connect(mosq.host, mosq.port)
    sock = client.socket()
    if isinstance(sock, socket.socket):  # same TCP_NODELAY as the gateway: a fair baseline
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.loop_start()
    topic = wire.Topics("gw-naive").readings
    try:
        t0 = time.perf_counter()
        for raw in raws:
            m = Measurement(
                "hrm-naive", "p-naive", HR_CHAR, profiles.decode(HR_CHAR, raw), datetime.now(UTC)
            )
            payload = wire.encode(to_wire(m)[0]).decode()
            row = db.execute("INSERT INTO outbox (payload, sent) VALUES (?, 0)", (payload,))
            message = json.dumps(
                {"schema": "vg.readings/1", "batch_id": str(row.lastrowid), "readings": [payload]}
            )
            client.publish(topic, message, qos=1).wait_for_publish(timeout=10)
            db.execute("UPDATE outbox SET sent = 1 WHERE id = ?", (row.lastrowid,))
        return len(raws) / (time.perf_counter() - t0)
    finally:
        client.disconnect()
        client.loop_stop()
        db.close()


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vg-bench-gw-") as tmp:
        yield Path(tmp)


def run() -> Iterator[Figure]:
    raws = notifications(PIPELINE_READINGS)
    with broker() as mosq, _workdir() as tmp:
        cpu = pin_to_one_core()
        quiet_logs()
        cloud = InstantCloud(mosq)
        try:
            naive = _naive(mosq, tmp, raws[:NAIVE_READINGS])
            fast = asyncio.run(_pipeline(mosq, tmp / "gw", raws))
        finally:
            cloud.close()
    yield Figure(
        bench="gateway_pipeline",
        figure=round(fast),
        unit="readings/s",
        baseline=round(naive),
        ratio=round(fast / naive, 1),
        extra={"readings": PIPELINE_READINGS, "cpu": cpu, "synchronous": "FULL"},
    )
