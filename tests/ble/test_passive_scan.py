"""A passive sensor's advertisement reaches the tracker through the scan of either link:
the firmware_sim link, and unmodified bleak on the fake BlueZ (its real scanner)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from firmware_sim.advertiser import BTHomeAdvertiser, PassivePeripheral
from firmware_sim.bluez import FakeBlueZ
from firmware_sim.radio import SimLink, SimRadio
from gateway.ble.bleak_link import BleakLink
from gateway.ble.link import Advertisement
from gateway.ble.passive import PassiveSensor, PassiveTracker
from gateway.ble.profiles import DeviceKind
from gateway.ble.uuids import normalize_uuid
from gateway.wire import Metric
from tests.ble._util import close_bleak_bus

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
ADDRESS = "A4:C1:38:8D:18:B2"
SCALE = PassiveSensor("scale-1", "p-maria", DeviceKind.SCALE, ADDRESS, KEY)


def _radio() -> SimRadio:
    radio = SimRadio()
    sensor = radio.add(PassivePeripheral(ADDRESS))
    sensor.broadcast(BTHomeAdvertiser(ADDRESS, bind_key=KEY).measure({0x06: 80.3, 0x01: 88}))
    return radio


def _readings(ads: list[Advertisement]) -> list[tuple[str, Metric, float]]:
    tracker = PassiveTracker([SCALE])
    [ad] = [a for a in ads if a.address == ADDRESS]
    assert normalize_uuid(0xFCD2) in ad.service_data
    return [
        (r.patient_id, r.reading.metric, r.reading.value)
        for o in tracker.observe(ad.address, ad.service_data, now=T0)
        for r in o.readings
    ]


EXPECTED = [("p-maria", Metric.BATTERY_LEVEL, 88.0), ("p-maria", Metric.BODY_WEIGHT, 80.3)]


def test_sim_link_scan_carries_the_service_data() -> None:
    ads = asyncio.run(SimLink(_radio()).scan(timeout=0.1))
    assert _readings(ads) == EXPECTED


def test_bleak_scanner_on_fake_bluez_delivers_the_service_data(bluez_bus: str) -> None:
    async def scan() -> list[Advertisement]:
        bluez = FakeBlueZ(_radio(), bluez_bus)
        await bluez.start()
        try:
            return await BleakLink().scan(timeout=0.3)
        finally:
            await close_bleak_bus()
            await bluez.stop()

    assert _readings(asyncio.run(scan())) == EXPECTED
