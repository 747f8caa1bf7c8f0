"""The time-series sink's throughput from SQLite into a real VictoriaMetrics (points/s).

The baseline, measured in the same run, writes the same kind of points one request per
point (what a sink without batching would do). No target in the issue: the figure shows
the sink keeps far ahead of ingest's design rate.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from cloud.settings import InfluxSettings
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.influx import SeriesPoint, TimeSeriesStore
from cloud.store.readings import upsert_readings
from cloud.store.sink import Sink
from tests.bench._common import Figure
from tests.fixtures.victoria import VictoriaMetrics

READINGS = 100_000
BASELINE_POINTS = 1_000
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def reading_row(rid: str, patient: str, device: str, value: float, ts: datetime) -> dict[str, Any]:
    return {
        "id": rid,
        "gateway_id": "gw-bench",
        "patient_id": patient,
        "device_id": device,
        "metric": "heart_rate",
        "value": value,
        "unit": "/min",
        "ts": ts,
        "measurement_id": None,
        "usable": True,
        "quality": {},
        "received_at": ts,
    }


def run() -> Iterator[Figure]:
    work = Path(tempfile.mkdtemp(prefix="vitalgate-bench-sink-"))
    vm = VictoriaMetrics(work / "victoria")
    vm.start()
    url = f"sqlite:///{work / 'cloud.sqlite3'}"
    try:
        migrate(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        with sessions.begin() as s:
            upsert_readings(
                s,
                [
                    reading_row(
                        f"r-{i}",
                        f"p-{i % 50}",
                        f"d-{i % 50}",
                        60 + i % 40,
                        T0 + timedelta(seconds=i),
                    )
                    for i in range(READINGS)
                ],
            )
        store = TimeSeriesStore(
            InfluxSettings(url=vm.url, flavour="victoriametrics", batch_size=5_000)
        )
        t0 = time.perf_counter()
        written = Sink(sessions, store).drain()
        rate = written / (time.perf_counter() - t0)
        store.close()
        engine.dispose()
        assert written == READINGS

        t0 = time.perf_counter()
        with httpx.Client(base_url=vm.url) as client:
            for i in range(BASELINE_POINTS):
                point = SeriesPoint(
                    "o", "p-base", "d", "heart_rate", 60.0, T0 + timedelta(seconds=i)
                )
                line = (
                    f"vitalgate_reading,patient=p-base value={point.value} "
                    f"{int(point.ts.timestamp() * 1000)}"
                )
                client.post(
                    "/api/v2/write", params={"precision": "ms"}, content=line
                ).raise_for_status()
        baseline = BASELINE_POINTS / (time.perf_counter() - t0)
        yield Figure(
            "timeseries_sink",
            round(rate),
            "points/s",
            baseline=round(baseline),
            ratio=round(rate / baseline, 1),
        )
    finally:
        vm.stop()
        shutil.rmtree(work, ignore_errors=True)
