"""The diabetes program's CGM rules in the cloud: live ingest opens a low only after three
readings of the stream (urgent low at once), and the missing-data watch turns a silent CGM
into a device alert that the next reading resolves."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.missing_data import MissingDataWatch
from cloud.alerts.rulebook import RuleBook
from cloud.store.models import Alert
from gateway import wire
from tests.cloud.test_alert_service import T0, ingest, sessions  # noqa: F401


def cgm(i: int, value: float) -> wire.Reading:
    """The i-th 5-minute reading of a CGM."""
    return wire.Reading(
        id=f"cgm-{i}", patient_id="p-1", device_id="cgm-1", metric=wire.Metric.BLOOD_GLUCOSE,
        value=value, unit="mg/dL", ts=T0 + timedelta(minutes=5 * i), quality=wire.Quality(),
    )  # fmt: skip


def opened(sessions: sessionmaker[Session]) -> list[tuple[str, str, str]]:  # noqa: F811
    with sessions() as s:
        return [
            (a.rule_id, a.category, a.priority) for a in s.scalars(select(Alert).order_by(Alert.id))
        ]


def test_a_cgm_low_waits_for_the_stream_and_an_urgent_low_does_not(
    sessions: sessionmaker[Session],  # noqa: F811
) -> None:
    book = RuleBook(program="diabetes")
    ingest(sessions, [cgm(i, 110.0) for i in range(12)], book)
    assert ingest(sessions, [cgm(12, 68.0)], book) == []
    assert ingest(sessions, [cgm(13, 66.0)], book) == []
    assert ingest(sessions, [cgm(14, 65.0)], book) == ["opened"]
    assert opened(sessions) == [("dm.glucose_low", "clinical", "medium")]
    assert ingest(sessions, [cgm(15, 50.0)], book) == ["merged"]  # one alert, now urgent
    assert opened(sessions) == [("dm.glucose_low", "clinical", "high")]


def test_a_silent_cgm_is_a_device_alert_until_it_reads_again(
    sessions: sessionmaker[Session],  # noqa: F811
) -> None:
    book = RuleBook(program="diabetes")
    ingest(sessions, [cgm(i, 110.0) for i in range(24)], book)
    last = T0 + timedelta(minutes=5 * 23)
    watch = MissingDataWatch(sessions, book, channels=["json#0"])
    assert watch.run_once(now=last + timedelta(minutes=15), since=last) == []
    # 5-minute interval + 15 min: signal loss; + 30 min: urgent.
    assert [c.change for c in watch.run_once(now=last + timedelta(minutes=21))] == ["opened"]
    assert [c.change for c in watch.run_once(now=last + timedelta(minutes=36))] == ["merged"]
    assert opened(sessions) == [("dm.cgm_signal_loss", "device", "high")]
    ingest(sessions, [cgm(40, 112.0)], book)
    assert [c.change for c in watch.run_once(now=T0 + timedelta(minutes=5 * 40 + 1))] == [
        "resolved"
    ]
