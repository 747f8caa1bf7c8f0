"""Passive sensors in the running device manager, end to end from firmware_sim advertisers:
paired by bind key from a pairing window, readings delivered once however often they are
repeated, a rotated address still attributed, a wrong key refused and counted (nothing
stored), unpairing stops the reading and deletes the key. Both links: the simulated radio,
and unmodified bleak whose BleakScanner detection callback the fake BlueZ feeds."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.advertiser import BTHomeAdvertiser, PassivePeripheral
from firmware_sim.bluez import FakeBlueZ
from firmware_sim.radio import SimLink, SimRadio
from gateway.ble.bind_keys import BIND_KEYS_FILE, BindKeys
from gateway.ble.bleak_link import BleakLink
from gateway.ble.manager import DeviceManager
from gateway.ble.pairing import PairingRequest, PairingState
from gateway.ble.profiles import DeviceKind
from gateway.readings import to_wire
from gateway.wire import Metric, PatientAssignment
from tests.ble._util import Collected, FakeClock, close_bleak_bus, running, until

KEY = "231d39c1d7cc1ab1aee224cd096db932"
NEIGHBOUR_KEY = bytes(range(16))
ADDRESS = "A4:C1:38:8D:18:B2"
ROTATED = "5A:11:22:33:44:55"
NEIGHBOUR = "A4:C1:38:00:00:99"


def _manager(link: Any, tmp: Path, got: Collected, clock: FakeClock) -> DeviceManager:
    return DeviceManager(
        link,
        data_dir=tmp,
        gateway_id="gw-passive",
        sink=got.measurements.append,
        events=got.events.append,
        clock_fn=clock,
        scan_interval_s=0.05,
        pairing_scan_interval_s=0.05,
        scan_duration_s=0.01,
    )


def _values(got: Collected) -> list[tuple[str, str, Metric, float]]:
    return [
        (m.device_id, m.patient_id, r.metric, r.value)
        for m in got.measurements
        for r in m.decoded.readings()
    ]


async def _scenario(
    radio: SimRadio,
    m: DeviceManager,
    got: Collected,
    clock: FakeClock,
    listening: Callable[[], bool],
) -> None:
    """What a household does with an encrypting scale, whatever the link."""
    scale = radio.add(PassivePeripheral(ADDRESS))
    neighbour = radio.add(PassivePeripheral(NEIGHBOUR))
    ours = BTHomeAdvertiser(ADDRESS, bind_key=bytes.fromhex(KEY))
    theirs = BTHomeAdvertiser(NEIGHBOUR, bind_key=NEIGHBOUR_KEY)

    m.open_pairing(
        PairingRequest(
            kind=DeviceKind.SCALE,
            patients=[PatientAssignment(patient_id="p-maria")],
            bind_key=KEY.upper(),
            source="local_page",
        )
    )
    await until(listening, timeout=10)
    # The neighbour's scale, stepped on first, is not taken: our key does not open it.
    neighbour.broadcast(theirs.measure({0x06: 95.0}))
    scale.broadcast(ours.measure({0x06: 80.3, 0x01: 88}))
    await until(lambda: m.window is not None and m.window.state is PairingState.CONFIRMED, 10)
    assert m.window is not None
    assert "weight 80.3 kg" in m.window.message
    [device_id] = m.store.devices
    assert m.store.devices[device_id].passive
    # A scale repeats its packet for seconds: one measurement.
    for _ in range(5):
        scale.broadcast(ours.repeat())
    await until(lambda: m.store.devices[device_id].counters.get("duplicate", 0) >= 5, 10)
    assert _values(got) == [
        (device_id, "p-maria", Metric.BATTERY_LEVEL, 88.0),
        (device_id, "p-maria", Metric.BODY_WEIGHT, 80.3),
    ]
    # Its address rotates: the key that opens its packets still names it.
    clock.advance(3600)
    scale.rotate(ROTATED)
    ours.rotate_address(ROTATED)
    scale.broadcast(ours.measure({0x06: 80.1}))
    await until(lambda: len(got.measurements) == 2, 10)
    assert _values(got)[-1] == (device_id, "p-maria", Metric.BODY_WEIGHT, 80.1)
    # A packet sealed with another key, even from the scale's own address: refused, counted.
    refused = m.passive.refused
    neighbour.broadcast(theirs.measure({0x06: 99.9}))
    spoof = BTHomeAdvertiser(ROTATED, bind_key=NEIGHBOUR_KEY)
    scale.broadcast(spoof.measure({0x06: 70.0}))
    await until(lambda: m.passive.refused == refused + 2, 10)
    assert m.store.devices[device_id].counters.get("undecryptable") == 1
    assert len(got.measurements) == 2
    # Unpaired: no longer read, the key deleted, the scanner stops.
    assert m.unpair(device_id)
    scale.broadcast(ours.measure({0x06: 79.0}))
    await until(lambda: not listening(), 10)
    assert len(got.measurements) == 2
    assert BindKeys(m.data_dir).load() == {}


def test_passive_scale_on_the_simulated_radio(tmp_path: Path) -> None:
    got, clock = Collected(), FakeClock()
    radio = SimRadio()
    m = _manager(SimLink(radio), tmp_path, got, clock)

    async def body() -> None:
        await _scenario(radio, m, got, clock, lambda: bool(radio.listeners))

    asyncio.run(running(m.run(), body))
    ids = {r.id for meas in got.measurements for r in to_wire(meas)}
    assert len(ids) == 3  # battery + weight, then weight: ids stable, never random
    again = {r.id for r in to_wire(got.measurements[0])}
    assert again <= ids


def test_bind_key_file_is_private_and_never_logged(tmp_path: Path) -> None:
    keys = BindKeys(tmp_path)
    keys.put("scale-1", bytes.fromhex(KEY))
    mode = stat.S_IMODE((tmp_path / BIND_KEYS_FILE).stat().st_mode)
    assert mode == 0o600
    assert keys.load() == {"scale-1": bytes.fromhex(KEY)}
    assert KEY not in repr(
        PairingRequest(
            kind=DeviceKind.SCALE, patients=[PatientAssignment(patient_id="p-1")], bind_key=KEY
        )
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("231d39c1d7cc1ab1aee224cd096db9", "has 30"),
        ("231d39c1d7cc1ab1aee224cd096db9zz", "0-9 and the letters a-f"),
    ],
)
def test_a_bad_bind_key_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        PairingRequest(
            kind=DeviceKind.SCALE, patients=[PatientAssignment(patient_id="p-1")], bind_key=text
        )


def test_passive_scale_through_bleaks_scanner_on_the_fake_bluez(
    bluez_bus: str, tmp_path: Path
) -> None:
    got, clock = Collected(), FakeClock()
    radio = SimRadio()
    bluez = FakeBlueZ(radio, bluez_bus)
    m = _manager(BleakLink(), tmp_path, got, clock)

    async def body() -> None:
        await _scenario(radio, m, got, clock, lambda: bluez.adapter.sessions > 0)

    async def main() -> None:
        await bluez.start()
        try:
            await running(m.run(), body)
        finally:
            await close_bleak_bus()
            await bluez.stop()

    asyncio.run(main())
    assert len(got.measurements) == 2


def test_an_unreadable_key_file_leaves_the_gateway_running(tmp_path: Path) -> None:
    (tmp_path / BIND_KEYS_FILE).write_text("{not json")
    got, clock = Collected(), FakeClock()
    m = _manager(SimLink(SimRadio()), tmp_path, got, clock)  # no exception
    assert not m.passive.active
    with pytest.raises(ValueError, match="not a bind key file"):
        BindKeys(tmp_path).load()
