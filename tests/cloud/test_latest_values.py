"""The latest values and the days with data that ingest keeps are exactly what the readings
say, on both stores: after out-of-order and repeated deliveries, retention and erasure, and
when the migration fills them from an existing record."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.api.deps import Principal
from cloud.auth import service as auth
from cloud.population import service as population
from cloud.reports.service import data_day_counts, data_days
from cloud.store import retention
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.latest import DEVICE_METRICS, DataDay, LatestValue
from cloud.store.models import Reading
from cloud.store.readings import key, store_readings, upsert_readings
from cloud.store.rollups import Rollup, add_to_rollups, aggregate
from cloud.store.tenancy import Role
from cloud.tenancy import service as tenancy

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PATIENTS = ("p-a", "p-b", "p-c")
METRICS = ("heart_rate", "spo2", "battery_level")
GATEWAYS = ("gw-A", "gw-b", "gw-a")  # case differs: ids compare by code point


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        auth.create_organisation(s, organisation_id="org", name="Org", now=NOW)
        for pid in PATIENTS:
            tenancy.create_patient(s, organisation_id="org", patient_id=pid, display_name=pid,
                                   program_id="general", now=NOW)  # fmt: skip
    yield factory
    engine.dispose()


def _random_readings(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Readings over 40 days in random order, with shared time stamps (ties broken by
    gateway and id), unusable ones and a device metric."""
    rows = []
    for i in range(n):
        ts = NOW - timedelta(minutes=rng.randrange(0, 40 * 24 * 60, 30))
        rows.append({
            "id": f"r-{i:04d}" if rng.random() < 0.5 else f"R-{i:04d}",
            "gateway_id": rng.choice(GATEWAYS), "patient_id": rng.choice(PATIENTS),
            "device_id": "dev", "metric": rng.choice(METRICS), "value": rng.uniform(50, 150),
            "unit": "/min", "ts": ts, "measurement_id": None, "usable": rng.random() > 0.15,
            "quality": {}, "received_at": NOW,
        })  # fmt: skip
    return rows


def _ingest(s: Session, rows: list[dict[str, Any]]) -> None:
    """What the ingest transaction does: store, then fold in only what was inserted."""
    stored = store_readings(s, rows)
    add_to_rollups(s, [r for r in rows if key(r) in stored.inserted])


def _from_readings(s: Session) -> tuple[dict[tuple[str, str], list[Any]], set[tuple[Any, str]]]:
    """Latest pairs and patient-days computed from scratch from the stored readings."""
    series: dict[tuple[str, str], list[tuple[datetime, str, str, float]]] = {}
    days: set[tuple[Any, str]] = set()
    for pid, metric, ts, gw, rid, value in s.execute(
        select(Reading.patient_id, Reading.metric, Reading.ts, Reading.gateway_id, Reading.id,
               Reading.value).where(Reading.usable.is_(True))
    ):  # fmt: skip
        series.setdefault((pid, metric), []).append((ts, gw, rid, value))
        if metric not in DEVICE_METRICS:
            days.add((ts.date(), pid))
    latest = {}
    for k, readings in series.items():
        top = sorted(readings, reverse=True)[:2]
        latest[k] = [x for r in top for x in r] + [None] * (4 * (2 - len(top)))
    return latest, days


def _kept(s: Session) -> tuple[dict[tuple[str, str], list[Any]], set[tuple[Any, str]]]:
    latest = {
        (v.patient_id, v.metric): [v.ts, v.gateway_id, v.reading_id, v.value, v.prev_ts,
                                   v.prev_gateway_id, v.prev_reading_id, v.prev_value]
        for v in s.scalars(select(LatestValue))
    }  # fmt: skip
    days = {(d.start.date(), d.patient_id) for d in s.scalars(select(DataDay))}
    return latest, days


def test_out_of_order_and_repeated_ingest_keeps_exactly_the_latest(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(14)
    rows = _random_readings(rng, 600)
    # Batches of random sizes in random order; some readings delivered twice.
    delivered = rows + rng.sample(rows, 80)
    rng.shuffle(delivered)
    start = 0
    while start < len(delivered):
        size = rng.randint(1, 90)
        with sessions.begin() as s:
            _ingest(s, delivered[start : start + size])
        start += size
        with sessions() as s:
            assert _kept(s) == _from_readings(s)
    with sessions() as s:
        latest = _kept(s)[0]
        assert len(latest) == len(PATIENTS) * len(METRICS)
        # The adherence count agrees with the days the daily rollups hold.
        since, until = (NOW - timedelta(days=29)).date(), (NOW + timedelta(days=1)).date()
        from_rollups = data_days(s, list(PATIENTS), since=since, until=until)
        assert data_day_counts(s, list(PATIENTS), since=since, until=until) == {
            pid: len(d) for pid, d in from_rollups.items()
        }


def test_retention_and_erasure_leave_exactly_what_the_readings_say(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(41)
    with sessions.begin() as s:
        _ingest(s, _random_readings(rng, 400))
    # Cut between a series' latest and the one before it as well as before both.
    cutoff = retention.cutoff_for(3, now=NOW)
    with sessions.begin() as s:
        removed = retention.purge_organisation(s, organisation_id="org", cutoff=cutoff)
    assert removed["readings"] > 0
    with sessions() as s:
        assert _kept(s) == _from_readings(s)
        assert all(v.ts >= cutoff for v in s.scalars(select(LatestValue)))
    with sessions.begin() as s:
        retention.erase_patient(s, organisation_id="org", patient_id="p-b",
                                actor_user_id=None, actor_role="admin", client=None, now=NOW)  # fmt: skip
    with sessions() as s:
        latest, days = _kept(s)
        assert (latest, days) == _from_readings(s)
        assert {pid for pid, _ in latest} == {"p-a", "p-c"}
        assert {pid for _, pid in days} <= {"p-a", "p-c"}
    # Ingest goes on from there.
    with sessions.begin() as s:
        _ingest(s, _random_readings(random.Random(5), 50))
    with sessions() as s:
        assert _kept(s) == _from_readings(s)


def _reading(rid: str, ts: datetime, value: float) -> dict[str, Any]:
    return {"id": rid, "gateway_id": "gw-a", "patient_id": "p-a", "device_id": "dev",
            "metric": "heart_rate", "value": value, "unit": "/min", "ts": ts,
            "measurement_id": None, "usable": True, "quality": {}, "received_at": NOW}  # fmt: skip


def test_population_shows_the_latest_reading_not_after_now(
    sessions: sessionmaker[Session],
) -> None:
    """A gateway clock a little fast stores a reading after the page's ``now``: the page
    shows the reading before it, as a search of the readings would."""
    with sessions.begin() as s:
        _ingest(s, [_reading("old", NOW - timedelta(hours=2), 70.0),
                    _reading("last", NOW - timedelta(hours=1), 80.0),
                    _reading("ahead", NOW + timedelta(minutes=5), 99.0)])  # fmt: skip
    viewer = Principal(user_id=0, organisation_id="org", role=Role.CLINICIAN, patient_id=None,
                       client=None)  # fmt: skip
    with sessions() as s:
        rows = {r.patient_id: r for r in population.population(s, principal=viewer, now=NOW)}
        later = {
            r.patient_id: r
            for r in population.population(s, principal=viewer, now=NOW + timedelta(minutes=10))
        }
    shown = rows["p-a"].latest
    assert [(x.metric, x.value, x.ts, x.direction) for x in shown] == [
        ("heart_rate", 80.0, NOW - timedelta(hours=1), "up")
    ]
    assert rows["p-a"].data_days == 1
    assert [(x.value, x.direction) for x in later["p-a"].latest] == [(99.0, "up")]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_migration_fills_both_tables_from_the_record(empty_url: str) -> None:
    migrate(empty_url, "0013")
    engine = make_engine(empty_url)
    sessions = session_factory(engine)
    rows = _random_readings(random.Random(3), 300)
    with sessions.begin() as s:  # the record as 0013 kept it: readings and rollups
        inserted = upsert_readings(s, rows)
        s.execute(insert(Rollup), aggregate([r for r in rows if r["id"] in inserted]))
    migrate(empty_url)
    with sessions() as s:
        latest, days = _kept(s)
        assert (latest, days) == _from_readings(s)
        assert latest
    engine.dispose()


def test_readings_at_the_same_time_are_ordered_by_gateway_then_id(
    sessions: sessionmaker[Session],
) -> None:
    """Ties on the time stamp go by gateway id, then reading id, by code point ("B" < "a"),
    whatever order they arrive in and whatever the database's collation."""
    at = NOW - timedelta(hours=1)
    tied = [{**_reading(rid, at, v), "gateway_id": gw}
            for gw, rid, v in (("gw-a", "B", 1.0), ("gw-A", "z", 2.0), ("gw-a", "a", 3.0))]  # fmt: skip
    for order in ((0, 1, 2), (2, 1, 0), (1, 2, 0)):
        with sessions.begin() as s:
            s.execute(delete(LatestValue))
            s.execute(delete(Reading))
            for i in order:  # one batch each
                _ingest(s, [tied[i]])
        with sessions() as s:
            kept = s.scalars(select(LatestValue)).one()
            assert (kept.reading_id, kept.prev_reading_id) == ("a", "B")
            assert _kept(s)[0] == _from_readings(s)[0]
