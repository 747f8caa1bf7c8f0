"""Latency from a device notification to the broker's PUBACK of the batch carrying it, at
50 readings/s (a busy home: a strap plus spot readings), through the real gateway stages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from gateway.ble.measurement import Measurement
from tests.bench._common import Figure
from tests.bench._gateway import (
    Harness,
    InstantCloud,
    broker,
    notifications,
    pin_to_one_core,
    quiet_logs,
)
from tests.fixtures.mosquitto import Mosquitto

RATE_PER_S = 50
READINGS = 750  # 15 s
WARM_UP = 25


async def _measure(mosq: Mosquitto, data_dir: Path) -> list[float]:
    harness = Harness(mosq, data_dir)
    notified: dict[datetime, float] = {}
    acked: dict[datetime, float] = {}
    batch_ts: dict[str, list[datetime]] = {}
    outbox = harness.gateway.outbox
    take, mark = outbox.take_batch, outbox.mark_sent

    def record(m: Measurement) -> None:
        notified[m.received_at] = time.perf_counter()

    def taking(**kw: Any) -> Any:
        batch = take(**kw)
        if batch is not None:
            batch_ts[batch.batch_id] = [_ts(p) for p in batch.payloads]
        return batch

    def marking(batch_id: str, **kw: Any) -> None:
        now = time.perf_counter()
        for ts in batch_ts.get(batch_id, ()):
            acked.setdefault(ts, now)
        mark(batch_id, **kw)

    outbox.take_batch = taking  # type: ignore[method-assign]
    outbox.mark_sent = marking  # type: ignore[method-assign]
    harness.on_measurement = record
    task = asyncio.create_task(harness.gateway.run())
    try:
        await harness.wait_connected()
        start = time.perf_counter()
        for i, raw in enumerate(notifications(READINGS)):
            await asyncio.sleep(max(0.0, start + i / RATE_PER_S - time.perf_counter()))
            harness.notify(raw)
        await harness.wait_published(READINGS)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    order = sorted(notified)[WARM_UP:]
    return [(acked[ts] - notified[ts]) * 1000 for ts in order]


def _ts(payload: str) -> datetime:
    return datetime.fromisoformat(json.loads(payload)["ts"].replace("Z", "+00:00"))


def run() -> Iterator[Figure]:
    with broker() as mosq, tempfile.TemporaryDirectory(prefix="vg-bench-lat-") as tmp:
        cpu = pin_to_one_core()
        quiet_logs()
        cloud = InstantCloud(mosq)
        try:
            latencies = np.array(asyncio.run(_measure(mosq, Path(tmp))))
        finally:
            cloud.close()
    yield Figure(
        bench="gateway_latency",
        figure=round(float(np.percentile(latencies, 99)), 2),
        unit="ms (p99, notification to PUBACK)",
        extra={
            "p50_ms": round(float(np.percentile(latencies, 50)), 2),
            "max_ms": round(float(latencies.max()), 2),
            "rate_per_s": RATE_PER_S,
            "readings": len(latencies),
            "cpu": cpu,
        },
    )
