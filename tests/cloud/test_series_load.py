"""The alert path reads a stored series back exactly as it was written: the same epoch
seconds as ``to_epoch`` of each time stamp, and device flags that make a sample unusable
honoured even when the reading itself says usable. On SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine

from cloud.alerts import service
from cloud.alerts.service import load_many, load_series
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Reading
from cloud.store.readings import reading_row, upsert_readings, wire_reading
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


def test_load_many_is_load_series_of_each(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch's one-statement load gives each series exactly as ``load_series`` does:
    the same epochs, values and usability (flags honoured), the same most recent rows under
    the history limit, and an empty series where nothing is stored."""
    monkeypatch.setattr(service, "MAX_HISTORY_ROWS", 4)
    engine = _engine(db_url)
    sessions = session_factory(engine)
    readings = [
        wire.Reading(
            id=f"r-{patient}-{metric}-{i}",
            patient_id=patient,
            device_id="d-1",
            metric=metric,
            value=50.0 + 3 * i + (patient == "p-2"),
            unit="/min" if metric is wire.Metric.HEART_RATE else "%",
            ts=T0 + timedelta(seconds=11 * i, microseconds=7 * i),
            quality=wire.Quality(usable=i % 4 != 1, flags=FLAGS[i % len(FLAGS)]),
        )
        for patient in ("p-1", "p-2")
        for metric in (wire.Metric.HEART_RATE, wire.Metric.SPO2)
        for i in range(6)
    ]
    with sessions.begin() as s:
        upsert_readings(s, [reading_row(r, gateway_id="gw-1", received_at=T0) for r in readings])
    since = to_epoch(T0)
    wanted = [
        ("p-2", "spo2", since + 20),
        ("p-1", "heart_rate", since),
        ("p-1", "spo2", since + 1000),
        ("p-3", "heart_rate", since),
        ("p-2", "heart_rate", since - 5),
    ]
    with sessions() as s:
        many = load_many(s, wanted)
        each = [load_series(s, p, m, since=t) for p, m, t in wanted]
    engine.dispose()
    assert [len(x.t) for x in many] == [4, 4, 0, 0, 4]
    for got, expected in zip(many, each, strict=True):
        assert got.t.tolist() == expected.t.tolist()
        assert got.v.tolist() == expected.v.tolist()
        assert got.usable.tolist() == expected.usable.tolist()


def test_stored_reading_is_the_wire_reading(db_url: str) -> None:
    """What the batch upsert stores reads back as the gateway sent it, text that
    needs escaping (quotes, backslashes, tabs, newlines, non-ASCII) included."""
    engine = _engine(db_url)
    sessions = session_factory(engine)
    sent = wire.Reading(
        id="r-odd",
        patient_id="p-1",
        device_id="d-1",
        metric=wire.Metric.SPO2,
        value=96.5,
        unit="%",
        ts=T0,
        measurement_id="m-1",
        quality=wire.Quality(
            usable=True, flags=("contact_lost",), source='a\\b "c"\td\né', source_unit='%\t"\\N\n'
        ),
    )
    with sessions.begin() as s:
        inserted = upsert_readings(s, [reading_row(sent, gateway_id="gw-1", received_at=T0)])
    with sessions() as s:
        stored = s.get(Reading, ("gw-1", "r-odd"))
        assert stored is not None
        assert stored.received_at == T0
        assert stored.gateway_id == "gw-1"
        back = wire_reading(stored)
    engine.dispose()
    assert inserted == {"r-odd"}
    assert back == sent
