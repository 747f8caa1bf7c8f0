"""``store_readings`` on SQLite and PostgreSQL: new keys stored once, repeats harmless,
conflicts reported, whichever path the batch takes (PostgreSQL copies a batch of new keys
straight into the table and falls back to its staging table when one key is stored)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from cloud.store.db import make_engine, session_factory
from cloud.store.models import Reading
from cloud.store.readings import reading_row, store_readings
from gateway import wire

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)


def row(i: int, value: float = 70.0, *, gateway_id: str = "gw-1") -> dict[str, object]:
    reading = wire.Reading(
        id=f"r-{i}", patient_id="p-1", device_id="d-1", metric=wire.Metric.HEART_RATE,
        value=value, unit="/min", ts=T0 + timedelta(seconds=i),
    )  # fmt: skip
    return reading_row(reading, gateway_id=gateway_id, received_at=NOW)


def test_new_repeated_and_conflicting_keys(db_url: str) -> None:
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    try:
        with sessions.begin() as s:
            first = store_readings(s, [row(i) for i in range(5)])
        assert first.inserted == {("gw-1", f"r-{i}") for i in range(5)}
        assert first.conflicts == []
        # Stored keys (one with other content) among new ones, and a key twice in the batch.
        batch = [row(3), row(4, 99.0), *(row(i) for i in range(5, 8)), row(7, 50.0)]
        batch.append(row(3, gateway_id="gw-2"))  # the same id from another gateway is new
        with sessions.begin() as s:
            second = store_readings(s, batch)
        assert second.inserted == {("gw-1", f"r-{i}") for i in range(5, 8)} | {("gw-2", "r-3")}
        assert sorted((r["id"], r["value"]) for r in second.conflicts) == [
            ("r-4", 99.0),
            ("r-7", 50.0),
        ]
        with sessions() as s:
            rows = s.execute(select(Reading.id, Reading.value).where(Reading.gateway_id == "gw-1"))
            stored = {r.id: r.value for r in rows}
            assert stored == {f"r-{i}": 70.0 for i in range(8)}
            assert s.scalar(select(func.count()).select_from(Reading)) == 9
            if engine.dialect.name == "postgresql":
                # A transaction's rows share its commit mark, whichever path stored them.
                seqs = s.scalars(select(func.count(func.distinct(Reading.seq)))).one()
                assert seqs == 2
    finally:
        engine.dispose()
