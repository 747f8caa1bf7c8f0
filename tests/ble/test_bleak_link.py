"""Unmodified bleak against a fake BlueZ serving firmware_sim devices on a private D-Bus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.bluez import FakeBlueZ, PrivateBus
from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.radio import SimRadio
from gateway.ble import profiles
from gateway.ble.bleak_link import BleakLink
from gateway.ble.link import DeviceNotFoundError
from gateway.ble.uuids import normalize_uuid


@pytest.fixture
def system_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    bus = PrivateBus()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    yield bus.address
    bus.close()


async def close_bleak_bus() -> None:
    """bleak keeps one system-bus connection per event loop for the life of the process;
    close it before the test's loop ends so no socket outlives the test."""
    from bleak.backends.bluezdbus.manager import get_global_bluez_manager

    manager = await get_global_bluez_manager()
    bus = manager._bus
    if bus is not None and bus.connected:
        bus.disconnect()
        await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


async def until(predicate: Any, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def test_bleak_scans_connects_reads_and_receives_notifications(system_bus: str) -> None:
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:42", seed=5, battery=64))

    async def scenario() -> list[Any]:
        bluez = FakeBlueZ(radio, system_bus)
        await bluez.start()
        try:
            link = BleakLink()
            ads = await link.scan(timeout=0.3, service_uuids=["180d"])
            assert [(a.address, a.name) for a in ads] == [("C0:FF:EE:00:00:42", "VG-HRM")]
            assert normalize_uuid(0x180D) in ads[0].service_uuids
            lost = asyncio.Event()
            conn = await link.connect(strap.address, timeout=5, on_disconnect=lost.set)
            assert conn.is_connected
            chars = await conn.characteristics()
            assert {normalize_uuid(u) for u in (0x2A37, 0x2A38, 0x2A19)} <= chars
            assert await conn.read("2a19") == bytes([64])
            assert await conn.read("2a38") == bytes([1])  # chest
            got: list[Any] = []
            await conn.start_notify("2a37", lambda u, d: got.append(profiles.decode(u, d)))
            for _ in range(5):
                assert strap.tick()
            await until(lambda: len(got) == 5)
            strap.detach()  # the strap drops the link, as when the patient walks away
            await asyncio.wait_for(lost.wait(), 20)
            assert not conn.is_connected
            await conn.disconnect()  # releases bleak's per-connection bus; harmless when lost
            return got
        finally:
            await close_bleak_bus()
            await bluez.stop()

    got = asyncio.run(scenario())
    assert [g.heart_rate for g in got] == [bpm for _, bpm in strap.emitted]
    assert all(g.sensor_contact is True for g in got)


def test_a_device_that_does_not_advertise_is_reported_with_advice(system_bus: str) -> None:
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:43", seed=5))
    strap.advertising = False

    async def scenario() -> None:
        bluez = FakeBlueZ(radio, system_bus)
        await bluez.start()
        try:
            with pytest.raises(DeviceNotFoundError, match="keep it within a few metres"):
                await BleakLink().connect(strap.address, timeout=0.3)
        finally:
            await close_bleak_bus()
            await bluez.stop()

    asyncio.run(scenario())


def test_gateway_session_over_bleak_reads_a_strap_that_vanishes_and_returns(
    system_bus: str, tmp_path: Path
) -> None:
    """The gateway's own session code on the bleak path: measurements, a drop, a reconnect."""
    from gateway.ble.measurement import Measurement
    from gateway.ble.runtime import DeviceRuntime
    from gateway.ble.state import DeviceState, StateStore
    from gateway.wire import PatientAssignment

    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:44", seed=9))
    got: list[Measurement] = []

    async def scenario() -> int:
        bluez = FakeBlueZ(radio, system_bus)
        await bluez.start()
        link = BleakLink()
        await link.scan(timeout=0.2)
        store = StateStore(tmp_path)
        device = DeviceState(
            device_id="hrm-44",
            address=strap.address,
            kind="hr_strap",
            patients=[PatientAssignment(patient_id="p-44")],
        )
        session = DeviceRuntime(
            link, store.put(device), store=store, sink=got.append, events=lambda _e: None
        )
        task = asyncio.create_task(session.run())
        try:
            await until(lambda: strap.subscribed(0x2A37))
            for _ in range(3):
                strap.tick()
            await until(lambda: len(got) == 3)
            strap.advertising = False  # the patient takes the strap off and walks away
            strap.detach()
            await until(lambda: not session.connected)
            strap.advertising = True  # … and comes back
            await until(lambda: strap.subscribed(0x2A37), timeout=30)
            for _ in range(2):
                strap.tick()
            await until(lambda: len(got) == 5)
            return bluez.connects
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await close_bleak_bus()
            await bluez.stop()

    connects = asyncio.run(scenario())
    assert connects == 2
    assert [m.decoded.heart_rate for m in got] == [bpm for _, bpm in strap.emitted]
    assert {(m.device_id, m.patient_id, m.characteristic) for m in got} == {
        ("hrm-44", "p-44", normalize_uuid(0x2A37))
    }
