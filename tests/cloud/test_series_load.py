"""The alert path reads a stored series back exactly as it was written: the same epoch
seconds as ``to_epoch`` of each time stamp, and device flags that make a sample unusable
honoured even when the reading itself says usable. On SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import Engine

from cloud.alerts.service import load_series
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.readings import reading_row, upsert_readings
from gateway import wire
from gateway.signal.series import to_epoch

T0 = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
FLAGS = [(), ("contact_lost",), ("low_battery",), (), ("body_movement", "other")]


def _engine(db_url: str) -> Engine:
    migrate(db_url)
    return make_engine(db_url)


def test_load_series_epochs_and_flags(db_url: str) -> None:
    engine = _engine(db_url)
    sessions = session_factory(engine)
    readings = [
        wire.Reading(
            id=f"r-{i}",
            patient_id="p-1",
            device_id="d-1",
            metric=wire.Metric.HEART_RATE,
            value=60.0 + i,
            unit="/min",
            ts=T0 + timedelta(seconds=7 * i, microseconds=i),
            quality=wire.Quality(usable=i != 3, flags=flags),
        )
        for i, flags in enumerate(FLAGS)
    ]
    with sessions.begin() as s:
        upsert_readings(s, [reading_row(r, gateway_id="gw-1", received_at=T0) for r in readings])
    with sessions() as s:
        series = load_series(s, "p-1", "heart_rate", since=to_epoch(T0))
    engine.dispose()
    order = np.argsort(series.t)
    assert series.t[order].tolist() == [to_epoch(r.ts) for r in readings]
    assert series.v[order].tolist() == [r.value for r in readings]
    assert series.usable[order].tolist() == [True, False, True, False, False]
