"""The time-series sink against a real VictoriaMetrics: every point read back, exactly once.

The sink is fed from the SQL record with a high-water mark, so an outage of the store longer
than influxdb-client's retry window is backfilled, and on PostgreSQL a transaction that
commits late (behind a younger one) is not skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud import metrics
from cloud.auth import service as auth
from cloud.settings import InfluxSettings
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.influx import TimeSeriesError, TimeSeriesStore
from cloud.store.marks import read_mark
from cloud.store.models import Reading
from cloud.store.readings import upsert_readings
from cloud.store.sink import MARK, Sink
from cloud.tenancy import service as tenancy
from tests.fixtures.api import reading_row
from tests.fixtures.bindings import bind
from tests.fixtures.victoria import VictoriaMetrics
from tests.fixtures.waiting import wait_until
from tests.test_wire import batch, reading

pytestmark = pytest.mark.timeseries

T0 = datetime(2026, 11, 20, 8, 0, 0, 250_000, tzinfo=UTC)
SERIES = '{__name__="vitalgate_reading_value"}'


def store_for(vm: VictoriaMetrics, **over: Any) -> TimeSeriesStore:
    settings = InfluxSettings(
        url=vm.url,
        flavour="victoriametrics",
        poll_s=0.05,
        **over,
    )
    return TimeSeriesStore(settings)


@pytest.fixture
def db(db_url: str) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        auth.create_organisation(s, organisation_id="north", name="North", now=T0)
        for pid in ("p-1", "p-2"):
            tenancy.create_patient(
                s,
                organisation_id="north",
                patient_id=pid,
                display_name=pid,
                program_id=None,
                now=T0,
            )
    yield engine, sessions
    engine.dispose()


def rows_for(patient: str, n: int, *, start: int = 0) -> list[dict[str, Any]]:
    return [
        reading_row(
            f"r-{patient}-{i}",
            patient,
            f"dev-{patient}",
            60.0 + i + 0.5,
            T0 + timedelta(seconds=30 * i),
        )
        for i in range(start, start + n)
    ]


def expected(rows: list[dict[str, Any]], organisation: str = "north") -> list[Any]:
    out = []
    for row in rows:
        labels = {
            "__name__": "vitalgate_reading_value",
            "device": row["device_id"],
            "metric": row["metric"],
            "patient": row["patient_id"],
        }
        if organisation:
            labels["organisation"] = organisation
        out.append((labels, int(row["ts"].timestamp() * 1000), row["value"]))
    return sorted(out, key=lambda s: (sorted(s[0].items()), s[1]))


def test_every_reading_is_written_once_with_its_tags_value_and_time(
    db: tuple[Engine, sessionmaker[Session]], victoria: VictoriaMetrics
) -> None:
    _, sessions = db
    written = rows_for("p-1", 1500) + rows_for("p-2", 40)
    stray = reading_row("r-stray", "p-unknown", "dev-x", 99.0, T0)
    unusable = {**reading_row("r-bad", "p-1", "dev-p-1", 250.0, T0), "usable": False}
    for start in range(0, len(written), 400):  # several ingest transactions
        with sessions.begin() as s:
            upsert_readings(s, written[start : start + 400])
    with sessions.begin() as s:
        upsert_readings(s, [stray, unusable])

    store = store_for(victoria, batch_size=500)
    sink = Sink(sessions, store)
    points = metrics.SINK_POINTS._value.get()
    assert sink.drain() == len(written) + 1
    assert metrics.SINK_POINTS._value.get() == points + len(written) + 1
    assert sink.drain() == 0

    got = victoria.samples(SERIES)
    assert got == sorted(
        expected(written) + expected([stray], organisation=""),
        key=lambda s: (sorted(s[0].items()), s[1]),
    )
    assert 250.0 not in [value for _, _, value in got]  # unusable readings stay in the record
    with sessions() as s:
        assert read_mark(s, MARK)[1] == "r-stray"
    store.close()


@pytest.mark.postgres
def test_a_transaction_committing_late_is_not_skipped(
    postgres_url: str, victoria: VictoriaMetrics
) -> None:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    sessions = session_factory(engine)
    early, late = rows_for("p-1", 5), rows_for("p-2", 5)
    store = store_for(victoria)
    sink = Sink(sessions, store)
    slow = sessions()
    slow.begin()
    upsert_readings(slow, early)  # takes the older transaction id, commits last
    with sessions.begin() as s:
        upsert_readings(s, late)

    assert sink.drain() == 0  # the younger transaction waits behind the running one
    slow.commit()
    slow.close()
    assert sink.drain() == 10
    assert victoria.samples(SERIES) == expected(early + late, organisation="")
    store.close()
    engine.dispose()


def test_an_outage_longer_than_the_retry_window_is_backfilled_exactly_once(
    stack: Any, victoria: VictoriaMetrics
) -> None:
    sessions, pub = stack
    bind(sessions, organisation="clinic", pairs=[("p-9", "hr-9")])  # gw-1 may send them
    now = datetime.now(UTC).replace(microsecond=0)
    sent: list[dict[str, Any]] = []

    def publish(first: int, n: int) -> None:
        readings = [
            reading(
                id=f"r-{i}",
                patient_id="p-9",
                device_id="hr-9",
                value=50 + i,
                ts=(now - timedelta(hours=1) + timedelta(seconds=i)).isoformat(),
            )
            for i in range(first, first + n)
        ]
        sent.extend(readings)
        pub.publish(batch(*readings, batch_id=f"b-{first}"))

    # A retry window of half a second: the outage below outlasts it many times over.
    store = store_for(victoria, retry_interval_ms=50, max_retries=2, max_retry_time_ms=500)
    sink = Sink(sessions, store)
    sink.start()
    publish(0, 50)
    wait_until(lambda: len(victoria.samples(SERIES)) == 50, what="the first 50 points")

    victoria.stop()
    publish(50, 50)
    publish(100, 50)
    wait_until(lambda: len(pub.acks) == 3, what="ingest to commit during the outage")
    with sessions() as s:
        stuck = read_mark(s, MARK)
    victoria.start()
    wait_until(lambda: len(victoria.samples(SERIES)) == 150, timeout=60, what="the backfill")
    sink.stop()

    got = victoria.samples(SERIES)
    assert [(ts, value) for _, ts, value in got] == [
        (int(datetime.fromisoformat(r["ts"]).timestamp() * 1000), float(r["value"])) for r in sent
    ]
    assert {json.dumps(labels, sort_keys=True) for labels, _, _ in got} == {
        json.dumps(
            {
                "__name__": "vitalgate_reading_value",
                "device": "hr-9",
                "metric": "heart_rate",
                "organisation": "clinic",
                "patient": "p-9",
            },
            sort_keys=True,
        )
    }
    with sessions() as s:
        assert read_mark(s, MARK) > stuck
    store.close()


def test_a_write_the_store_refuses_leaves_the_mark(
    db: tuple[Engine, sessionmaker[Session]], victoria: VictoriaMetrics
) -> None:
    _, sessions = db
    with sessions.begin() as s:
        upsert_readings(s, rows_for("p-1", 3))
    store = store_for(victoria, max_retries=0, max_retry_time_ms=0)
    sink = Sink(sessions, store)
    victoria.stop()
    with pytest.raises(TimeSeriesError, match="did not take 3 points"):
        sink.run_once()
    errors = metrics.SINK_ERRORS._value.get()
    sink.start()  # the loop counts the failed cycle and backs off
    wait_until(lambda: metrics.SINK_ERRORS._value.get() > errors, what="a counted sink error")
    sink.stop()
    with sessions() as s:
        assert read_mark(s, MARK) == (-1, "")
    victoria.start()
    assert sink.drain() == 3
    assert victoria.samples(SERIES) == expected(rows_for("p-1", 3))
    store.close()


def test_a_reading_stored_around_the_upsert_is_still_written(
    db: tuple[Engine, sessionmaker[Session]], victoria: VictoriaMetrics
) -> None:
    """Any insert path is safe: on SQLite the sink numbers readings stored without a seq."""
    _, sessions = db
    first, later = rows_for("p-1", 2), rows_for("p-1", 2, start=2)
    with sessions.begin() as s:
        upsert_readings(s, first)
        s.add_all(Reading(**row) for row in later)  # plain ORM inserts
    store = store_for(victoria)
    assert Sink(sessions, store).drain() == 4
    assert victoria.samples(SERIES) == expected(first + later)
    store.close()


def test_a_second_sink_stands_by_until_the_first_stops(
    db: tuple[Engine, sessionmaker[Session]], victoria: VictoriaMetrics
) -> None:
    _, sessions = db
    with sessions.begin() as s:
        upsert_readings(s, rows_for("p-1", 30))
    store = store_for(victoria)
    first, second = Sink(sessions, store), Sink(sessions, store)
    try:
        assert first.leased_round() == 30
        with sessions.begin() as s:
            upsert_readings(s, rows_for("p-1", 5, start=30))
        assert second.leased_round() is None  # the first holds the lease: nothing written
        first.stop()  # hands the lease back at once
        assert second.leased_round() == 5
        assert len(victoria.samples(SERIES)) == 35
    finally:
        second.stop()
        store.close()
