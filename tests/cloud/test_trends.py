"""Rollups stay equal to the readings they summarise; trends keep extremes and the budget.

Store tests run on SQLite and PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Reading
from cloud.store.readings import upsert_readings
from cloud.store.rollups import Period, Rollup, add_to_rollups, bucket_start
from cloud.trends import service
from tests.fixtures.api import T0, World, reading_row


def store(sessions: sessionmaker[Session], rows: list[dict[str, Any]]) -> None:
    """What ingest does: upsert, then roll up only what was new."""
    with sessions.begin() as s:
        inserted = upsert_readings(s, rows)
        add_to_rollups(s, {r["id"]: r for r in rows if r["id"] in inserted}.values())


def test_rollups_equal_the_readings_even_with_repeats(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    rng = random.Random(3)
    rows = [
        reading_row(
            f"r{i}",
            rng.choice(["p1", "p2"]),
            "d",
            round(rng.uniform(40, 160), 1),
            T0 + timedelta(minutes=rng.randrange(0, 3 * 24 * 60)),
        )
        for i in range(3000)
    ]
    rows[5]["usable"] = False
    try:
        for start in range(0, 3000, 500):
            # Each batch repeats earlier readings and some of its own: none may count twice.
            repeats = rng.sample(rows[: start + 500], 50)
            store(sessions, rows[start : start + 500] + repeats)
        with sessions() as s:
            assert s.scalar(select(func.count()).select_from(Reading)) == 3000
            for period in Period:
                got = {
                    (r.patient_id, r.start): r
                    for r in s.scalars(select(Rollup).where(Rollup.period == period.value))
                }
                groups: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
                for r in rows:
                    if r["usable"]:
                        key = (str(r["patient_id"]), bucket_start(r["ts"], period))
                        groups.setdefault(key, []).append(r)
                assert got.keys() == groups.keys()
                for key, group in groups.items():
                    roll, values = got[key], [g["value"] for g in group]
                    assert (roll.count, roll.min, roll.max) == (
                        len(group),
                        min(values),
                        max(values),
                    )
                    assert roll.total == pytest.approx(sum(values))
                    # The extremes keep the time they happened.
                    assert (roll.min_ts, roll.min) in {(g["ts"], g["value"]) for g in group}
                    assert (roll.max_ts, roll.max) in {(g["ts"], g["value"]) for g in group}
    finally:
        engine.dispose()


def minute_series(patient: str, days: int, start: datetime = T0) -> list[dict[str, object]]:
    rows = [
        reading_row(
            f"{patient}-{i}", patient, "d", 70.0 + (i % 60) / 10, start + timedelta(minutes=i)
        )
        for i in range(days * 24 * 60)
    ]
    rows[777]["value"] = 31.0
    rows[-999]["value"] = 190.0
    return rows


@pytest.mark.parametrize("raw_max", [10**9, 100], ids=["raw", "rollups"])
def test_trend_keeps_extremes_and_budget(
    db_url: str, raw_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "RAW_MAX", raw_max)
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    rows = minute_series("p1", days=3)
    try:
        store(sessions, rows)
        with sessions() as s:
            t = service.trend(
                s,
                patient_id="p1",
                metric="heart_rate",
                since=T0,
                until=T0 + timedelta(days=3),
                points=200,
            )
    finally:
        engine.dispose()
    assert t.resolution == ("raw" if raw_max > 10**6 else "hour")
    assert t.source_points == len(rows)
    assert len(t.points) <= 200
    assert t.min is not None
    assert t.max is not None
    assert (t.min.ts, t.min.value) == (rows[777]["ts"], 31.0)
    assert (t.max.ts, t.max.value) == (rows[-999]["ts"], 190.0)
    assert {(p.ts, p.value) for p in t.points} >= {(t.min.ts, 31.0), (t.max.ts, 190.0)}
    assert [p.ts for p in t.points] == sorted(p.ts for p in t.points)


def test_trend_endpoint(world: World) -> None:
    with world.session() as s, s.begin():
        rows = minute_series("p-n1", days=1, start=T0 + timedelta(days=1))
        inserted = upsert_readings(s, rows)
        add_to_rollups(s, [r for r in rows if r["id"] in inserted])
    since, until = (T0 + timedelta(days=1)).isoformat(), (T0 + timedelta(days=2)).isoformat()
    r = world.get(
        "/api/v1/patients/p-n1/trends",
        "clin@north.test",
        metric="heart_rate",
        since=since,
        until=until,
        points=100,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resolution"] == "raw"
    assert body["source_points"] == 24 * 60
    assert len(body["points"]) <= 100
    assert body["min"]["value"] == 31.0
    assert body["max"]["value"] == 190.0
    assert {p["value"] for p in body["points"]} >= {31.0, 190.0}
    # Refusals: another organisation's patient, a naive time, an empty range, too few points.
    bad: list[tuple[str, dict[str, str | int], int]] = [
        ("/api/v1/patients/p-s1/trends", {"metric": "heart_rate"}, 404),
        (
            "/api/v1/patients/p-n1/trends",
            {"metric": "heart_rate", "since": "2026-11-01T00:00:00"},
            422,
        ),
        (
            "/api/v1/patients/p-n1/trends",
            {"metric": "heart_rate", "since": until, "until": since},
            422,
        ),
        ("/api/v1/patients/p-n1/trends", {"metric": "heart_rate", "points": 2}, 422),
        ("/api/v1/patients/p-n1/trends", {"metric": "mood"}, 422),
        (
            "/api/v1/patients/p-n1/trends",
            {"metric": "heart_rate", "since": "2020-01-01T00:00:00Z"},
            422,
        ),
    ]
    for path, params, status in bad:
        r = world.get(path, "clin@north.test", **params)
        assert r.status_code == status, (params, r.text)
        assert r.json()["code"] in {"not_found", "invalid_request"}
