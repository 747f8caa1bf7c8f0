"""Batches the cloud never acknowledged are published again, whatever the wall clock does,
and that is what recovers messages a broker dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from cloud.store.models import Alert, Reading
from cloud.store.quarantine import QuarantinedReading
from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.physiology import Episode, HeartRateModel
from firmware_sim.radio import SimRadio
from tests.fixtures.gateway import (
    GatewayThread,
    JumpingClock,
    drive,
    gateway_settings,
    paired,
)
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker


def stored(engine: Any) -> list[Reading]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(Reading).where(Reading.metric == "heart_rate").order_by(Reading.ts)
            ).all()
        )


def quarantined(engine: Any) -> list[QuarantinedReading]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(QuarantinedReading).where(QuarantinedReading.metric == "heart_rate")
            ).all()
        )


def alerts(engine: Any) -> list[Alert]:
    with Session(engine) as s:
        return list(s.scalars(select(Alert)).all())


@pytest.mark.parametrize(
    ("jump_s", "episode"),
    [
        # A Pi that booted a day behind (no real-time clock) is set right by NTP before a
        # tachycardia episode: one alert.
        (86_400.0, Episode(200, 230, 65)),
        # A clock that ran an hour ahead is set back to the right time. Readings stamped an
        # hour ahead are quarantined by the cloud (a time stamp in the future), not lost;
        # the jump itself must fire nothing.
        (-3600.0, None),
    ],
    ids=["forward-a-day", "back-an-hour"],
)
def test_a_clock_jump_neither_stalls_resends_nor_loses_or_repeats_readings(
    jump_s: float, episode: Episode | None, broker: Any, cloud_factory: Any, tmp_path: Path
) -> None:
    radio = SimRadio()
    model = HeartRateModel(baseline_bpm=70, noise_bpm=1.0, episodes=(episode,) if episode else ())
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:41", seed=9, model=model))
    clock = JumpingClock()
    clock.jump(-jump_s)  # wrong until the jump sets it right
    settings = gateway_settings(
        broker,
        tmp_path / "gw",
        devices=[paired(strap, patient_id="p-41", device_id="hrm-41")],
        ack_timeout_s=1.0,
    )
    total = 240
    gw = GatewayThread(
        settings, radio, background=[drive(strap, count=total, period_s=0.01)], wall=clock
    )
    gateway = gw.start()
    engine = None
    try:
        # No cloud yet: the broker has no subscriber and discards every batch it PUBACKs.
        wait_until(lambda: len(strap.emitted) >= 100, what="readings taken")
        wait_until(
            lambda: gateway.outbox.stats().unpublished < gateway.outbox.stats().depth,
            what="batches PUBACKed (and discarded)",
        )
        clock.jump(jump_s)
        wait_until(lambda: len(strap.emitted) == total, what="all readings taken")
        cloud = cloud_factory(
            broker, binding={"gateway_id": "gw-test-1", "pairs": [("p-41", "hrm-41")]}
        )
        engine = create_engine(cloud.db_url)
        # Only re-sends on the monotonic clock can deliver the discarded batches now.
        wait_until(
            lambda: len(stored(engine)) + len(quarantined(engine)) == total,
            timeout=30,
            what="every reading, stored or quarantined",
        )
        wait_until(gw.settled, what="all batches acknowledged")
        rows = stored(engine)
        aside = quarantined(engine)
        fired = alerts(engine)
    finally:
        gw.stop()
        if engine is not None:
            engine.dispose()
    assert gateway.uplink.resent_batches > 0
    # Ordered by the gateway's time stamps, the values are the strap's sequence, cut once
    # by the jump if it went back (the readings taken after it sort first).
    values = [float(bpm) for _, bpm in strap.emitted]
    got = [r.value for r in rows]
    if jump_s > 0:
        assert got == values
        assert aside == []
    else:
        # Taken before the jump (an hour ahead): quarantined; after it: in the record.
        k = len(aside)
        assert k >= 100
        assert got == values[k:]
        assert sorted(q.value for q in aside) == sorted(values[:k])
        assert all("is in the future" in q.reason for q in aside)
    assert len({r.id for r in rows} | {q.id for q in aside}) == total
    assert len(fired) == (1 if episode else 0)


def test_a_broker_dropping_queued_messages_is_recovered_by_the_end_to_end_ack(
    cloud_factory: Any, tmp_path: Path
) -> None:
    # A broker configured with a tiny per-client queue, as Mosquitto's default of 1,000
    # becomes under a long enough outage of the ingest workers.
    broker = Mosquitto(tmp_path / "mosq", extra_conf="max_queued_messages 3\n")
    broker.start()
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:42", seed=10))
    settings = gateway_settings(
        broker,
        tmp_path / "gw",
        devices=[paired(strap, patient_id="p-42", device_id="hrm-42")],
        batch_size=10,
        window=20,
        ack_timeout_s=1.0,
    )
    # A named ingest session outlives the process (an unnamed one ends with it).
    cloud = cloud_factory(
        broker, binding={"gateway_id": "gw-test-1", "pairs": [("p-42", "hrm-42")]},
        VG_INGEST_CLIENT_ID="ingest-resend",
    )  # fmt: skip
    engine = create_engine(cloud.db_url)
    total = 300
    gw = GatewayThread(settings, radio, background=[drive(strap, count=total, period_s=0.005)])
    try:
        gw.start()
        wait_until(lambda: len(stored(engine)) >= 20, what="first readings")
        cloud.stop()  # its persistent session stays: the broker queues for it, up to 3
        wait_until(lambda: len(strap.emitted) == total, what="all readings taken")
        wait_until(
            lambda: broker.sys_counter("publish/messages/dropped") > 0,
            timeout=20,
            what="the broker to drop queued messages",
        )
        cloud.start()
        wait_until(lambda: len(stored(engine)) == total, timeout=60, what="every reading")
        wait_until(gw.settled, timeout=30, what="all batches acknowledged")
        rows = stored(engine)
        dropped = broker.sys_counter("publish/messages/dropped")
    finally:
        gw.stop()
        engine.dispose()
        broker.kill()
    assert dropped > 0
    assert [r.value for r in rows] == [float(bpm) for _, bpm in strap.emitted]
