"""Confirm before alarming in the live cloud: a held finding cancelled by a normal
re-measurement notifies no one; a confirmed one opens one alert with both readings; one
never re-measured alerts at the window's end, noted unconfirmed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import confirmation, service
from cloud.alerts.replay import decisions
from cloud.alerts.rulebook import RuleBook
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Alert, Delivery, PendingFinding
from cloud.store.readings import reading_row, upsert_readings
from gateway import wire
from gateway.signal.confirm import Outcome
from gateway.signal.series import from_epoch
from tests.bench.alert_burden import Home

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SBP = wire.Metric.SYSTOLIC_BP


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = (
        f"sqlite:///{tmp_path / 'confirm.sqlite3'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    migrate(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def book(tmp_path: Path) -> RuleBook:
    rules = tmp_path / "rules.json"
    rule = {"kind": "threshold", "rule_id": "bp.sbp", "metric": "systolic_bp", "fire_high": 160,
            "clear_high": 150, "urgent_high": 180, "confirm_s": 3600, "confirm_by": "mean"}  # fmt: skip
    rules.write_text(json.dumps([rule]))
    return RuleBook.load(program="general", rules_file=rules)


def bp(i: int, value: float, at: timedelta) -> wire.Reading:
    return wire.Reading(
        id=f"bp-{i}", patient_id="p-1", device_id="cuff-1", metric=SBP, value=value,
        unit=wire.CANONICAL_UNITS[SBP], ts=T0 + at,
    )  # fmt: skip


def ingest(sessions: sessionmaker[Session], reading: wire.Reading, book: RuleBook) -> list[str]:
    now = reading.ts + timedelta(seconds=1)
    with sessions.begin() as s:
        rows = [reading_row(reading, gateway_id="gw-1", received_at=now)]
        upsert_readings(s, rows)
        touched = {(reading.patient_id, SBP.value): reading.ts}
        changes = service.evaluate(s, touched, now=now, channels=["json#0"], rulebook=book)
    return [c.change for c in changes]


def state(sessions: sessionmaker[Session]) -> tuple[list[str], list[Alert], int]:
    with sessions() as s:
        held = [p.status for p in s.scalars(select(PendingFinding).order_by(PendingFinding.id))]
        alerts = list(s.scalars(select(Alert)))
        return held, alerts, len(s.scalars(select(Delivery)).all())


def test_a_normal_re_measurement_cancels_and_nothing_is_sent(
    sessions: sessionmaker[Session], book: RuleBook
) -> None:
    assert ingest(sessions, bp(0, 128, timedelta(0)), book) == []
    assert ingest(sessions, bp(1, 174, timedelta(hours=12)), book) == []  # held, not sent
    assert state(sessions) == (["pending"], [], 0)
    assert ingest(sessions, bp(2, 126, timedelta(hours=12, minutes=3)), book) == []
    assert state(sessions) == (["cancelled"], [], 0)
    # The window's end changes nothing for a cancelled finding.
    with sessions.begin() as s:
        assert confirmation.expire(s, now=T0 + timedelta(hours=14), rulebook=book,
                                   channels=["json#0"], path=service.ALERT_PATH) == []  # fmt: skip
    assert state(sessions) == (["cancelled"], [], 0)


def test_a_confirming_re_measurement_opens_one_alert_with_both_readings(
    sessions: sessionmaker[Session], book: RuleBook
) -> None:
    ingest(sessions, bp(0, 128, timedelta(0)), book)
    assert ingest(sessions, bp(1, 172, timedelta(hours=12)), book) == []
    assert ingest(sessions, bp(2, 164, timedelta(hours=12, minutes=1)), book) == ["opened"]
    held, alerts, deliveries = state(sessions)
    assert held == ["confirmed"]
    (alert,) = alerts
    assert deliveries == 1
    assert (alert.rule_id, alert.first_value) == ("bp.sbp", 168.0)  # the pair's mean
    samples = alert.evidence["evidence"]["samples"]
    assert [s["value"] for s in samples] == [172.0, 164.0]
    assert alert.evidence["evidence"]["features"]["confirmation"] == "confirmed"
    with sessions() as s:
        assert s.scalars(select(PendingFinding.alert_id)).one() == alert.id


def test_no_re_measurement_alerts_at_the_windows_end_noted_unconfirmed(
    sessions: sessionmaker[Session], book: RuleBook
) -> None:
    ingest(sessions, bp(0, 128, timedelta(0)), book)
    ingest(sessions, bp(1, 171, timedelta(hours=12)), book)
    with sessions.begin() as s:
        early = T0 + timedelta(hours=12, minutes=59)
        assert (
            confirmation.expire(
                s, now=early, rulebook=book, channels=["json#0"], path=service.ALERT_PATH
            )
            == []
        )
    with sessions.begin() as s:
        due = T0 + timedelta(hours=13)
        changes = confirmation.expire(
            s, now=due, rulebook=book, channels=["json#0"], path=service.ALERT_PATH
        )
    assert [c.change for c in changes] == ["opened"]
    held, (alert,), deliveries = state(sessions)
    assert (held, deliveries) == (["unconfirmed"], 1)
    feats = alert.evidence["evidence"]["features"]
    assert feats["note"] == "not confirmed: no re-measurement within 60 min"


def test_an_urgent_reading_alerts_at_once(sessions: sessionmaker[Session], book: RuleBook) -> None:
    ingest(sessions, bp(0, 128, timedelta(0)), book)
    assert ingest(sessions, bp(1, 186, timedelta(hours=12)), book) == ["opened"]
    held, (alert,), _ = state(sessions)
    assert held == ["pending"]  # the non-urgent level of the same reading still waits
    assert alert.priority == "high"


@pytest.mark.parametrize("seed", [7, 9])
def test_live_ingest_reaches_the_same_decisions_as_the_replay(
    sessions: sessionmaker[Session], seed: int
) -> None:
    # Three weeks of a hypertension patient at home, artefacts included (a cuff put on badly
    # and re-measured, a loose probe…), one measurement per batch as the gateway sends them,
    # with the scheduler's tick before each; then the replay of the same readings.
    readings = list(Home("stable", "hypertension", seed, 20, None).routine_readings())
    book = RuleBook(program="hypertension")
    batches: dict[datetime, list[wire.Reading]] = {}
    for r in readings:
        batches.setdefault(r.ts, []).append(r)
    for ts, batch in sorted(batches.items()):
        with sessions.begin() as s:
            confirmation.expire(
                s, now=ts, rulebook=book, channels=["json#0"], path=service.ALERT_PATH
            )
        now = ts + timedelta(seconds=1)
        with sessions.begin() as s:
            upsert_readings(s, [reading_row(r, gateway_id="gw-1", received_at=now) for r in batch])
            touched = {(r.patient_id, r.metric.value): r.ts for r in batch}
            service.evaluate(s, touched, now=now, channels=["json#0"], rulebook=book)
    with sessions() as s:
        live = {(p.rule_id, p.ts, p.status) for p in s.scalars(select(PendingFinding))}
    replayed = {
        (d.finding.rule, from_epoch(d.finding.ts), d.outcome.value)
        for d in decisions(readings, program="hypertension")
        if d.outcome is not Outcome.IMMEDIATE
    }
    assert live == replayed
    assert {status for *_, status in live} >= {"unconfirmed"}
