"""365 days of one reading a minute, downsampled to 1,000 points on PostgreSQL: p95 latency.

The baseline, measured in the same run, reads every raw reading of the range and runs
LTTB over all of them (what the endpoint would do without rollups). Target: p95 < 100 ms.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.readings import upsert_readings
from cloud.store.rollups import Period, Rollup, add_to_rollups
from cloud.trends import service
from cloud.trends.lttb import lttb_indices
from tests.bench._common import Figure
from tests.fixtures.postgres import Postgres

DAYS = 365
POINTS = 1000
QUERIES = 60
OTHER_PATIENTS = 50
"""Other patients in the rollup table (their rows interleaved with the patient's)."""
T0 = datetime(2025, 11, 1, tzinfo=UTC)


def _rows(start: int, stop: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    values = 70 + 8 * np.sin(np.arange(start, stop) / 720) + rng.normal(0, 2, stop - start)
    return [
        {
            "id": f"bench-{i}",
            "gateway_id": "gw-bench",
            "patient_id": "p-bench",
            "device_id": "hrm-bench",
            "metric": "heart_rate",
            "value": float(v),
            "unit": "/min",
            "ts": T0 + timedelta(minutes=i),
            "measurement_id": None,
            "usable": True,
            "quality": {},
            "received_at": T0,
        }
        for i, v in zip(range(start, stop), values, strict=True)
    ]


def _others(first_day: int, last_day: int) -> list[dict[str, Any]]:
    """Hourly and daily rollups of ``OTHER_PATIENTS`` patients for those days."""
    out: list[dict[str, Any]] = []
    for p in range(OTHER_PATIENTS):
        for day in range(first_day, last_day):
            for period, step, n in ((Period.HOUR, timedelta(hours=1), 24), (Period.DAY, None, 1)):
                for k in range(n):
                    start = T0 + timedelta(days=day) + (step * k if step else timedelta())
                    count = 60 if step else 1440
                    out.append(
                        {
                            "patient_id": f"p-other-{p}",
                            "metric": "heart_rate",
                            "period": period.value,
                            "start": start,
                            "count": count,
                            "total": 72.0 * count,
                            "min": 55.0 + p % 7,
                            "min_ts": start,
                            "max": 95.0 + p % 11,
                            "max_ts": start,
                        }
                    )
    return out


def _load(url: str) -> None:
    """Store the year through the ingest path's functions (upsert, then rollups), with other
    patients' rollups written alongside, day by day, as live ingest would interleave them."""
    sessions = session_factory(engine := make_engine(url))
    rng = np.random.default_rng(1)
    total, chunk = DAYS * 24 * 60, 20_000
    try:
        for start in range(0, total, chunk):
            stop = min(start + chunk, total)
            rows = _rows(start, stop, rng)
            with sessions.begin() as s:
                inserted = upsert_readings(s, rows)
                add_to_rollups(s, [r for r in rows if r["id"] in inserted])
                s.execute(
                    insert(Rollup), _others(start // 1440, DAYS if stop == total else stop // 1440)
                )
            print(f"  loaded {min(start + chunk, total):,}/{total:,}", file=sys.stderr, end="\r")
        print(file=sys.stderr)
    finally:
        engine.dispose()


def _p95(samples: list[float]) -> float:
    return float(np.percentile(np.array(samples) * 1000, 95))


def run() -> Iterator[Figure]:
    workdir = Path(tempfile.mkdtemp(prefix="vitalgate-bench-pg-"))
    pg = Postgres(workdir)
    pg.start()
    try:
        url = pg.create_database("trend_bench")
        migrate(url)
        _load(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        since, until = T0, T0 + timedelta(days=DAYS)
        fast: list[float] = []
        with sessions() as s:
            for _ in range(QUERIES):
                t0 = time.perf_counter()
                result = service.trend(
                    s,
                    patient_id="p-bench",
                    metric="heart_rate",
                    since=since,
                    until=until,
                    points=POINTS,
                )
                fast.append(time.perf_counter() - t0)
            assert len(result.points) <= POINTS
            slow: list[float] = []
            for _ in range(5):
                t0 = time.perf_counter()
                raw = service._from_raw(
                    s, service.TrendQuery("p-bench", "heart_rate", since, until, POINTS)
                )
                slow.append(time.perf_counter() - t0)
            assert len(raw.points) <= POINTS
            assert raw.max == result.max
            assert raw.min == result.min
        engine.dispose()
        p95, base = _p95(fast), _p95(slow)
        yield Figure(
            "trend_query",
            round(p95, 2),
            "ms p95 (365 d at 1 min → 1,000 points, PostgreSQL)",
            baseline=round(base, 2),
            ratio=round(base / p95, 1),
            extra={
                "resolution": result.resolution,
                "source_points": result.source_points,
                "points": len(result.points),
                "target_ms": 100,
                "other_patients": OTHER_PATIENTS,
            },
        )
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


__all__ = ["lttb_indices", "run"]
