"""alert_latency: from a gateway's publish to the coordinator's webhook receiving the alert.

Real parts on loopback: Mosquitto, the cloud as a subprocess (ingest, store, rules,
notifier, apprise) and an HTTP receiver. Each round publishes one out-of-range reading
(the rule fires on one reading: persistence delays are excluded, as the target says) and
then a normal one that clears it, so every round opens a new alert. Readings are a minute
apart in device time: one second apart, gateway.signal's spike filter would rightly reject
an isolated 170 in a stream of 70s.
"""

from __future__ import annotations

import functools
import json
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from cloud.store.models import Alert
from gateway import wire
from tests.bench._common import Figure
from tests.conftest import CloudProcess
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.waiting import wait_until
from tests.fixtures.webhook import WebhookReceiver

ROUNDS: Final = 30
RULES: Final = [
    {"kind": "threshold", "rule_id": "bench.hr", "metric": "heart_rate", "fire_high": 150,
     "clear_high": 100, "priority": "high", "persistence": {"count": 1}},
]  # fmt: skip


def batch(i: int, value: float, ts: datetime) -> bytes:
    reading = wire.Reading(
        id=f"lat-{i}",
        patient_id="p-lat",
        device_id="hrm-lat",
        metric=wire.Metric.HEART_RATE,
        value=value,
        unit="/min",
        ts=ts,
    )
    return wire.encode(
        wire.ReadingBatch(gateway_id="gw-lat", batch_id=f"b-{i}", sent_at=ts, readings=(reading,))
    )


def more_than(hook: WebhookReceiver, count: int) -> bool:
    return len(hook.bodies()) > count


def open_alerts(engine: Engine) -> int:
    with Session(engine) as s:
        return len(s.scalars(select(Alert.id).where(Alert.status == "open")).all())


def measure(workdir: Path) -> list[float]:
    broker = Mosquitto(workdir / "mosquitto")
    broker.start()
    hook = WebhookReceiver()
    hook.start()
    rules = workdir / "rules.json"
    rules.write_text(json.dumps(RULES))
    cloud = CloudProcess(
        {
            "VG_MQTT__HOST": broker.host,
            "VG_MQTT__PORT": str(broker.port),
            "VG_ALERT_CHANNELS": json.dumps([hook.apprise_url]),
            "VG_ALERT_RULES_FILE": str(rules),
            "VG_INGEST_FLUSH_S": "0.005",
        },
        workdir / "cloud",
    )
    cloud.start()
    client = broker.client("gw-lat")
    client.connect(broker.host, broker.port)
    client.loop_start()
    topic = wire.Topics("gw-lat").readings
    latencies: list[float] = []
    t0 = datetime.now(UTC) - timedelta(hours=2)
    engine = create_engine(cloud.db_url)
    try:
        for r in range(ROUNDS):
            before = len(hook.bodies())
            start = time.perf_counter()
            client.publish(topic, batch(2 * r, 170.0, t0 + timedelta(minutes=2 * r)), qos=1)
            delivered = functools.partial(more_than, hook, before)
            wait_until(delivered, timeout=10, interval=0.001, what="webhook")
            latencies.append((time.perf_counter() - start) * 1000)
            clear = batch(2 * r + 1, 70.0, t0 + timedelta(minutes=2 * r + 1))
            client.publish(topic, clear, qos=1).wait_for_publish(5)
            wait_until(
                lambda: open_alerts(engine) == 0, timeout=10, interval=0.005, what="all clear"
            )
    finally:
        engine.dispose()
        client.disconnect()
        client.loop_stop()
        cloud.stop()
        hook.stop()
        broker.kill()
    return latencies


def run() -> Iterator[Figure]:
    with tempfile.TemporaryDirectory(prefix="vg-bench-latency-") as tmp:
        latencies = np.array(measure(Path(tmp)))
    yield Figure(
        "alert_latency",
        round(float(np.percentile(latencies, 95)), 1),
        "ms (p95)",
        extra={
            "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "max_ms": round(float(latencies.max()), 1),
            "alerts": len(latencies),
            "target_p95_ms": 500,
        },
    )
