"""The escalation scheduler and the notifier together, on a fake clock and a real database:
a person the chain cannot reach shows in the alert's history; device alerts stop at the
first step; phone numbers and e-mail addresses are matched in one normal form."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.escalation import EscalationScheduler
from cloud.engagement.inbound import BadAddressError, normalise
from cloud.engagement.notifier import MAX_ATTEMPTS, Notifier
from cloud.store.db import make_engine, migrate, session_factory
from cloud.store.models import Alert, AlertEvent, Contact, Delivery
from cloud.store.tenancy import CareTeamMember, Organisation, Patient, Role, User
from tests.fixtures.net import free_port
from tests.fixtures.smtp import SmtpServer

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'e.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory.begin() as s:
        s.add(Organisation(id="org", name="Org", retention_days=None, created_at=NOW))
        s.add(Patient(id="p-1", organisation_id="org", display_name="P", program_id=None,
                      created_at=NOW))  # fmt: skip
        s.flush()
        for uid, role in ((1, Role.CARE_COORDINATOR), (2, Role.CLINICIAN)):
            s.add(User(id=uid, organisation_id="org", email=f"u{uid}@org.test",
                       password_hash="x", role=role, patient_id=None, is_active=True,
                       failed_logins=0, locked_until=None, created_at=NOW))  # fmt: skip
            s.flush()
            s.add(CareTeamMember(patient_id="p-1", user_id=uid, team_role=role.value,
                                 added_at=NOW))  # fmt: skip
    yield factory
    engine.dispose()


def open_alert(sessions: sessionmaker[Session], category: str = "clinical") -> int:
    with sessions.begin() as s:
        alert = Alert(
            patient_id="p-1", rule_id="r", rule_version=1, category=category, priority="high",
            metric="systolic_bp", status="open", opened_at=NOW, updated_at=NOW,
            resolved_at=None, first_value=185.0, last_value=185.0, worst_value=185.0, count=1,
            evidence={}, escalation_step=0, escalation_started_at=NOW,
        )  # fmt: skip
        s.add(alert)
        s.flush()
        return alert.id


def stack(sessions: sessionmaker[Session], transports: dict[str, str]) -> tuple[Notifier, EscalationScheduler]:  # fmt: skip
    notifier = Notifier(
        sessions, [], public_url="https://rpm.test", transports=transports, link_key="k" * 40
    )
    scheduler = EscalationScheduler(
        sessions, clock=lambda: NOW, transports=lambda: list(notifier.transports)
    )
    return notifier, scheduler


def history(sessions: sessionmaker[Session], alert_id: int) -> list[AlertEvent]:
    with sessions() as s:
        return list(s.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)))  # fmt: skip


def test_a_person_the_chain_cannot_reach_is_in_the_alerts_history(
    sessions: sessionmaker[Session],
) -> None:
    dead = f"mailto://127.0.0.1:{free_port()}?from=alerts@rpm.test&to={{address}}&mode=insecure"
    notifier, scheduler = stack(sessions, {"email": dead})
    alert = open_alert(sessions)
    assert scheduler.run_once(now=NOW) == [(alert, 0)]
    now = NOW
    for _ in range(MAX_ATTEMPTS):
        assert notifier.deliver_due(now=now) == 0
        now += timedelta(minutes=5)
    with sessions() as s:
        d = s.scalars(select(Delivery)).one()
        assert (d.status, d.user_id, d.step, d.attempts) == ("failed", 1, 0, MAX_ATTEMPTS)
    failed = history(sessions, alert)[-1]
    assert (failed.action, failed.channel) == ("delivery_failed", "email")
    assert (failed.detail["user_id"], failed.detail["fallback"]) == (1, None)


def test_a_channel_that_stays_down_falls_back_to_the_next_contact(
    sessions: sessionmaker[Session], smtp: SmtpServer
) -> None:
    dead_sms = f"json://127.0.0.1:{free_port()}/sms/{{address}}"
    notifier, scheduler = stack(
        sessions, {"sms": dead_sms, "email": smtp.apprise_url(to="{address}")}
    )
    with sessions.begin() as s:  # the coordinator prefers SMS; their login e-mail is next
        s.add(Contact(organisation_id="org", user_id=1, kind="sms", address="+15550100001",
                      rank=0, opted_out=False, created_at=NOW))  # fmt: skip
    alert = open_alert(sessions)
    scheduler.run_once(now=NOW)
    now = NOW
    for _ in range(MAX_ATTEMPTS):
        assert notifier.deliver_due(now=now) == 0
        now += timedelta(minutes=5)
    assert notifier.deliver_due(now=now) == 1
    [mail] = smtp.received()
    assert mail["To"] == "u1@org.test"
    with sessions() as s:
        log = [(d.channel, d.status) for d in s.scalars(select(Delivery).order_by(Delivery.id))]
    assert log == [("sms:user#1", "failed"), ("email:user#1", "sent")]
    failed = history(sessions, alert)[-1]
    assert (failed.action, failed.detail["fallback"]) == ("delivery_failed", "email:user#1")


def test_nobody_reachable_and_device_alerts(sessions: sessionmaker[Session]) -> None:
    _, scheduler = stack(sessions, {})  # no transport configured: nobody can be reached
    device = open_alert(sessions, category="device")
    assert scheduler.run_once(now=NOW + timedelta(hours=2)) == [(device, 0)]
    [notified] = history(sessions, device)
    assert notified.detail == {"step": 0, "role": "care_coordinator", "users": [], "unreachable": [1]}  # fmt: skip
    assert scheduler.run_once(now=NOW + timedelta(days=1)) == []  # a battery pages no doctor


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("+44 7700 900123", ("sms", "+447700900123")),
        ("0044 (7700) 900-123", ("sms", "+447700900123")),
        ("tel:+1-555-010-0777", ("sms", "+15550100777")),
        ("5550100777", ("sms", "5550100777")),
        (" Pat@Example.ORG ", ("email", "pat@example.org")),
    ],
)
def test_addresses_have_one_normal_form(sender: str, expected: tuple[str, str]) -> None:
    assert normalise(sender) == expected


@pytest.mark.parametrize("sender", ["", "call me", "123", "+1234567890123456789"])
def test_what_is_not_an_address(sender: str) -> None:
    with pytest.raises(BadAddressError):
        normalise(sender)
