"""Live alerts in the cloud use gateway.signal rules: the program's levels and persistence,
one alert per episode however the readings are batched, an all-clear that resolves it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import service
from cloud.alerts.rulebook import RuleBook
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Alert, Delivery
from cloud.store.readings import reading_row, upsert_readings
from gateway import wire
from tests.fixtures.rules import TEST_RULES

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def hr(i: int, value: float, *, step_s: float = 60.0, usable: bool = True) -> wire.Reading:
    return wire.Reading(
        id=f"r-{i}",
        patient_id="p-1",
        device_id="hrm-1",
        metric=wire.Metric.HEART_RATE,
        value=value,
        unit="/min",
        ts=T0 + timedelta(seconds=i * step_s),
        quality=wire.Quality(usable=usable),
    )


def ingest(
    sessions: sessionmaker[Session], readings: list[wire.Reading], book: RuleBook
) -> list[str]:
    """What the ingest worker does with one batch: upsert, then judge the new readings."""
    now = max(r.ts for r in readings) + timedelta(seconds=1)
    with sessions.begin() as s:
        rows = [reading_row(r, gateway_id="gw-1", received_at=now) for r in readings]
        inserted = upsert_readings(s, rows)
        touched: dict[tuple[str, str], datetime] = {}
        for row in rows:
            if row["id"] in inserted:
                key = (row["patient_id"], row["metric"])
                touched[key] = min(row["ts"], touched.get(key, row["ts"]))
        changes = service.evaluate(s, touched, now=now, channels=["json#0"], rulebook=book)
    return [c.change for c in changes]


@pytest.mark.parametrize("batch", [1, 7, 100])
def test_general_program_fires_once_per_episode_whatever_the_batching(
    sessions: sessionmaker[Session], batch: int
) -> None:
    # One reading a minute: 10 min at 70, 12 min at 140 (≥ 131 held ≥ 5 min fires), 10 at 70.
    values = [70.0] * 10 + [140.0] * 12 + [150.0] + [70.0] * 10
    readings = [hr(i, v) for i, v in enumerate(values)]
    book = RuleBook(program="general")
    changes: list[str] = []
    for start in range(0, len(readings), batch):
        changes += ingest(sessions, readings[start : start + batch], book)
    assert changes.count("opened") == 1
    assert changes.count("resolved") == 1
    with sessions() as s:
        alert = s.scalars(select(Alert)).one()
        deliveries = s.scalars(select(Delivery)).all()
    assert (alert.rule_id, alert.priority, alert.category, alert.status) == (
        "general.hr",
        "high",
        "clinical",
        "resolved",
    )
    fired_at = datetime.fromisoformat(alert.evidence["ts"])
    assert fired_at == T0 + timedelta(minutes=15)  # held from minute 10 to 15: 5 minutes
    assert alert.first_value == 140.0
    assert alert.worst_value == 150.0
    assert alert.evidence["all_clear"]["kind"] == "all_clear"
    assert len(deliveries) == 1


@pytest.mark.parametrize(
    "order",
    [
        [*range(10), *range(14, 20), 10, 11, 13, 12],  # the whole episode after its all-clear
        [*range(10), 10, 11, 12, *range(14, 20), 13],  # its last high reading
        [*range(10), 10, 11, 13, *range(14, 20), 12],  # its middle
        [*range(10), 11, 12, 13, *range(14, 20), 10],  # its first
    ],
)
def test_readings_of_an_episode_that_arrive_after_its_all_clear_open_no_second_alert(
    tmp_path: Path, sessions: sessionmaker[Session], order: list[int]
) -> None:
    # As after an outage: readings of the episode are resent and stored after the readings
    # that followed it, the all-clear among them. Three over 120 in a row fire; under 110 clears.
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(TEST_RULES))
    book = RuleBook.load(program="general", rules_file=rules)
    values = [72.0] * 10 + [130.0] * 4 + [72.0] * 6
    readings = [hr(i, v, step_s=1.0) for i, v in enumerate(values)]
    changes: list[str] = []
    for i in order:
        changes += ingest(sessions, [readings[i]], book)
    with sessions() as s:
        alerts = s.scalars(select(Alert)).all()
        deliveries = s.scalars(select(Delivery)).all()
    assert [(a.status, a.rule_id) for a in alerts] == [("resolved", "test.hr_high")]
    assert changes.count("opened") == 1
    assert len(deliveries) == 1


def test_repeated_batch_and_unusable_readings_raise_nothing(
    sessions: sessionmaker[Session],
) -> None:
    book = RuleBook(program="general")
    contact_lost = [hr(i, 190.0, usable=False) for i in range(20)]
    assert ingest(sessions, contact_lost, book) == []
    episode = [hr(100 + i, 140.0) for i in range(8)]
    assert ingest(sessions, episode, book) == ["opened"]
    assert ingest(sessions, episode, book) == []  # the same batch again: nothing new


def test_a_rules_file_replaces_the_program(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(
        '[{"kind": "threshold", "rule_id": "try.hr", "metric": "heart_rate", "fire_high": 100,'
        ' "clear_high": 90, "priority": "low", "persistence": {"count": 2}}]'
    )
    book = RuleBook.load(program="general", rules_file=rules)
    assert ingest(sessions, [hr(i, v) for i, v in enumerate([80.0, 105.0, 106.0])], book) == [
        "opened"
    ]
    with sessions() as s:
        assert s.scalars(select(Alert.rule_id)).all() == ["try.hr"]


def test_a_silent_stream_raises_a_missing_data_alert_then_clears(
    sessions: sessionmaker[Session],
) -> None:
    from cloud.alerts.missing_data import MissingDataWatch

    book = RuleBook(program="general")
    # Two hours of one reading a minute, then silence from minute 120.
    ingest(sessions, [hr(i, 70.0) for i in range(120)], book)
    last = T0 + timedelta(minutes=119)
    watch = MissingDataWatch(sessions, book, channels=["json#0"])
    assert watch.run_once(now=last + timedelta(minutes=10), since=last) == []
    opened = watch.run_once(now=last + timedelta(minutes=20))  # 1 min usual + 15 min: stale
    assert [c.change for c in opened] == ["opened"]
    escalated = watch.run_once(now=last + timedelta(minutes=35))  # + 30 min: urgently stale
    assert [c.change for c in escalated] == ["merged"]
    with sessions() as s:
        alert = s.scalars(select(Alert)).one()
        assert (alert.rule_id, alert.category, alert.priority) == (
            "general.hr_stale",
            "missing_data",
            "high",
        )
    # The strap comes back: its first reading ends the gap.
    ingest(sessions, [hr(160, 72.0)], book)
    cleared = watch.run_once(now=T0 + timedelta(minutes=161))
    assert [c.change for c in cleared] == ["resolved"]


def test_an_open_alert_without_a_finding_time_follows_new_readings(
    sessions: sessionmaker[Session],
) -> None:
    """An alert a gateway's event opened carries no finding time in its evidence; the next
    readings of the same rule merge into it instead of failing the batch (which would be
    retried forever)."""
    book = RuleBook(program="general")
    with sessions.begin() as s:
        s.add(
            Alert(patient_id="p-1", rule_id="general.hr", rule_version=1, category="clinical",
                  priority="high", metric="heart_rate", status="open", opened_at=T0,
                  updated_at=T0, resolved_at=None, first_value=135.0, last_value=135.0,
                  worst_value=135.0, count=1, evidence={"source": "edge"})
        )  # fmt: skip
    episode = [hr(i, 140.0 + i) for i in range(8)]
    assert ingest(sessions, episode, book) == ["merged"]
    with sessions() as s:
        alert = s.scalars(select(Alert)).one()
    assert (alert.status, alert.worst_value, alert.last_value) == ("open", 147.0, 147.0)
