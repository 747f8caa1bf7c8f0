"""The broker goes away mid-stream and comes back: every reading is stored exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from cloud.store.models import Reading
from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.radio import SimRadio
from tests.fixtures.gateway import GatewayThread, drive, gateway_settings, paired
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_readings_taken_while_the_broker_is_down_arrive_once(
    how: str, broker: Any, cloud_factory: Any, tmp_path: Path
) -> None:
    cloud = cloud_factory(
        broker, binding={"gateway_id": "gw-test-1", "pairs": [("p-002", "hrm-2")]}
    )
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:02", seed=11))
    settings = gateway_settings(
        broker,
        tmp_path / "gw",
        devices=[paired(strap, patient_id="p-002", device_id="hrm-2")],
        ack_timeout_s=2.0,
    )
    total = 300
    gw = GatewayThread(settings, radio, background=[drive(strap, count=total, period_s=0.01)])
    gateway = gw.start()
    engine = create_engine(cloud.db_url)
    try:
        with Session(engine) as s:
            wait_until(
                lambda: (
                    len(s.scalars(select(Reading.id).where(Reading.metric == "heart_rate")).all())
                    >= 50
                ),
                what="first readings",
            )
        broker.kill() if how == "kill" else broker.stop()
        wait_until(lambda: not gateway.uplink.connected.is_set(), what="the gateway to notice")
        # The strap keeps measuring while the broker is down; the outbox holds the readings.
        wait_until(lambda: len(strap.emitted) == total, timeout=30, what="all measurements taken")
        assert gateway.outbox.stats().depth > 0
        broker.start()
        with Session(engine) as s:
            wait_until(
                lambda: (
                    len(s.scalars(select(Reading.id).where(Reading.metric == "heart_rate")).all())
                    == total
                ),
                timeout=60,
                what=f"all {total} readings in the cloud",
            )
        gw.wait_drained(timeout=60)
        with Session(engine) as s:
            values = s.scalars(
                select(Reading.value).where(Reading.metric == "heart_rate").order_by(Reading.ts)
            ).all()
    finally:
        gw.stop()
        engine.dispose()
    assert values == [float(bpm) for _, bpm in strap.emitted]
