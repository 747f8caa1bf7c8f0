"""The history the alert evaluation reads: ``load_many`` (one statement for every series a
batch touched, packed on PostgreSQL) gives exactly what ``load_series`` gives each series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from cloud.alerts.service import load_many, load_series
from cloud.store.db import make_engine, session_factory
from cloud.store.readings import reading_row, store_readings
from gateway import wire
from gateway.signal.clean import UNUSABLE_FLAGS
from gateway.signal.series import to_epoch

T0 = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
FLAG = sorted(UNUSABLE_FLAGS)[0]


def reading(i: int, patient_id: str, metric: wire.Metric) -> wire.Reading:
    quality = wire.Quality(
        usable=i % 7 != 3,
        flags=(FLAG,) if i % 5 == 1 else ("checked",) if i % 5 == 2 else (),
        source="2a37" if i % 2 else None,
    )
    return wire.Reading(
        id=f"{patient_id}-{metric}-{i}", patient_id=patient_id, device_id="d-1", metric=metric,
        value=60.0 + i * 0.1 + 1e-9 * i, unit="/min" if metric != wire.Metric.SPO2 else "%",
        ts=T0 + timedelta(seconds=37 * i, microseconds=i), quality=quality,
    )  # fmt: skip


def test_load_many_is_load_series_of_each(db_url: str) -> None:
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    series = [("p-1", wire.Metric.HEART_RATE), ("p-1", wire.Metric.SPO2), ("p-2", wire.Metric.HEART_RATE)]  # fmt: skip
    try:
        with sessions.begin() as s:
            rows = [
                reading_row(reading(i, p, m), gateway_id="gw-1", received_at=NOW)
                for p, m in series[:2]
                for i in range(300)
            ]
            store_readings(s, rows)
        since = to_epoch(T0 + timedelta(minutes=30))
        wanted = [(p, str(m), since) for p, m in series]  # p-2 has no readings at all
        with sessions() as s:
            many = load_many(s, wanted)
            one_by_one = [load_series(s, p, m, since=t) for p, m, t in wanted]
        assert [len(x.t) for x in many] == [len(x.t) for x in one_by_one]
        assert len(many[0].t) > 200
        assert len(many[2].t) == 0
        for got, expected in zip(many, one_by_one, strict=True):
            np.testing.assert_array_equal(got.t, expected.t)
            np.testing.assert_array_equal(got.v, expected.v)
            np.testing.assert_array_equal(got.usable, expected.usable)
        assert not many[0].usable.all()
        assert many[0].usable.any()
    finally:
        engine.dispose()
