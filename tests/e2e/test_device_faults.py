"""Device-side faults: a link that drops every few moments, and a device that repeats itself.
Either way every reading is stored once in the cloud's record and an alert fires once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from cloud.store.models import Alert, Reading
from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.physiology import Episode, HeartRateModel
from firmware_sim.radio import SimRadio
from gateway import wire
from gateway.readings import READING_NAMESPACE
from gateway.settings import DeviceConfig
from tests.fixtures.gateway import GatewayThread, drive, flapping, gateway_settings, paired
from tests.fixtures.stored_records import StoredRecord, StoredRecordMeter
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker


def test_a_strap_dropping_its_link_every_few_moments_loses_nothing(
    broker: Any, cloud_factory: Any, tmp_path: Path
) -> None:
    cloud = cloud_factory(
        broker, binding={"gateway_id": "gw-test-1", "pairs": [("p-21", "hrm-21")]}
    )
    radio = SimRadio()
    model = HeartRateModel(baseline_bpm=70, noise_bpm=1.0, episodes=(Episode(100, 140, 70),))
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:21", seed=5, model=model))
    settings = gateway_settings(
        broker, tmp_path / "gw", devices=[paired(strap, patient_id="p-21", device_id="hrm-21")]
    )
    total = 250
    gw = GatewayThread(
        settings,
        radio,
        background=[
            drive(strap, count=total, period_s=0.01),
            flapping(strap, every_s=0.3, times=8),
        ],
    )
    gateway = gw.start()
    engine = create_engine(cloud.db_url)
    try:
        with Session(engine) as s:
            wait_until(
                lambda: len(hr_ids(s)) == total,
                timeout=30,
                what=f"{total} readings across the link drops",
            )
        gw.wait_drained()
        with Session(engine) as s:
            values = s.scalars(
                select(Reading.value).where(Reading.metric == "heart_rate").order_by(Reading.ts)
            ).all()
            alerts = s.scalars(select(Alert)).all()
        dropped = broker.sys_counter("publish/messages/dropped")
    finally:
        gw.stop()
        engine.dispose()
    assert dropped == 0
    assert values == [float(bpm) for _, bpm in strap.emitted]
    assert strap.emitted[-1][0] == total
    assert len(alerts) == 1
    assert gateway.devices.store.devices["hrm-21"].counters.get("malformed", 0) == 0


def hr_ids(s: Session) -> list[str]:
    return list(s.scalars(select(Reading.id).where(Reading.metric == "heart_rate")).all())


def expected_id(device_id: str, seq: int) -> str:
    key = f"{device_id}|{0x2A18:04x}|seq:{seq}"
    return f"{uuid.uuid5(READING_NAMESPACE, key).hex}-blood_glucose"


def test_repeated_and_redownloaded_records_are_stored_once(
    broker: Any, cloud_factory: Any, tmp_path: Path
) -> None:
    cloud = cloud_factory(
        broker, binding={"gateway_id": "gw-test-1", "pairs": [("p-31", "rec-31")]}
    )
    t0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    # Ten stored glucose records (mg/dL), three in a row high enough to fire test.glucose_high.
    rates = [95, 102, 98, 262, 275, 290, 150, 120, 110, 105]
    records = [StoredRecord(i + 1, mg, t0 + timedelta(minutes=i)) for i, mg in enumerate(rates)]
    radio = SimRadio()
    meter = radio.add(StoredRecordMeter("C0:FF:EE:00:00:31", records))
    meter.repeats = [2, 4, 4, 5, 9]  # single records repeated by a flaky link
    device = DeviceConfig(
        device_id="rec-31", address=meter.address, kind="glucose_meter", patient_id="p-31"
    )
    settings = gateway_settings(broker, tmp_path / "gw", devices=[device])
    gw = GatewayThread(settings, radio)
    gateway = gw.start()
    engine = create_engine(cloud.db_url)
    try:
        wait_until(lambda: meter.sent >= 15, what="the first download")
        # The cloud asks for stored records again: the meter ignores "after record 10" and
        # sends its whole store again.
        again = wire.Command(
            command_id="c-again", name=wire.CommandName.DOWNLOAD_RECORDS, issued_at=t0
        )
        assert gw.call(lambda: gateway.devices.handle_command(again)).ok
        wait_until(lambda: meter.sent >= 30, what="the re-download")
        wait_until(gw.settled, what="all readings acknowledged")
        with Session(engine) as s:
            rows = s.scalars(
                select(Reading).where(Reading.metric == "blood_glucose").order_by(Reading.ts)
            ).all()
            alerts = s.scalars(select(Alert)).all()
    finally:
        gw.stop()
        engine.dispose()
    assert [r.id for r in rows] == [expected_id("rec-31", r.sequence_number) for r in records]
    assert [r.value for r in rows] == pytest.approx([float(mg) for mg in rates])
    assert [r.ts.replace(tzinfo=UTC) for r in rows] == [r.timestamp for r in records]
    assert len(alerts) == 1
    # The gateway already drops the repeats it recognises: 5, then all 15 of the re-download.
    assert gateway.devices.store.devices["rec-31"].counters["duplicate"] == 20
