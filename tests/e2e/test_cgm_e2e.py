"""CGM in the clinic, end to end: a firmware_sim CGM wears for 14 simulated days, read live by
the gateway runtime and carried over real Mosquitto into the cloud; the cloud's time in range
and AGP (JSON and PDF) equal those computed straight from the simulator's values. On day 7
the patient walks out of range for three hours: the sensor keeps its records, and the RACP
download on reconnection fills the gap with each record stored once.

Time is accelerated: the sensor and the gateway share a simulated clock that the test moves
an hour at a time (the sensor takes the readings that fell due and notifies them); the
simulated fortnight ends at the moment the test started, so the cloud, on the wall clock,
reads it as the last 14 days."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from cloud.api.app import create_app
from cloud.auth import service as auth
from cloud.settings import CloudSettings
from cloud.store.models import Reading
from cloud.store.tenancy import Patient, Role
from cloud.tenancy import service as tenancy
from firmware_sim.devices import ContinuousGlucoseMonitor
from firmware_sim.devices.cgm import CGM_MEASUREMENT
from firmware_sim.radio import SimRadio
from gateway.settings import DeviceConfig
from gateway.signal import glucose
from gateway.uplink.settings import MqttSettings
from tests.fixtures.bindings import bind
from tests.fixtures.gateway import GatewayThread, gateway_settings
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.waiting import wait_until
from tests.web.test_glucose_pdf import pdf_text, shown

pytestmark = pytest.mark.broker

SECRET = "e2e-secret-that-is-long-enough-for-hs256-0123456789"
PASSWORD = "synthetic-care-team-password"
CLIN = "clin@clinic.test"
PATIENT, DEVICE = "p-cgm-1", "cgm-1"
DAYS = 14
GAP_DAY, GAP_HOUR, GAP_HOURS = 7, 10, 3


class SimClock:
    """The simulated wall clock the sensor and the gateway share (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


@pytest.fixture
def cloud(broker: Mosquitto, tmp_path: Path) -> Iterator[TestClient]:
    settings = CloudSettings(
        data_dir=tmp_path / "cloud",
        database_url=f"sqlite:///{tmp_path / 'cloud.sqlite3'}",
        secret_key=SecretStr(SECRET),
        mqtt=MqttSettings(host=broker.host, port=broker.port),
        ingest_client_id="ingest-cgm",
        alert_program="diabetes",
    )
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        wait_until(services.ingest.connected.is_set, what="ingest to connect")
        now = datetime.now(UTC) - timedelta(days=DAYS + 1)
        with services.sessions.begin() as s:
            auth.create_organisation(s, organisation_id="clinic", name="Clinic", now=now)
            tenancy.create_patient(s, organisation_id="clinic", patient_id=PATIENT,
                                   display_name="Synthetic Patient", program_id="diabetes",
                                   now=now)  # fmt: skip
            patient = s.get(Patient, PATIENT)
            assert patient is not None
            user = auth.create_user(s, organisation_id="clinic", email=CLIN, password=PASSWORD,
                                    role=Role.CLINICIAN, now=now)  # fmt: skip
            tenancy.add_care_team_member(s, organisation_id="clinic", patient=patient,
                                         user_id=user.id, team_role="clinician", now=now)  # fmt: skip
        bind(services.sessions, organisation="clinic", gateway_id="gw-test-1",
             pairs=[(PATIENT, DEVICE)])  # fmt: skip
        yield client


def stored(services: Any) -> list[tuple[datetime, float]]:
    with services.sessions() as s:
        rows = s.execute(
            select(Reading.ts, Reading.value).where(
                Reading.patient_id == PATIENT, Reading.metric == "blood_glucose"
            )
        ).all()
    return sorted((ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts, v) for ts, v in rows)


def test_fourteen_days_of_cgm_reach_the_clinic_whole(
    cloud: TestClient, broker: Mosquitto, tmp_path: Path
) -> None:
    services: Any = cloud.app.state.services  # type: ignore[attr-defined]
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=DAYS)
    clock = SimClock(start)
    cgm = ContinuousGlucoseMonitor("0C:60:00:00:00:01", seed=17, start=start, e2e_crc=True)
    radio = SimRadio()
    radio.add(cgm)
    device = DeviceConfig(device_id=DEVICE, address=cgm.address, kind="cgm", patient_id=PATIENT)
    settings = gateway_settings(broker, tmp_path / "gw", devices=[device], ble_reconnect_max_s=0.5)
    gw = GatewayThread(settings, radio, wall=clock)
    gw.start()

    def hour() -> None:
        """One simulated hour, on the gateway's loop (the sensor notifies from there)."""
        gw.call(lambda: cgm.set_time(clock.advance(timedelta(hours=1))))

    def walk_away() -> None:
        cgm.advertising = False
        cgm.detach()

    def all_stored() -> bool:
        return len(stored(services)) == len(cgm.records)

    try:
        wait_until(lambda: cgm.subscribed(CGM_MEASUREMENT), what="the gateway to subscribe")
        for day in range(DAYS):
            for h in range(24):
                if (day, h) == (GAP_DAY, GAP_HOUR):
                    gw.call(walk_away)
                    wait_until(lambda: not cgm.connected, what="the sensor out of range")
                    before_gap = len(cgm.records)
                    for _ in range(GAP_HOURS):
                        hour()
                    assert len(stored(services)) <= before_gap  # nothing heard meanwhile
                    gw.call(lambda: setattr(cgm, "advertising", True))
                    continue
                hour()
            wait_until(all_stored, timeout=30, what=f"day {day + 1}'s readings in the cloud")
    finally:
        gw.stop()

    # Each record of the sensor stored once, at its own time, with its own value.
    expected = []
    for r in cgm.records:
        assert r.glucose is not None
        expected.append((start + timedelta(minutes=r.time_offset_min), r.glucose))
    assert stored(services) == expected
    gap = (start + timedelta(days=GAP_DAY, hours=GAP_HOUR), timedelta(hours=GAP_HOURS))
    in_gap = [t for t, _ in expected if gap[0] <= t < gap[0] + gap[1]]
    assert len(in_gap) > 24  # the RACP download brought the gap's readings

    # The cloud's report equals the consensus metrics of the simulator's own values.
    r = cloud.post("/api/v1/auth/token", data={"username": CLIN, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    got = cloud.get(f"/api/v1/patients/{PATIENT}/glucose", headers=headers).json()
    since, until = (datetime.fromisoformat(got[k]) for k in ("since", "until"))
    times = [t for t, _ in expected]
    values = np.array([v for _, v in expected])
    want = glucose.summary(values, times, start=since, end=until)
    assert got["readings"] == want.n_readings == len(expected)
    for name in ("tbr_54", "tbr_70", "tir", "tar_180", "tar_250", "mean_mg_dl", "cv", "wear"):
        assert got[name] == pytest.approx(round(getattr(want, name), 1), abs=1e-9), name
    profile = glucose.agp(values, times, end=until)
    for band in ("p5", "p25", "p50", "p75", "p95"):
        assert got["agp"][band] == [round(float(v), 1) for v in getattr(profile, band)], band
    pdf = cloud.get(f"/api/v1/patients/{PATIENT}/glucose/agp.pdf", headers=headers)
    figures = dict(itertools.pairwise(shown(pdf_text(pdf.content))))
    assert figures["In range (70-180 mg/dL)"] == f"{want.tir:.1f} %"
