"""The issue's other end to end: a firmware_sim stable patient on the hypertension program
measures morning and evening for 30 simulated days; the month's readings travel from the cuff's
memory through the gateway and real Mosquitto into the cloud, which evaluates every one of
them and opens no clinical alert (and so sends no re-measure prompt). Time is compressed: the
cuff takes the month's measurements on its own clock, then uploads them on one connection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from cloud.api.app import create_app
from cloud.auth import service as auth
from cloud.settings import CloudSettings
from cloud.store.models import Alert, Contact, Message, Reading
from cloud.tenancy import service as tenancy
from firmware_sim import scenario
from firmware_sim.devices.bp_cuff import BloodPressureCuff
from firmware_sim.radio import SimRadio
from gateway.settings import DeviceConfig
from gateway.uplink.settings import MqttSettings
from tests.fixtures.bindings import bind
from tests.fixtures.gateway import GatewayThread, gateway_settings
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.waiting import wait_until
from tests.fixtures.webhook import WebhookReceiver

pytestmark = pytest.mark.broker

SECRET = "e2e-secret-that-is-long-enough-for-hs256-0123456789"
PATIENT, PHONE = "p-stable-1", "+15550100777"
DAYS = 30
ROUTINE_HOURS = (7.5, 19.5)


@pytest.fixture
def cloud(broker: Mosquitto, webhook: WebhookReceiver, tmp_path: Path) -> Iterator[TestClient]:
    settings = CloudSettings(
        data_dir=tmp_path / "cloud",
        database_url=f"sqlite:///{tmp_path / 'cloud.sqlite3'}",
        secret_key=SecretStr(SECRET),
        mqtt=MqttSettings(host=broker.host, port=broker.port),
        ingest_client_id="ingest-stable",
        alert_program="hypertension",
        contact_urls={"sms": f"json://127.0.0.1:{webhook.port}/sms/{{address}}"},
    )
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        wait_until(services.ingest.connected.is_set, what="ingest to connect")
        now = datetime.now(UTC) - timedelta(days=DAYS + 1)
        with services.sessions.begin() as s:
            auth.create_organisation(s, organisation_id="clinic", name="Clinic", now=now)
            tenancy.create_patient(s, organisation_id="clinic", patient_id=PATIENT,
                                   display_name="Synthetic Patient", program_id="hypertension",
                                   now=now)  # fmt: skip
            s.add(Contact(organisation_id="clinic", patient_id=PATIENT, kind="sms",
                          address=PHONE, rank=0, opted_out=False, created_at=now))  # fmt: skip
        # The gateway is provisioned and the cuff lent to the patient before any reading.
        bind(services.sessions, organisation="clinic", gateway_id="gw-test-1",
             pairs=[(PATIENT, "cuff-1")])  # fmt: skip
        yield client


def run_gateway(broker: Mosquitto, cuff: BloodPressureCuff, path: Path) -> GatewayThread:
    radio = SimRadio()
    radio.add(cuff)
    device = DeviceConfig(
        device_id="cuff-1", address=cuff.address, kind="bp_cuff", patient_id=PATIENT
    )
    gw = GatewayThread(gateway_settings(broker, path, devices=[device]), radio)
    gw.start()
    return gw


def test_a_stable_patient_for_30_days_raises_no_clinical_alert(
    cloud: TestClient, broker: Mosquitto, webhook: WebhookReceiver, tmp_path: Path
) -> None:
    services: Any = cloud.app.state.services  # type: ignore[attr-defined]
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=DAYS
    )
    cuff = BloodPressureCuff(
        "C0:FF:EE:00:5A:01", seed=5, scenario=scenario.load("stable"), start=start
    )
    taken = [
        cuff.measure(at=start + timedelta(days=d, hours=h))
        for d in range(DAYS)
        for h in ROUTINE_HOURS
    ]
    cuff.set_time(datetime.now(UTC))
    gw = run_gateway(broker, cuff, tmp_path / "gw")
    try:

        def systolic_count() -> int:
            with services.sessions() as s:
                return int(
                    s.scalar(
                        select(func.count(Reading.id)).where(
                            Reading.patient_id == PATIENT, Reading.metric == "systolic_bp"
                        )
                    )
                    or 0
                )

        wait_until(lambda: systolic_count() == len(taken), timeout=60, what="the month's readings")
    finally:
        gw.stop()
    with services.sessions() as s:
        days = {
            ts.date()
            for ts in s.scalars(
                select(Reading.ts).where(
                    Reading.patient_id == PATIENT, Reading.metric == "systolic_bp"
                )
            )
        }  # the cuff's battery level is a reading too, taken today
        clinical = s.scalars(select(Alert).where(Alert.category == "clinical")).all()
        prompts = s.scalars(select(Message).where(Message.kind == "remeasure")).all()
    assert len(days) == DAYS
    assert [(a.rule_id, a.first_value) for a in clinical] == []
    assert prompts == []
    assert webhook.bodies() == []


def test_an_urgency_reading_prompts_the_patient_to_measure_again(
    cloud: TestClient, broker: Mosquitto, webhook: WebhookReceiver, tmp_path: Path
) -> None:
    """The API process's patient-message schedule, woken by the new alert, texts the patient
    their numbers once, although two rules (systolic, diastolic) fire on the same reading."""
    now = datetime.now(UTC)
    cuff = BloodPressureCuff(
        "C0:FF:EE:00:5A:02", seed=11, scenario=scenario.load("hypertensive_urgency"),
        start=now - timedelta(days=7),
    )  # fmt: skip
    *_, taken = [cuff.measure(at=now - timedelta(minutes=m)) for m in (20, 10, 1)]
    assert taken.systolic is not None
    assert taken.systolic >= 180
    gw = run_gateway(broker, cuff, tmp_path / "gw")
    try:
        # Only the re-measure prompts: the four-weekly rating question may be due too when the
        # test runs around local midday (it goes by the wall clock).
        def prompts() -> list[dict[str, str]]:
            return [b for b in webhook.bodies() if "your blood pressure was" in b["message"]]

        [prompt] = wait_until(prompts, timeout=30, what="the re-measure prompt")
    finally:
        gw.stop()
    assert (
        f"your blood pressure was {taken.systolic:.0f}/{taken.diastolic:.0f}." in prompt["message"]
    )
    assert prompt["message"].startswith("Hello Synthetic, ")
    assert prompt["message"].endswith(" - Clinic care team")
