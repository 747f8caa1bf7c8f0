"""The web app's two heaviest pages on PostgreSQL, server side: the population of 1,000
patients (target p95 ≤ 300 ms) and a patient page with a 365-day trend (p95 ≤ 150 ms).

Each is measured through the real app (sign-in cookie, routing, queries, rendering) and
set against a naive baseline in the same run: the population computed with queries per
patient, and the year's charts read from every raw reading, a row and a datetime each.
Beside each p95 wall time, the median CPU time per request of this process (client and
server), which the other work on a shared machine disturbs less.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.api.app import create_app
from cloud.auth import service as auth
from cloud.reports.service import data_days
from cloud.settings import CloudSettings
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Alert, Reading
from cloud.store.readings import upsert_readings
from cloud.store.rollups import add_to_rollups
from cloud.store.tenancy import Role
from cloud.tenancy import service as tenancy
from cloud.trends.lttb import lttb_indices
from tests.bench._common import Figure
from tests.fixtures.postgres import Postgres

PATIENTS = 1000
DAYS = 14
YEAR = 365
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROGRAMS = ("heart_failure", "copd", "hypertension", "diabetes", "general")
EMAIL, PASSWORD = "clin@bench.test", "bench-password-long-enough"
PAGE_REPEATS = 30


def _reading(  # noqa: PLR0917 - one row of the reading table, in its column order
    rid: str, pid: str, metric: str, unit: str, value: float, ts: datetime,
    measurement: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "id": rid, "gateway_id": "gw-bench", "patient_id": pid, "device_id": f"dev-{pid}",
        "metric": metric, "value": float(value), "unit": unit, "ts": ts,
        "measurement_id": measurement, "usable": True, "quality": {}, "received_at": ts,
    }  # fmt: skip


def _patient_rows(
    pid: str, days: int, hr_every_h: int, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Heart rate every ``hr_every_h`` hours, and each morning a BP, a weight and an SpO2."""
    rows: list[dict[str, Any]] = []
    start = NOW - timedelta(days=days)
    for h in range(0, days * 24, hr_every_h):
        ts = start + timedelta(hours=h)
        rows.append(_reading(f"{pid}-hr-{h}", pid, "heart_rate", "/min", 70 + rng.normal(0, 6), ts))
    for d in range(days):
        ts = start + timedelta(days=d, hours=8)
        m = f"{pid}-bp-{d}"
        rows.append(_reading(f"{m}-s", pid, "systolic_bp", "mm[Hg]", 130 + rng.normal(0, 9), ts, m))
        rows.append(_reading(f"{m}-d", pid, "diastolic_bp", "mm[Hg]", 82 + rng.normal(0, 6), ts, m))
        rows.append(
            _reading(f"{pid}-kg-{d}", pid, "body_weight", "kg", 80 + rng.normal(0, 0.4), ts)
        )
        rows.append(_reading(f"{pid}-sp-{d}", pid, "spo2", "%", 96 + rng.normal(0, 1), ts))
    return rows


def _store(sessions: Callable[[], Session], rows: list[dict[str, Any]]) -> None:
    with sessions() as s, s.begin():
        inserted = upsert_readings(s, rows)
        add_to_rollups(s, [r for r in rows if r["id"] in inserted])


def _seed(url: str) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    rng = np.random.default_rng(7)
    with sessions() as s, s.begin():
        auth.create_organisation(s, organisation_id="bench", name="Bench", now=NOW)
        auth.create_user(s, organisation_id="bench", email=EMAIL, password=PASSWORD,
                         role=Role.CLINICIAN, patient_id=None, now=NOW)  # fmt: skip
        for i in range(PATIENTS):
            tenancy.create_patient(s, organisation_id="bench", patient_id=f"p-{i:04d}",
                                   display_name=f"Bench patient {i}",
                                   program_id=PROGRAMS[i % len(PROGRAMS)], now=NOW)  # fmt: skip
        tenancy.create_patient(s, organisation_id="bench", patient_id="p-year",
                               display_name="A year of data", program_id="general", now=NOW)  # fmt: skip
    batch: list[dict[str, Any]] = []
    for i in range(PATIENTS):
        batch += _patient_rows(f"p-{i:04d}", DAYS, 2, rng)
        if len(batch) >= 20_000:
            _store(sessions, batch)
            batch = []
            print(f"  seeded {i + 1:,}/{PATIENTS:,} patients", file=sys.stderr, end="\r")
    _store(sessions, batch)
    year = _patient_rows("p-year", YEAR, 1, rng)
    for k in range(0, len(year), 20_000):
        _store(sessions, year[k : k + 20_000])
    with sessions() as s, s.begin():
        for i in range(0, PATIENTS, 10):
            s.add(Alert(patient_id=f"p-{i:04d}", rule_id="bench", rule_version=1,
                        category="clinical", priority=("high", "medium", "low")[i % 3],
                        metric="systolic_bp", status="open", opened_at=NOW, updated_at=NOW,
                        resolved_at=None, first_value=181.0, last_value=181.0,
                        worst_value=181.0, count=1, evidence={}))  # fmt: skip
    print(file=sys.stderr)
    engine.dispose()


def _naive_population(s: Session, ids: list[str]) -> list[tuple[str, int, int]]:
    """What a hand-written page would do: a few queries per patient."""
    out = []
    for pid in ids:
        alerts = (
            s.scalar(
                select(func.count()).where(Alert.patient_id == pid, Alert.status != "resolved")
            )
            or 0
        )
        latest = {}
        for metric in ("heart_rate", "systolic_bp", "diastolic_bp", "body_weight", "spo2"):
            latest[metric] = s.scalars(
                select(Reading.value).where(Reading.patient_id == pid, Reading.metric == metric)
                .order_by(Reading.ts.desc()).limit(2)
            ).all()  # fmt: skip
        days = data_days(
            s,
            [pid],
            since=(NOW - timedelta(days=29)).date(),
            until=(NOW + timedelta(days=1)).date(),
        )
        out.append((pid, int(alerts), len(days.get(pid, ()))))
    return out


def _naive_trend(s: Session, metric: str, since: datetime, until: datetime) -> list[int]:
    """A chart as a hand-written page would draw it: every raw reading of the range read
    as a row (a datetime each), then LTTB. Kept here, apart from ``cloud.trends``, so the
    baseline stays naive whatever the service learns."""
    rows = s.execute(
        select(Reading.ts, Reading.value)
        .where(Reading.patient_id == "p-year", Reading.metric == metric,
               Reading.usable.is_(True), Reading.ts >= since, Reading.ts < until)
        .order_by(Reading.ts)
    ).all()  # fmt: skip
    x = np.array([r[0].timestamp() for r in rows], dtype=np.float64)
    y = np.array([r[1] for r in rows], dtype=np.float64)
    return [int(i) for i in lttb_indices(x, y, 600)]


def _p95_ms(fn: Callable[[], object], repeats: int) -> float:
    return _timed(fn, repeats)[0]


def _timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """p95 wall time and median CPU time (this process: client and server), in ms. On a
    shared machine the CPU figure moves less than the wall time."""
    samples, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        samples.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.percentile(np.array(samples) * 1000, 95)), float(np.median(cpu) * 1000)


def _signed_in(client: TestClient) -> None:
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    r = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text


def run() -> Iterator[Figure]:
    workdir = Path(tempfile.mkdtemp(prefix="vitalgate-bench-dashboard-"))
    pg = Postgres(workdir)
    pg.start()
    try:
        url = pg.create_database("dashboard_bench")
        migrate(url)
        _seed(url)
        settings = CloudSettings(data_dir=workdir / "cloud", database_url=url, ingest_enabled=False,
                                 secret_key=SecretStr("bench-secret-that-is-long-enough-0123456789"))  # fmt: skip
        with TestClient(create_app(settings, clock=lambda: NOW)) as client:
            _signed_in(client)
            page = client.get("/")
            assert page.status_code == 200
            listed = page.text.count('<a href="/patients/')
            assert listed == PATIENTS + 1, listed
            population, population_cpu = _timed(lambda: client.get("/"), PAGE_REPEATS)
            year = client.get("/patients/p-year?span=1y")
            assert 'data-metric="heart_rate"' in year.text
            patient, patient_cpu = _timed(
                lambda: client.get("/patients/p-year?span=1y"), PAGE_REPEATS
            )
            sessions = client.app.state.services.sessions  # type: ignore[attr-defined]
            ids = [f"p-{i:04d}" for i in range(PATIENTS)] + ["p-year"]
            with sessions() as s:
                naive_population = _p95_ms(lambda: _naive_population(s, ids), 3)
                since, until = NOW - timedelta(days=YEAR), NOW

                def naive_year() -> None:
                    for metric in (
                        "heart_rate",
                        "systolic_bp",
                        "diastolic_bp",
                        "body_weight",
                        "spo2",
                    ):
                        _naive_trend(s, metric, since, until)

                naive_patient = _p95_ms(naive_year, 5)
        yield Figure("dashboard", round(population, 1), "ms p95 population page (1,000 patients, PostgreSQL)",
                     baseline=round(naive_population, 1), ratio=round(naive_population / population, 1),
                     extra={"page": "population", "target_ms": 300, "patients": PATIENTS,
                            "cpu_ms_median": round(population_cpu, 1)})  # fmt: skip
        yield Figure("dashboard", round(patient, 1), "ms p95 patient page (365-day trends, PostgreSQL)",
                     baseline=round(naive_patient, 1), ratio=round(naive_patient / patient, 1),
                     extra={"page": "patient", "target_ms": 150, "days": YEAR,
                            "cpu_ms_median": round(patient_cpu, 1)})  # fmt: skip
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
