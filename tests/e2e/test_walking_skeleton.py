"""A reading travels the real path: simulated strap → gateway → Mosquitto → cloud → SQLite → alert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from cloud.store.models import Alert, Reading
from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.physiology import Episode, HeartRateModel
from firmware_sim.radio import SimRadio
from tests.fixtures.gateway import GatewayThread, drive, gateway_settings, paired
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker

PASSWORD = "synthetic-clinician-password"
SAMPLES = 60
# Resting ~70 /min, then a sustained episode of +65 /min from the 20th to the 40th second:
# the test rule test.hr_high (≥ 120 /min, 3 readings in a row, clear ≤ 110) must fire once.
MODEL = HeartRateModel(
    baseline_bpm=70, circadian_amplitude_bpm=0, noise_bpm=1.0, episodes=(Episode(20, 40, 65),)
)


def test_strap_reading_reaches_the_cloud_and_fires_one_alert(
    broker: Any, cloud_factory: Any, webhook: Any, tmp_path: Path
) -> None:
    cloud = cloud_factory(broker, VG_ALERT_CHANNELS=f'["{webhook.apprise_url}"]')
    # The clinic provisions the gateway and lends the strap to the patient before any reading.
    cloud.bind(organisation="clinic", gateway_id="gw-test-1", pairs=[("p-001", "hrm-1")])
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:01", seed=7, model=MODEL))
    settings = gateway_settings(
        broker, tmp_path / "gw", devices=[paired(strap, patient_id="p-001", device_id="hrm-1")]
    )
    gw = GatewayThread(settings, radio, background=[drive(strap, count=SAMPLES, period_s=0.01)])
    gw.start()
    engine = create_engine(cloud.db_url)
    try:
        with Session(engine) as s:
            wait_until(
                lambda: (
                    len(s.scalars(select(Reading.id).where(Reading.metric == "heart_rate")).all())
                    == SAMPLES
                ),
                timeout=30,
                what=f"{SAMPLES} readings in the cloud's record",
            )
        gw.wait_drained()
        with Session(engine) as s:
            rows = s.scalars(
                select(Reading).where(Reading.metric == "heart_rate").order_by(Reading.ts)
            ).all()
            alerts = s.scalars(select(Alert)).all()
    finally:
        gw.stop()
        engine.dispose()

    # The value at the device end equals the value at the cloud end, reading by reading.
    device_values = [bpm for _, bpm in strap.emitted]
    assert [r.value for r in rows] == device_values
    assert {(r.patient_id, r.device_id, r.metric, r.unit) for r in rows} == {
        ("p-001", "hrm-1", "heart_rate", "/min")
    }
    assert all(r.quality["source"] == "2a37" for r in rows)

    # Exactly one alert for the episode, explained by the readings that fired it.
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.rule_id, alert.priority, alert.patient_id) == (
        "test.hr_high",
        "medium",
        "p-001",
    )
    fired_on = [s["value"] for s in alert.evidence["evidence"]["samples"]]
    first_run = next(
        i for i in range(SAMPLES - 2) if all(v >= 120 for v in device_values[i : i + 3])
    )
    assert fired_on == device_values[first_run : first_run + 3]
    assert alert.worst_value == max(device_values[20:40])
    assert alert.status == "resolved"  # back under the clear level after the episode

    # The webhook received the alert with the value that fired it.
    wait_until(webhook.bodies, timeout=15, what="the alert at the webhook")
    body = webhook.bodies()[0]
    assert "heart rate" in body["title"]
    assert f"heart rate {fired_on[-1]:g} /min" in body["message"]
    assert "p-001" in body["message"]

    # A clinician of the patient's organisation sees the alert through the API.
    cloud.cli(
        "user",
        "create",
        "--email",
        "clin@example.org",
        "--password",
        PASSWORD,
        "--role",
        "clinician",
        "--org",
        "clinic",
    )
    headers = cloud.login("clin@example.org", PASSWORD)
    api_alerts = httpx.get(f"{cloud.url}/api/v1/alerts", headers=headers).json()
    assert [a["id"] for a in api_alerts if a["category"] == "clinical"] == [alert.id]
    # Stopping the gateway (its last will) is a device alert for the patient it serves.
    assert {a["rule_id"] for a in api_alerts if a["category"] == "device"} <= {
        "device.gateway_offline:gw-test-1"
    }
    assert httpx.get(f"{cloud.url}/api/v1/alerts").status_code == 401
    metrics = httpx.get(f"{cloud.url}/metrics/").text
    # The strap's battery level is a reading too (battery_level), besides the heart rates.
    assert f"vitalgate_ingest_readings_total {float(SAMPLES + 1)}" in metrics
