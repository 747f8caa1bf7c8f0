"""The outbox reaches its disk budget during an outage: it thins the oldest unsent readings,
says so, and everything it kept reaches the cloud exactly once. Plus the long outage."""

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


def stored_values(engine: Any) -> list[float]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(Reading.value).where(Reading.metric == "heart_rate").order_by(Reading.ts)
            ).all()
        )


def test_budget_reached_while_offline_thins_oldest_and_delivers_the_rest_once(
    broker: Any, cloud_factory: Any, tmp_path: Path
) -> None:
    cloud = cloud_factory(
        broker, binding={"gateway_id": "gw-test-1", "pairs": [("p-51", "hrm-51")]}
    )
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:51", seed=13))
    settings = gateway_settings(
        broker,
        tmp_path / "gw",
        devices=[paired(strap, patient_id="p-51", device_id="hrm-51")],
        outbox_budget_mb=0.03,  # about 80 readings
        batch_size=20,
        window=2,
    )
    total = 400
    gw = GatewayThread(settings, radio)
    gateway = gw.start()
    engine = create_engine(cloud.db_url)
    try:
        wait_until(gateway.uplink.connected.is_set, what="connected")
        wait_until(lambda: strap.subscribed(0x2A37), what="the strap connected")
        wait_until(gw.settled, what="its battery reading acknowledged")
        broker.stop()
        wait_until(lambda: not gateway.uplink.connected.is_set(), what="the outage noticed")
        gw.spawn(drive(strap, count=total, period_s=0.002))
        wait_until(lambda: len(strap.emitted) == total, timeout=30, what="all readings taken")
        wait_until(
            lambda: sum(_kept_and_thinned(gateway.outbox.stats())) == total,
            what="every reading stored or thinned",
        )
        stats = gateway.outbox.stats()
        assert stats.thinned > 0
        assert stats.bytes_used <= stats.budget_bytes
        state = gateway.local_state()
        assert state["outbox_thinned"] == stats.thinned
        broker.start()
        wait_until(gw.settled, timeout=30, what="the outbox to drain")
        values = stored_values(engine)
    finally:
        gw.stop()
        engine.dispose()
    # The oldest readings were thinned; every one kept arrives once, in the strap's order.
    emitted = [float(bpm) for _, bpm in strap.emitted]
    assert values == emitted[stats.thinned :]


def _kept_and_thinned(stats: Any) -> tuple[int, int]:
    return stats.depth, stats.thinned


@pytest.mark.slow
def test_broker_down_many_reconnect_cycles_while_the_strap_keeps_measuring(
    broker: Any, cloud_factory: Any, tmp_path: Path
) -> None:
    # A long outage is one that outlasts the reconnect backoff many times over: both ends
    # retry the broker at least every 2 s, and the broker stays down for about 30 s (15
    # capped retries each) while the strap measures 40 times a second, so more than a
    # thousand readings queue up; the outage's length in minutes adds nothing but wall time.
    cloud = cloud_factory(
        broker,
        VG_MQTT__RECONNECT_MAX_S="2",
        binding={"gateway_id": "gw-test-1", "pairs": [("p-52", "hrm-52")]},
    )
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:52", seed=14))
    settings = gateway_settings(
        broker, tmp_path / "gw", devices=[paired(strap, patient_id="p-52", device_id="hrm-52")]
    )
    settings.mqtt.reconnect_max_s = 2
    total = 1220  # forty a second for about 30 s, the broker down from the 20th reading
    gw = GatewayThread(settings, radio, background=[drive(strap, count=total, period_s=0.025)])
    gateway = gw.start()
    engine = create_engine(cloud.db_url)
    try:
        wait_until(lambda: len(stored_values(engine)) >= 20, what="first readings")
        broker.stop()
        wait_until(lambda: len(strap.emitted) >= total - 50, timeout=90, what="the outage")
        assert gateway.outbox.stats().depth > 1000
        broker.start()
        wait_until(lambda: len(stored_values(engine)) == total, timeout=60, what="all readings")
        gw.wait_drained()
        values = stored_values(engine)
    finally:
        gw.stop()
        engine.dispose()
    assert values == [float(bpm) for _, bpm in strap.emitted]
