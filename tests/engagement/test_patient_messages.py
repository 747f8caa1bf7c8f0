"""Patient messages on a fake clock, a real database, the real SMTP server and the real
webhook receiver (standing in for the SMS provider): each kind once at the right local time,
held in quiet hours, capped per day, none after STOP, Spanish for a Spanish speaker, a
template error surfaced instead of a blank message, the next contact when a channel is down,
and a number after the rating question recorded as a rating."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from cloud.engagement import inbound, preferences, templates
from cloud.engagement.messenger import LOCK_KEY, PatientMessenger
from cloud.engagement.notifier import MAX_ATTEMPTS, Notifier
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import (
    Alert,
    AlertEvent,
    Contact,
    Delivery,
    Message,
    PendingFinding,
    Task,
)
from cloud.store.readings import upsert_readings
from cloud.store.tenancy import Organisation, Patient
from tests.fixtures.net import free_port
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.webhook import WebhookReceiver

CHICAGO = ZoneInfo("America/Chicago")
ENROLLED = datetime(2026, 10, 1, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, tzinfo=CHICAGO)
"""Local midnight starting Monday 23 November 2026 in Chicago (UTC-6)."""
PHONE, EMAIL = "+15550100777", "maria@example.org"


def local(day: datetime, hh: int, mm: int = 0) -> datetime:
    return (day + timedelta(hours=hh, minutes=mm)).astimezone(UTC)


def bp(patient_id: str, ts: datetime, sys: float, dia: float) -> list[dict[str, Any]]:
    mid = f"m-{patient_id}-{ts:%Y%m%d%H%M}"
    return [
        {"id": f"{mid}-{metric}", "gateway_id": "gw", "patient_id": patient_id,
         "device_id": "cuff", "metric": metric, "value": value, "unit": "mm[Hg]", "ts": ts,
         "measurement_id": mid, "usable": True, "quality": {}, "received_at": ts}
        for metric, value in (("systolic_bp", sys), ("diastolic_bp", dia))
    ]  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sessions(request: pytest.FixtureRequest) -> Iterator[sessionmaker[Session]]:
    url = str(request.getfixturevalue(f"migrated_{request.param}_url"))
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory.begin() as s:
        s.add(Organisation(id="north", name="Northside Clinic", retention_days=None,
                           created_at=ENROLLED))  # fmt: skip
        s.add(Patient(id="p-1", organisation_id="north", display_name="Maria Lopez",
                      program_id="hypertension", created_at=ENROLLED))  # fmt: skip
        s.flush()
        for rank, (kind, address) in enumerate((("sms", PHONE), ("email", EMAIL))):
            s.add(Contact(organisation_id="north", user_id=None, patient_id="p-1", kind=kind,
                          address=address, rank=rank, opted_out=False,
                          created_at=ENROLLED))  # fmt: skip
        s.flush()
        preferences.save(s, "p-1", language="en", timezone="America/Chicago",
                         quiet_start=time(21), quiet_end=time(8), daily_cap=3, actor=None,
                         now=ENROLLED)  # fmt: skip
        # Measured every morning of the week before (Mon 16 – Sun 22), 130/80 … 136/86.
        rows = [r for d in range(7)
                for r in bp("p-1", local(MONDAY - timedelta(days=7 - d), 8), 130 + d, 80 + d)]  # fmt: skip
        upsert_readings(s, rows)
    yield factory
    engine.dispose()


@pytest.fixture
def stack(
    sessions: sessionmaker[Session], smtp: SmtpServer, webhook: WebhookReceiver
) -> tuple[PatientMessenger, Notifier]:
    transports = {
        "sms": f"json://127.0.0.1:{webhook.port}/sms/{{address}}",
        "email": smtp.apprise_url(to="{address}"),
    }
    notifier = Notifier(sessions, [], public_url="https://rpm.test", transports=transports)
    messenger = PatientMessenger(
        sessions, clock=lambda: MONDAY, transports=lambda: list(transports)
    )
    return messenger, notifier


def texts(webhook: WebhookReceiver) -> list[str]:
    return [str(b["message"]) for b in webhook.bodies()]


def set_prefs(sessions: sessionmaker[Session], **changes: Any) -> None:
    values: dict[str, Any] = {"language": "en", "timezone": "America/Chicago",
                              "quiet_start": time(21), "quiet_end": time(8), "daily_cap": 3}  # fmt: skip
    with sessions.begin() as s:
        preferences.save(s, "p-1", **{**values, **changes}, actor=None, now=ENROLLED)


def open_bp_alert(
    sessions: sessionmaker[Session], at: datetime, metric: str = "systolic_bp"
) -> int:
    with sessions.begin() as s:
        upsert_readings(s, bp("p-1", at, 182, 114))
        alert = Alert(
            patient_id="p-1", rule_id="htn.sbp", rule_version=1, category="clinical",
            priority="high", metric=metric, status="open", opened_at=at, updated_at=at,
            resolved_at=None, first_value=182.0, last_value=182.0, worst_value=182.0, count=1,
            evidence={},
        )  # fmt: skip
        s.add(alert)
        s.flush()
        return alert.id


def kinds_sent(sessions: sessionmaker[Session]) -> list[tuple[str | None, str]]:
    with sessions() as s:
        rows = s.execute(
            select(Message.kind, Message.outcome)
            .where(Message.direction == "outbound")
            .order_by(Message.id)
        ).all()
    return [(k, o) for k, o in rows]


def test_remeasure_prompt_at_night_once_per_episode(
    sessions: sessionmaker[Session],
    stack: tuple[PatientMessenger, Notifier],
    webhook: WebhookReceiver,
) -> None:
    messenger, notifier = stack
    at = local(MONDAY, 23, 10)  # in quiet hours: urgent goes anyway
    alert_id = open_bp_alert(sessions, at)
    [outcome] = messenger.run_once(now=at + timedelta(seconds=5))
    assert (outcome.kind, outcome.status) == ("remeasure", "queued")
    assert notifier.deliver_due(now=at + timedelta(seconds=5)) == 1
    assert texts(webhook) == [
        "Hello Maria, your blood pressure was 182/114. Please sit quietly for 5 minutes and "
        "measure again. If you have chest pain, a severe headache or trouble breathing, call "
        "emergency services now. - Northside Clinic care team"
    ]
    open_bp_alert(sessions, at + timedelta(seconds=1), metric="diastolic_bp")  # same episode
    assert messenger.run_once(now=at + timedelta(minutes=1)) == []
    with sessions() as s:
        row = s.scalars(select(Message).where(Message.kind == "remeasure")).one()
    assert (row.alert_id, row.outcome, row.channel) == (alert_id, "sent", "sms")


def test_adherence_nudge_once_after_local_evening(
    sessions: sessionmaker[Session],
    stack: tuple[PatientMessenger, Notifier],
    webhook: WebhookReceiver,
) -> None:
    messenger, notifier = stack
    assert messenger.run_once(now=local(MONDAY, 18, 59)) == []
    [nudge] = messenger.run_once(now=local(MONDAY, 19, 0))
    assert (nudge.kind, nudge.status) == ("adherence_nudge", "queued")
    assert messenger.run_once(now=local(MONDAY, 20, 30)) == []
    assert notifier.deliver_due(now=local(MONDAY, 20, 30)) == 1
    assert texts(webhook) == [
        "Hi Maria, we have not received your blood pressure reading today. When you have a "
        "moment, please take a reading. Reply 2 if you would like us to call you. "
        "- Northside Clinic care team"
    ]
    # Tuesday: measured in the morning, no nudge in the evening.
    tuesday = MONDAY + timedelta(days=1)
    with sessions.begin() as s:
        upsert_readings(s, bp("p-1", local(tuesday, 7), 128, 79))
    assert messenger.run_once(now=local(tuesday, 19, 30)) == []


def test_quiet_hours_hold_a_routine_message_until_they_end(
    sessions: sessionmaker[Session],
    stack: tuple[PatientMessenger, Notifier],
    webhook: WebhookReceiver,
) -> None:
    messenger, notifier = stack
    set_prefs(sessions, quiet_start=time(18, 30), quiet_end=time(7, 30))
    [nudge] = messenger.run_once(now=local(MONDAY, 19))
    assert nudge.status == "held"
    morning = local(MONDAY + timedelta(days=1), 7, 30)
    with sessions() as s:
        delivery = s.scalars(select(Delivery)).one()
    assert delivery.next_attempt_at == morning
    assert notifier.deliver_due(now=local(MONDAY, 23)) == 0
    assert notifier.deliver_due(now=morning) == 1
    assert len(texts(webhook)) == 1


def test_daily_cap_and_urgent_prompts_past_it(
    sessions: sessionmaker[Session], stack: tuple[PatientMessenger, Notifier]
) -> None:
    messenger, _ = stack
    set_prefs(sessions, daily_cap=1)
    [rating] = messenger.run_once(now=local(MONDAY, 12))
    assert (rating.kind, rating.status) == ("rating", "queued")
    [nudge] = messenger.run_once(now=local(MONDAY, 19))
    assert (nudge.kind, nudge.status, nudge.reason) == (
        "adherence_nudge", "skipped", "daily cap of 1 messages reached"
    )  # fmt: skip
    open_bp_alert(sessions, local(MONDAY, 20))
    [prompt] = messenger.run_once(now=local(MONDAY, 20, 1))
    assert (prompt.kind, prompt.status) == ("remeasure", "queued")


def test_nothing_after_stop(
    sessions: sessionmaker[Session],
    stack: tuple[PatientMessenger, Notifier],
    webhook: WebhookReceiver,
) -> None:
    messenger, notifier = stack
    with sessions.begin() as s:
        for text, sender in (("STOP", PHONE), ("stop", EMAIL)):
            inbound.receive(s, sender=sender, body=text, provider_id=None, now=local(MONDAY, 9))
    open_bp_alert(sessions, local(MONDAY, 19))
    outcomes = messenger.run_once(now=local(MONDAY, 19, 1))
    assert [(o.kind, o.status, o.reason) for o in outcomes] == [
        ("remeasure", "skipped", "patient opted out")
    ]
    tuesday = MONDAY + timedelta(days=1)  # no reading on Tuesday
    outcomes = messenger.run_once(now=local(tuesday, 19))
    assert [(o.kind, o.status, o.reason) for o in outcomes] == [
        ("adherence_nudge", "skipped", "patient opted out")
    ]
    assert notifier.deliver_due(now=local(tuesday, 19)) == 0
    assert texts(webhook) == []


def test_spanish_speaker_gets_spanish(
    sessions: sessionmaker[Session],
    stack: tuple[PatientMessenger, Notifier],
    webhook: WebhookReceiver,
) -> None:
    messenger, notifier = stack
    set_prefs(sessions, language="es")
    messenger.run_once(now=local(MONDAY, 19))
    notifier.deliver_due(now=local(MONDAY, 19))
    assert texts(webhook) == [
        "Hola Maria, hoy no hemos recibido su medición de presión arterial. Cuando pueda, por "
        "favor tome una medición. Responda 2 si desea que le llamemos. - Northside Clinic "
        "care team"
    ]


def test_a_broken_template_is_surfaced_not_sent_blank(
    sessions: sessionmaker[Session],
    stack: tuple[PatientMessenger, Notifier],
    webhook: WebhookReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messenger, notifier = stack
    broken = tmp_path / "tpl" / "en"
    broken.mkdir(parents=True)
    (broken / "adherence_nudge.txt.j2").write_text("Hi {{ first_name }}, {{ no_such_value }}")
    monkeypatch.setattr(templates, "TEMPLATES", broken.parent)
    monkeypatch.setattr(templates._env, "loader", jinja2.FileSystemLoader(broken.parent))
    [outcome] = messenger.run_once(now=local(MONDAY, 19))
    assert outcome.status == "failed"
    assert "adherence_nudge" in outcome.reason
    assert messenger.run_once(now=local(MONDAY, 19, 30)) == []  # kept, not retried every run
    assert notifier.deliver_due(now=local(MONDAY, 19, 30)) == 0
    assert texts(webhook) == []
    with sessions() as s:
        task = s.scalars(select(Task)).one()
        assert s.scalars(select(Delivery)).all() == []
    assert (task.reason, task.status) == ("message_failed", "open")
    assert task.note is not None
    assert "no_such_value" in task.note


def test_a_channel_that_stays_down_falls_back_to_the_next_contact(
    sessions: sessionmaker[Session], smtp: SmtpServer
) -> None:
    transports = {
        "sms": f"json://127.0.0.1:{free_port()}/sms/{{address}}",  # nobody listens
        "email": smtp.apprise_url(to="{address}"),
    }
    notifier = Notifier(sessions, [], public_url="https://rpm.test", transports=transports)
    messenger = PatientMessenger(
        sessions, clock=lambda: MONDAY, transports=lambda: list(transports)
    )
    now = local(MONDAY, 19)
    messenger.run_once(now=now)
    for _ in range(MAX_ATTEMPTS):
        notifier.deliver_due(now=now)
        now += timedelta(minutes=10)
    notifier.deliver_due(now=now)
    [mail] = smtp.received()
    assert mail["To"] == EMAIL
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    assert "we have not received your blood pressure reading today" in body.get_content()
    with sessions() as s:
        labels = s.execute(select(Delivery.channel, Delivery.status).order_by(Delivery.id)).all()
        task = s.scalars(select(Task)).one()
        message = s.scalars(select(Message)).one()
    assert [tuple(r) for r in labels] == [("sms:patient#1", "failed"), ("email:patient#2", "sent")]
    assert task.reason == "message_failed"
    assert (
        task.note == f"sms:patient failed after {MAX_ATTEMPTS} attempts; sent on to email:patient"
    )
    assert (message.channel, message.outcome) == ("email", "sent")


def test_a_failed_prompt_shows_in_its_alerts_history(sessions: sessionmaker[Session]) -> None:
    down = f"json://127.0.0.1:{free_port()}/sms/{{address}}"
    notifier = Notifier(sessions, [], public_url="https://rpm.test", transports={"sms": down})
    messenger = PatientMessenger(sessions, clock=lambda: MONDAY, transports=lambda: ["sms"])
    now = local(MONDAY, 10)
    alert_id = open_bp_alert(sessions, now)
    [prompt] = messenger.run_once(now=now)
    for _ in range(MAX_ATTEMPTS):
        notifier.deliver_due(now=now)
        now += timedelta(minutes=10)
    with sessions() as s:
        event = s.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id)).one()
        task = s.scalars(select(Task)).one()
    assert (event.action, event.detail["message_id"], event.detail["fallback"]) == (
        "delivery_failed", prompt.message_id, None,
    )  # fmt: skip
    assert task.note == f"sms:patient failed after {MAX_ATTEMPTS} attempts; no other contact to try"


def test_weekly_summary_on_sunday_evening(
    sessions: sessionmaker[Session],
    stack: tuple[PatientMessenger, Notifier],
    webhook: WebhookReceiver,
) -> None:
    messenger, notifier = stack
    sunday = MONDAY - timedelta(days=1)
    assert messenger.run_once(now=local(sunday, 16, 59)) == []
    [summary] = messenger.run_once(now=local(sunday, 17))
    assert summary.kind == "weekly_summary"
    assert messenger.run_once(now=local(sunday, 18)) == []
    notifier.deliver_due(now=local(sunday, 18))
    # Mon 16 … Sun 22 measured: 7 days, averages of 130…136 / 80…86.
    assert texts(webhook)[-1] == (
        "Maria, this week you measured on 7 of 7 days - great consistency, thank you! Your "
        "average blood pressure was 133/83. Reply 1 if you feel fine, 2 if you would like a "
        "call. - Northside Clinic care team"
    )


def test_a_number_after_the_rating_question_is_a_rating(
    sessions: sessionmaker[Session], stack: tuple[PatientMessenger, Notifier]
) -> None:
    messenger, notifier = stack
    noon = local(MONDAY, 12)
    with sessions.begin() as s:
        before = inbound.receive(s, sender=PHONE, body="2", provider_id="a", now=noon)
    assert before.intent == "call_me"
    messenger.run_once(now=noon)
    notifier.deliver_due(now=noon)
    with sessions.begin() as s:
        answer = inbound.receive(
            s, sender=PHONE, body="9", provider_id="b", now=noon + timedelta(hours=3)
        )
        again = inbound.receive(
            s, sender=PHONE, body="2", provider_id="c", now=noon + timedelta(hours=4)
        )
    assert (answer.intent, again.intent) == ("rating", "call_me")
    with sessions() as s:
        ratings = s.scalars(
            select(Message.rating).where(Message.direction == "inbound").order_by(Message.id)
        ).all()
    assert ratings == [None, 9, None]


@pytest.mark.postgres
def test_one_process_at_a_time_judges_what_is_due(postgres_url: str, smtp: SmtpServer) -> None:
    """With several API processes on PostgreSQL, the one holding the lock queues; the
    others skip that run, so no message is queued twice."""
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    factory = session_factory(engine)
    try:
        with factory.begin() as s:
            s.add(Organisation(id="north", name="N", retention_days=None, created_at=ENROLLED))
            s.add(Patient(id="p-1", organisation_id="north", display_name="Maria",
                          program_id="hypertension", created_at=ENROLLED))  # fmt: skip
            s.flush()
            s.add(Contact(organisation_id="north", user_id=None, patient_id="p-1", kind="sms",
                          address=PHONE, rank=0, opted_out=False, created_at=ENROLLED))  # fmt: skip
            upsert_readings(s, bp("p-1", local(MONDAY, -12), 130, 80))
            preferences.save(s, "p-1", language="en", timezone="America/Chicago",
                             quiet_start=time(21), quiet_end=time(8), daily_cap=3, actor=None,
                             now=ENROLLED)  # fmt: skip
        messenger = PatientMessenger(factory, clock=lambda: MONDAY, transports=lambda: ["sms"])
        with engine.connect() as other:
            other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
            assert messenger.run_once(now=local(MONDAY, 19)) == []
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            other.commit()
        outcomes = messenger.run_once(now=local(MONDAY, 19))
        assert [(o.kind, o.status) for o in outcomes] == [("adherence_nudge", "queued")]
    finally:
        engine.dispose()


def test_a_finding_held_for_confirmation_prompts_the_re_measurement(
    sessions: sessionmaker[Session],
    stack: tuple[PatientMessenger, Notifier],
    webhook: WebhookReceiver,
) -> None:
    messenger, notifier = stack
    at = local(MONDAY, 19, 30)
    with sessions.begin() as s:
        upsert_readings(s, bp("p-1", at, 168, 96))
        s.add(PendingFinding(
            finding_id="f-held", patient_id="p-1", rule_id="htn.sbp", rule_version=1,
            metric="systolic_bp", priority="medium", value=168.0, ts=at,
            deadline=at + timedelta(hours=1), status="pending", held_at=at, decided_at=None,
            alert_id=None, finding={},
        ))  # fmt: skip
    [outcome] = messenger.run_once(now=at + timedelta(seconds=5))
    assert (outcome.kind, outcome.status) == ("remeasure", "queued")
    assert notifier.deliver_due(now=at + timedelta(seconds=5)) == 1
    assert texts(webhook)[0].startswith("Hello Maria, your blood pressure was 168/96. Please sit")
    assert messenger.run_once(now=at + timedelta(minutes=1)) == []  # once per episode
