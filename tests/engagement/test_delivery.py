"""Alert delivery through apprise to a real SMTP server and a real webhook; retries and the
delivery log when a channel is down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.engagement.channels import channels_from_urls
from cloud.engagement.notifier import MAX_ATTEMPTS, Notifier
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Alert, Delivery
from tests.fixtures.net import free_port

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'd.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def open_alert(sessions: sessionmaker[Session], labels: list[str]) -> int:
    finding = {
        "patient_id": "p-7", "rule": "htn.sbp", "category": "clinical", "priority": "high",
        "ts": "2026-11-23T08:59:00Z", "metric": "systolic_bp", "value": 182.0, "kind": "fire",
        "rule_version": 1,
        "evidence": {"rule_version": 1, "samples": [{"ts": "2026-11-23T08:58:00Z", "value": 181.0},
                     {"ts": "2026-11-23T08:59:00Z", "value": 182.0}],
                     "features": {"level": "urgent_high", "fire": 180}},
    }  # fmt: skip
    with sessions.begin() as s:
        alert = Alert(
            patient_id="p-7", rule_id="htn.sbp", rule_version=1, category="clinical",
            priority="high", metric="systolic_bp", status="open", opened_at=NOW, updated_at=NOW,
            resolved_at=None, first_value=182.0, last_value=182.0, worst_value=182.0, count=1,
            evidence=finding,
        )  # fmt: skip
        s.add(alert)
        s.flush()
        for i, label in enumerate(labels):
            s.add(Delivery(alert_id=alert.id, channel=label, target_index=i, status="pending",
                           attempts=0, created_at=NOW, next_attempt_at=NOW))  # fmt: skip
        return alert.id


def test_alert_reaches_the_coordinator_by_email_with_its_values(
    sessions: sessionmaker[Session], smtp: Any, webhook: Any
) -> None:
    channels = channels_from_urls(
        [smtp.apprise_url(to="coordinator@clinic.test"), webhook.apprise_url]
    )
    alert_id = open_alert(sessions, [c.label for c in channels])
    notifier = Notifier(sessions, channels, public_url="https://rpm.clinic.test")
    assert notifier.deliver_due(now=NOW) == 2

    [mail] = smtp.received()
    assert mail["To"] == "coordinator@clinic.test"
    assert mail["Subject"] == "[HIGH] systolic bp alert for patient p-7"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert (
        "systolic bp 182 mm[Hg] (at or above the urgent level 180 mm[Hg]; readings: 181, 182)"
        in text
    )
    # The link opens the alert's page in the web app (after sign-in when needed).
    assert text.rstrip().endswith(f"Open the alert: https://rpm.clinic.test/alerts/{alert_id}")
    assert webhook.bodies()[0]["title"] == "[HIGH] systolic bp alert for patient p-7"
    with sessions() as s:
        log = s.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert [(d.channel, d.status, d.attempts) for d in log] == [
        ("mailto#0", "sent", 1),
        ("json#1", "sent", 1),
    ]


def test_a_channel_that_is_down_is_retried_with_backoff_then_marked_failed(
    sessions: sessionmaker[Session],
) -> None:
    down = channels_from_urls([f"json://127.0.0.1:{free_port()}/nobody-listens"])
    open_alert(sessions, [c.label for c in down])
    notifier = Notifier(sessions, down, public_url="https://rpm.clinic.test")
    now = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert notifier.deliver_due(now=now) == 0
        with sessions() as s:
            d = s.scalars(select(Delivery)).one()
        assert d.attempts == attempt
        assert d.last_error is not None
        assert "json#0" in d.last_error
        if attempt < MAX_ATTEMPTS:
            assert d.status == "pending"
            assert notifier.deliver_due(now=now) == 0  # not due yet: nothing attempted
            now = d.next_attempt_at
    assert d.status == "failed"
    assert notifier.deliver_due(now=now + timedelta(days=1)) == 0


def test_the_care_team_message_tells_the_recent_trend_in_words(
    sessions: sessionmaker[Session],
) -> None:
    from cloud.engagement.notifier import trend_in_words
    from cloud.store.models import Reading

    alert_id = open_alert(sessions, [])
    with sessions.begin() as s:
        for day in range(14):
            value = 130.0 if day < 7 else 150.0  # last week 130, this week 150
            ts = NOW - timedelta(days=13 - day, hours=1)
            s.add(Reading(id=f"r{day}", gateway_id="gw", patient_id="p-7", device_id="cuff",
                          metric="systolic_bp", value=value, unit="mm[Hg]", ts=ts,
                          measurement_id=None, usable=True, quality={}, received_at=ts))  # fmt: skip
    with sessions() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        text = trend_in_words(s, alert, now=NOW)
    assert text == (
        "7-day average 150 mm[Hg] from 7 readings, up 20 mm[Hg] from the week before "
        "(130 mm[Hg], 7 readings)."
    )
