"""The issue's end to end, over real Mosquitto and a real SMTP server: a firmware_sim patient
in hypertensive urgency measures with a BP cuff → the gateway → ingest → a high-priority
alert → the care coordinator's e-mail with the values → nobody acknowledges → the chain
reaches the clinician after the configured delay (a fake clock drives the escalation) → the
patient replies "2" by SMS → a call-me task on the worklist → the coordinator's e-mailed
link acknowledges, and the chain stops."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from cloud.api.app import create_app
from cloud.auth import service as auth
from cloud.settings import CloudSettings
from cloud.store.models import Alert, Contact
from cloud.store.tenancy import Patient, Role
from cloud.tenancy import service as tenancy
from firmware_sim import scenario
from firmware_sim.devices.bp_cuff import BloodPressureCuff
from firmware_sim.radio import SimRadio
from gateway.settings import DeviceConfig
from gateway.uplink.settings import MqttSettings
from tests.fixtures.bindings import bind
from tests.fixtures.gateway import GatewayThread, gateway_settings
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker

SECRET = "e2e-secret-that-is-long-enough-for-hs256-0123456789"
INBOUND_SECRET = "e2e-inbound-secret"
PASSWORD = "synthetic-care-team-password"
COORD, CLIN = "coord@clinic.test", "clin@clinic.test"
PATIENT, PHONE = "p-htn-1", "+15550100777"


class FakeClock:
    """The wall clock plus an offset the test moves forward (thread-safe)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta


@pytest.fixture
def cloud(
    broker: Mosquitto, smtp: SmtpServer, tmp_path: Path
) -> Iterator[tuple[TestClient, FakeClock]]:
    clock = FakeClock()
    settings = CloudSettings(
        data_dir=tmp_path / "cloud",
        database_url=f"sqlite:///{tmp_path / 'cloud.sqlite3'}",
        secret_key=SecretStr(SECRET),
        mqtt=MqttSettings(host=broker.host, port=broker.port),
        ingest_client_id="ingest-e2e",
        alert_program="hypertension",
        contact_urls={"email": smtp.apprise_url(to="{address}")},
        inbound_secret=SecretStr(INBOUND_SECRET),
        escalation_interval_s=0.2,
        public_url="https://rpm.clinic.test",
    )
    with TestClient(create_app(settings, clock=clock)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        wait_until(services.ingest.connected.is_set, what="ingest to connect")
        now = clock()
        with services.sessions.begin() as s:
            auth.create_organisation(s, organisation_id="clinic", name="Clinic", now=now)
            tenancy.create_patient(s, organisation_id="clinic", patient_id=PATIENT,
                                   display_name="Synthetic Patient", program_id="hypertension",
                                   now=now)  # fmt: skip
            patient = s.get(Patient, PATIENT)
            assert patient is not None
            for email, role in ((COORD, Role.CARE_COORDINATOR), (CLIN, Role.CLINICIAN)):
                user = auth.create_user(s, organisation_id="clinic", email=email,
                                        password=PASSWORD, role=role, now=now)  # fmt: skip
                tenancy.add_care_team_member(s, organisation_id="clinic", patient=patient,
                                             user_id=user.id, team_role=role.value, now=now)  # fmt: skip
            s.add(Contact(organisation_id="clinic", patient_id=PATIENT, kind="sms", address=PHONE,
                          rank=0, opted_out=False, created_at=now))  # fmt: skip
        # The gateway is provisioned and the cuff lent to the patient before any reading.
        bind(services.sessions, organisation="clinic", gateway_id="gw-test-1",
             pairs=[(PATIENT, "cuff-1")])  # fmt: skip
        yield client, clock


def mails_to(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    return [m for m in smtp.received() if m["To"] == address]


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def login(client: TestClient, email: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_urgency_alert_escalates_until_acknowledged_and_call_me_reaches_the_worklist(
    cloud: tuple[TestClient, FakeClock], broker: Mosquitto, smtp: SmtpServer, tmp_path: Path
) -> None:
    client, clock = cloud
    services: Any = client.app.state.services  # type: ignore[attr-defined]
    # Seven days into the scenario: past day 5's climb, pressure is ≥ 180/110.
    now = datetime.now(UTC)
    cuff = BloodPressureCuff(
        "C0:FF:EE:00:0B:01",
        seed=11,
        scenario=scenario.load("hypertensive_urgency"),
        start=now - timedelta(days=7),
    )
    taken = [cuff.measure(at=now - timedelta(minutes=m)) for m in (20, 10, 1)]
    systolic = [m.systolic or 0.0 for m in taken]
    assert min(systolic) >= 180, systolic
    radio = SimRadio()
    radio.add(cuff)
    device = DeviceConfig(
        device_id="cuff-1", address=cuff.address, kind="bp_cuff", patient_id=PATIENT
    )
    gw = GatewayThread(gateway_settings(broker, tmp_path / "gw", devices=[device]), radio)
    gw.start()
    try:
        # A high-priority alert opens, and the coordinator (step 0) gets the values by e-mail.
        def sbp_alert() -> Alert | None:
            with services.sessions() as s:
                return s.scalars(select(Alert).where(Alert.rule_id == "htn.sbp")).first()  # type: ignore[no-any-return]

        found = wait_until(sbp_alert, timeout=30, what="the systolic alert")
        assert found is not None
        alert = found
        assert (alert.priority, alert.patient_id, alert.status) == ("high", PATIENT, "open")
        [first] = wait_until(
            lambda: [m for m in mails_to(smtp, COORD) if "systolic bp" in m["Subject"]],
            timeout=15,
            what="the coordinator's e-mail",
        )
        assert first["Subject"] == f"[HIGH] systolic bp alert for patient {PATIENT}"
        body = text_of(first)
        assert f"systolic bp {alert.first_value:g} mm[Hg] (at or above" in body
        fired_on = [s["value"] for s in alert.evidence["evidence"]["samples"]]
        assert set(fired_on) <= set(systolic)
        assert ", ".join(f"{v:g}" for v in fired_on) in body
        assert mails_to(smtp, CLIN) == []

        # Nobody acknowledges: ten minutes later (the high chain's second step) the clinician.
        clock.advance(timedelta(minutes=10, seconds=1))
        to_clinician = wait_until(
            lambda: [m for m in mails_to(smtp, CLIN) if "systolic bp" in m["Subject"]],
            timeout=15,
            what="the escalation to the clinician",
        )
        assert len(to_clinician) == 1
        coord = login(client, COORD)
        history = client.get(f"/api/v1/alerts/{alert.id}/events", headers=coord).json()
        assert [(e["action"], e["detail"].get("step")) for e in history] == [
            ("opened", None),
            ("notified", 0),
            ("escalated", 1),
        ]

        # The patient answers the re-measure prompt by SMS: "2" = please call me.
        r = client.post(
            "/api/v1/messages/inbound",
            data={"From": PHONE, "Body": "2", "MessageSid": "SM-e2e-1"},
            headers={"X-VitalGate-Secret": INBOUND_SECRET},
        )
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["intent"]) == ("attached", "call_me")
        work = client.get("/api/v1/worklist", headers=coord).json()
        assert [(t["patient_id"], t["reason"], t["status"]) for t in work] == [
            (PATIENT, "call_me", "open")
        ]
        assert work[0]["alert_id"] == r.json()["alert_id"]

        # The coordinator acknowledges from the e-mail; the chain stops before on-call.
        token = re.search(r"/api/v1/ack\?token=([\w.-]+)", body)
        assert token is not None
        page = client.post("/api/v1/ack", data={"token": token.group(1)})
        assert "Acknowledged" in page.text
        clock.advance(timedelta(minutes=15))
        assert all(a != alert.id for a, _ in services.escalation.run_once(now=clock()))
        shown = client.get(f"/api/v1/alerts/{alert.id}", headers=coord).json()
        assert (shown["status"], shown["escalation_step"]) == ("acknowledged", 2)
        clin_history = client.get(f"/api/v1/alerts/{alert.id}/events", headers=login(client, CLIN))
        assert clin_history.json()[-1]["action"] == "acknowledged"
        assert clin_history.json()[-1]["channel"] == "link"
    finally:
        gw.stop()
