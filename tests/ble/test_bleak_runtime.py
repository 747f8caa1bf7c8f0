"""The whole BLE runtime on unmodified bleak, through the fake BlueZ: scan → pair → connect →
notifications from every device kind, seven sessions at once, a clock set over Current
Time, glucose records over RACP, a strap that vanishes and returns, a stuck adapter."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from firmware_sim.bluez import FakeBlueZ
from firmware_sim.devices import (
    BloodPressureCuff,
    GlucoseMeter,
    HeartRateStrap,
    PulseOximeter,
    Scale,
    Thermometer,
)
from firmware_sim.devices.base import DEFAULT_START
from firmware_sim.radio import SimRadio
from gateway.ble.bleak_link import BleakLink
from gateway.ble.manager import DeviceManager
from gateway.ble.pairing import PairingRequest, PairingState
from gateway.ble.profiles import DeviceKind
from gateway.ble.state import DeviceState
from gateway.wire import EventKind, PatientAssignment
from tests.ble._util import Collected, FakeClock, close_bleak_bus, until


def manager(link: Any, tmp: Path, got: Collected, clock: FakeClock) -> DeviceManager:
    return DeviceManager(
        link,
        data_dir=tmp,
        gateway_id="gw-test",
        sink=got.measurements.append,
        events=got.events.append,
        clock_fn=clock,
        backoff_scale=0.01,
        scan_interval_s=0.2,
        pairing_scan_interval_s=0.05,
        scan_duration_s=0.2,
    )


def request(kind: DeviceKind, *patients: tuple[str, int | None]) -> PairingRequest:
    return PairingRequest(
        kind=kind, patients=[PatientAssignment(patient_id=p, user_index=u) for p, u in patients]
    )


async def pair(m: DeviceManager, req: PairingRequest, timeout: float = 10) -> str:
    m.open_pairing(req)
    await until(lambda: m.window is not None and m.window.state is PairingState.PAIRED, timeout)
    assert m.window is not None
    assert m.window.device_id is not None
    return m.window.device_id


def test_pair_and_read_every_kind_with_seven_sessions_at_once(
    bluez_bus: str, tmp_path: Path
) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    cuff = radio.add(BloodPressureCuff("0B:00:00:00:00:01", seed=1, clock_offset_h=-5))
    scale = radio.add(Scale("0B:00:00:00:00:02", seed=2, user_id=2))
    thermo = radio.add(Thermometer("0B:00:00:00:00:03", seed=3))
    oxi = radio.add(PulseOximeter("0B:00:00:00:00:04", seed=4))
    meter = radio.add(GlucoseMeter("0B:00:00:00:00:05", seed=5))
    strap = radio.add(HeartRateStrap("0B:00:00:00:00:06", seed=6))
    strap2 = radio.add(HeartRateStrap("0B:00:00:00:00:07", seed=7, name="VG-HRM2"))
    clock.devices.extend([cuff, scale, thermo, oxi, meter])
    for hour in range(3):
        meter.measure(meter.start + timedelta(hours=hour - 5))
    meter.set_time(clock.now)
    cuff.measure()  # stamped by a clock five hours behind, stored on the cuff

    def n(device_id: str) -> int:
        return sum(1 for m in got.measurements if m.device_id == device_id)

    ids: dict[str, str] = {}

    def streamed(k: int) -> bool:
        return n(ids["strap2"]) == k and n(ids["oxi"]) > k

    async def scenario() -> tuple[DeviceManager, dict[str, str]]:
        bluez = FakeBlueZ(radio, bluez_bus)
        await bluez.start()
        m = manager(BleakLink(), tmp_path, got, clock)
        task = asyncio.create_task(m.run())
        try:
            ids["cuff"] = await pair(m, request(DeviceKind.BP_CUFF, ("p-1", None)))
            await until(lambda: n(ids["cuff"]) == 1)
            assert m.window is not None
            assert m.window.state is PairingState.CONFIRMED
            ids["scale"] = await pair(m, request(DeviceKind.SCALE, ("p-1", 1), ("p-2", 2)))
            ids["thermo"] = await pair(m, request(DeviceKind.THERMOMETER, ("p-1", None)))
            ids["oxi"] = await pair(m, request(DeviceKind.PULSE_OXIMETER, ("p-1", None)))
            ids["meter"] = await pair(m, request(DeviceKind.GLUCOSE_METER, ("p-1", None)))
            await until(lambda: n(ids["meter"]) == 3)
            ids["strap"] = await pair(m, request(DeviceKind.HR_STRAP, ("p-1", None)))
            ids["strap2"] = await pair(m, request(DeviceKind.HR_STRAP, ("p-3", None)))
            # seven sessions; every device measures at once
            await until(lambda: all(p.subscribed(0x2A37) for p in (strap, strap2)))
            await until(lambda: oxi.subscribed(0x2A5F) and thermo.subscribed(0x2A1C))
            await until(lambda: scale.subscribed(0x2A9C) and cuff.subscribed(0x2A35))
            clock.advance(60)
            cuff.measure()
            scale.measure()
            thermo.measure()
            oxi.spot_check()
            for i in range(3):
                strap.tick()
                strap2.tick()
                oxi.tick()
                await until(partial(streamed, i + 1))
                clock.advance(1)  # one value a second, as streams send
            meter.measure(clock.now)
            await until(lambda: n(ids["strap"]) == 3 and n(ids["strap2"]) == 3, 10)
            await until(lambda: n(ids["cuff"]) == 2 and n(ids["scale"]) == 2, 10)
            await until(lambda: n(ids["thermo"]) == 1 and n(ids["oxi"]) == 4, 10)
            await until(lambda: n(ids["meter"]) == 4, 10)  # the next download: record 4 only
            assert sum(rt.connected for rt in m.runtimes.values()) >= 4
            # the strap is taken off and carried away, then comes back
            strap.advertising = False
            strap.detach()
            await until(lambda: not m.runtimes[ids["strap"]].connected)
            strap.advertising = True
            await until(lambda: strap.subscribed(0x2A37), 10)
            strap.tick()
            await until(lambda: n(ids["strap"]) == 4)
            return m, ids
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await close_bleak_bus()
            await bluez.stop()

    m, ids = asyncio.run(scenario())
    assert len(m.runtimes) == 7
    assert all(p.bonded for p in (cuff, scale, thermo, oxi, meter, strap, strap2))
    # the cuff's clock was set over Current Time; its stored stamp was corrected
    assert cuff.clock_set
    first_bp = next(x for x in got.measurements if x.device_id == ids["cuff"])
    assert "clock_corrected" in first_bp.flags
    assert first_bp.corrected_ts == DEFAULT_START  # when it was taken, on the gateway's clock
    # glucose: records 1-3, then only the new one; the sequence number is persisted
    seqs = [x.decoded.sequence_number for x in got.measurements if x.device_id == ids["meter"]]
    assert seqs == [1, 2, 3, 4]
    assert m.store.devices[ids["meter"]].last_sequence == 4
    # the shared scale's reading went to user 2's patient
    assert {x.patient_id for x in got.measurements if x.device_id == ids["scale"]} == {"p-2"}
    assert {x.patient_id for x in got.measurements if x.device_id == ids["strap2"]} == {"p-3"}
    codes = got.codes()
    assert codes.count(("pairing", "paired")) == 7
    assert ("pairing", "first_reading") in codes
    assert ("device", "clock_drift") in codes
    statuses = {s.device_id: s for s in m.statuses()}
    assert statuses[ids["cuff"]].battery == 90
    assert statuses[ids["strap"]].rssi == -60


def test_a_stuck_adapter_is_reported_and_power_cycled(bluez_bus: str, tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    radio.add(HeartRateStrap("0B:00:00:00:01:01", seed=1))

    async def scenario() -> int:
        bluez = FakeBlueZ(radio, bluez_bus)
        await bluez.start()
        m = manager(BleakLink(), tmp_path, got, clock)
        task = asyncio.create_task(m.run())
        try:
            await until(lambda: m.watch.failures == 0 and not m.watch.stuck)
            bluez.adapter.stuck = True
            await until(lambda: ("device", "adapter_stuck") in got.codes(), 10)
            await until(lambda: ("all_clear", "adapter_stuck") in got.codes(), 10)
            return bluez.adapter.power_cycles
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await close_bleak_bus()
            await bluez.stop()

    assert asyncio.run(scenario()) == 1
    stuck = next(e for e in got.events if e.code == "adapter_stuck")
    assert stuck.kind is EventKind.DEVICE
    assert "unplug" in stuck.evidence["advice"]


def test_a_cuff_used_away_from_the_gateway_uploads_its_stored_readings_on_return(
    bluez_bus: str, tmp_path: Path
) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    cuff = radio.add(BloodPressureCuff("0B:00:00:00:02:01", seed=21))
    clock.devices.append(cuff)
    device = DeviceState(
        device_id="cuff-21",
        address=cuff.address,
        kind="bp_cuff",
        patients=[PatientAssignment(patient_id="p-21")],
    )

    async def scenario() -> None:
        bluez = FakeBlueZ(radio, bluez_bus)
        await bluez.start()
        m = manager(BleakLink(), tmp_path, got, clock)
        m.store.put(device)
        task = asyncio.create_task(m.run())
        try:
            await until(lambda: cuff.subscribed(0x2A35), 10)
            cuff.advertising = False  # taken on a trip: out of range
            cuff.detach()
            await until(lambda: not m.runtimes["cuff-21"].connected)
            cuff.measure()  # two readings taken away from home, kept on the cuff
            clock.advance(12 * 3600)
            cuff.measure()
            clock.advance(3600)
            assert len(cuff.stored) == 2
            cuff.advertising = True  # back home
            await until(lambda: len(got.measurements) == 2, 10)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await close_bleak_bus()
            await bluez.stop()

    asyncio.run(scenario())
    stamps = [x.decoded.timestamp for x in got.measurements]
    assert stamps[1] - stamps[0] == timedelta(hours=12)
    assert [x.corrected_ts for x in got.measurements] == stamps  # its clock was right
    assert not cuff.stored
    assert not cuff.clock_set


def test_a_device_that_refuses_to_bond_is_passed_over_for_the_next_of_its_kind(
    bluez_bus: str, tmp_path: Path
) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    refuses = radio.add(Thermometer("0B:00:00:00:03:01", seed=31))
    refuses.rssi = -40  # the strongest signal, but it rejects pairing
    refuses.bondable = False
    good = radio.add(Thermometer("0B:00:00:00:03:02", seed=32))
    good.rssi = -70

    async def scenario() -> tuple[str, tuple[str, ...]]:
        bluez = FakeBlueZ(radio, bluez_bus)
        await bluez.start()
        m = manager(BleakLink(), tmp_path, got, clock)
        task = asyncio.create_task(m.run())
        try:
            device_id = await pair(m, request(DeviceKind.THERMOMETER, ("p-31", None)))
            assert m.window is not None
            return device_id, m.window.tried
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await close_bleak_bus()
            await bluez.stop()

    device_id, tried = asyncio.run(scenario())
    assert tried == (refuses.address,)
    assert (refuses.bonded, good.bonded) == (False, True)
    paired_event = next(e for e in got.events if e.code == "paired")
    assert paired_event.device_id == device_id == "thermometer-0b0000000302"
    assert paired_event.evidence["bonded"] is True
