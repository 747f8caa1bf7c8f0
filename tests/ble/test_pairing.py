"""Pairing windows (cloud command, CLI, expiry), the device list, and the choice of device."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firmware_sim.devices import BloodPressureCuff, GlucoseMeter, PulseOximeter, Scale
from firmware_sim.devices.cgm import ContinuousGlucoseMonitor
from firmware_sim.radio import SimLink, SimRadio
from gateway import wire
from gateway.ble import device_cli
from gateway.ble.link import Advertisement
from gateway.ble.manager import DeviceManager, devices_from_settings
from gateway.ble.pairing import PairingRequest, PairingState, candidate, open_window
from gateway.ble.profiles import DeviceKind
from gateway.ble.uuids import normalize_uuid
from gateway.cli import app as cli_app
from gateway.settings import DeviceConfig
from gateway.wire import PatientAssignment
from tests.ble._util import Collected, FakeClock, until

CUFF = (normalize_uuid(0x1810),)
SCALE = (normalize_uuid(0x181D),)


def _ad(address: str, rssi: int | None, uuids: tuple[str, ...]) -> Advertisement:
    return Advertisement(address, None, rssi, uuids)


def test_the_strongest_unpaired_device_of_the_expected_kind_is_chosen() -> None:
    clock = FakeClock()
    req = PairingRequest(kind=DeviceKind.BP_CUFF, patients=[PatientAssignment(patient_id="p")])
    window = open_window(req, now=clock.now)
    heard = [
        _ad("AA:01", -40, SCALE),  # strongest, but a scale
        _ad("AA:02", -80, CUFF),  # the neighbour's cuff
        _ad("AA:03", -55, CUFF),  # the one in the patient's hand
        _ad("AA:04", -30, CUFF),  # already paired
        _ad("AA:05", None, CUFF),
    ]
    assert candidate(window, heard, paired=["aa:04"]) == heard[2]
    refused = window.with_state(PairingState.OPEN, "", tried=("AA:03",))
    assert candidate(refused, heard, paired=["AA:04"]) == heard[1]
    assert candidate(window, heard[:1], paired=[]) is None
    assert window.expires_at - window.opened_at == timedelta(minutes=5)


def _manager(link: SimLink, tmp: Path, got: Collected, clock: FakeClock) -> DeviceManager:
    return DeviceManager(
        link,
        data_dir=tmp,
        gateway_id="gw-1",
        sink=got.measurements.append,
        events=got.events.append,
        clock_fn=clock,
        backoff_scale=0.001,
        scan_interval_s=0.02,
        pairing_scan_interval_s=0.01,
        scan_duration_s=0.0,
    )


def _command(clock: FakeClock, **args: object) -> wire.Command:
    return wire.Command(
        command_id="cmd-1", name=wire.CommandName.START_PAIRING, issued_at=clock.now, args=args
    )


def test_a_pairing_command_from_the_cloud_pairs_and_confirms_with_the_first_reading(
    tmp_path: Path,
) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    scale = radio.add(Scale("0C:00:00:00:00:01", seed=1, user_id=2))
    clock.devices.append(scale)
    m = _manager(SimLink(radio), tmp_path, got, clock)

    async def body() -> list[wire.CommandResult]:
        task = asyncio.create_task(m.run())
        try:
            bad = m.handle_command(_command(clock, kind="toaster", patients=[]))
            ok = m.handle_command(
                _command(
                    clock,
                    kind="scale",
                    device_id="scale-kitchen",
                    patients=[
                        {"patient_id": "ann", "user_index": 1},
                        {"patient_id": "bob", "user_index": 2},
                    ],
                )
            )
            await until(lambda: scale.subscribed(0x2A9C))
            scale.measure()
            await until(lambda: m.window is not None and m.window.state is PairingState.CONFIRMED)
            return [bad, ok]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    bad, ok = asyncio.run(body())
    assert not bad.ok
    assert "invalid pairing request" in (bad.detail or "")
    assert ok.ok
    assert ok.gateway_id == "gw-1"
    assert ok.command_id == "cmd-1"
    assert scale.bonded
    assert {x.patient_id for x in got.measurements} == {"bob"}
    paired = [e for e in got.events if e.kind is wire.EventKind.PAIRING]
    assert [e.code for e in paired] == ["paired", "first_reading"]
    assert paired[1].patient_id == "bob"
    assert paired[1].device_id == "scale-kitchen"
    assert "It worked" in paired[1].evidence["message"]
    status = json.loads((tmp_path / "ble-pairing.json").read_text())
    assert status["state"] == "confirmed"
    assert status["request_id"] == "cmd-1"


def test_a_window_with_no_device_expires_with_advice(tmp_path: Path) -> None:
    clock, got = FakeClock(), Collected()
    m = _manager(SimLink(SimRadio()), tmp_path, got, clock)
    expired = wire.Command(
        command_id="cmd-2",
        name=wire.CommandName.START_PAIRING,
        issued_at=clock.now,
        expires_at=clock.now,
        args={},
    )
    assert not m.handle_command(expired).ok

    async def body() -> None:
        task = asyncio.create_task(m.run())
        try:
            m.handle_command(_command(clock, kind="bp_cuff", patients=[{"patient_id": "p"}]))
            clock.advance(301)
            await until(lambda: m.window is not None and m.window.state is PairingState.EXPIRED)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(body())
    assert m.window is not None
    assert "start pairing again" in m.window.message


def _config(tmp_path: Path, *people: tuple[str, str]) -> Path:
    """A gateway config whose household is ``people`` (patient id, first name)."""
    config = tmp_path / "gateway.toml"
    text = f'gateway_id = "gw-pair"\ndata_dir = "{tmp_path}"\nlink = "sim"\n'
    for pid, name in people:
        text += f'[[patients]]\npatient_id = "{pid}"\nfirst_name = "{name}"\n'
    config.write_text(text)
    return config


def test_cli_pair_follows_the_window_until_the_first_reading(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    cuff = radio.add(BloodPressureCuff("0C:00:00:00:00:02", seed=2))
    m = _manager(SimLink(radio), tmp_path, got, clock)
    runner = CliRunner()
    config = _config(tmp_path, ("pat-9", "Maria"))
    args = ["pair", "bp_cuff", "-p", "maria", "--config", str(config), "--minutes", "1"]

    async def body() -> int:
        task = asyncio.create_task(m.run())
        try:
            cli = asyncio.create_task(asyncio.to_thread(runner.invoke, cli_app, args))
            await until(lambda: cuff.subscribed(0x2A35), timeout=10)
            cuff.measure()
            result = await asyncio.wait_for(cli, 10)
            assert "Blood pressure cuff for Maria" in result.output, result.output
            assert "Press and hold the Bluetooth button" in result.output
            assert "It worked" in result.output, result.output
            said = " ".join(result.output.split())
            assert re.search(r"arrived \(blood pressure \d+/\d+ mmHg · pulse \d+", said), said
            return result.exit_code
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    assert asyncio.run(body()) == 0
    listing = runner.invoke(cli_app, ["devices", "--config", str(config)], env={"COLUMNS": "200"})
    assert listing.exit_code == 0
    assert "Paired devices" in listing.output
    assert "90 %" in listing.output
    assert "Maria" in listing.output
    assert "mmHg" in listing.output
    rows = json.loads(runner.invoke(cli_app, ["devices", "--config", str(config), "--json"]).output)
    assert rows[0]["device_id"] == "bp_cuff-0c0000000002"
    assert rows[0]["patients"] == [{"patient_id": "pat-9", "user_index": None}]
    assert rows[0]["bonded"] is True
    assert rows[0]["rssi"] == -60


def test_cli_pair_says_when_the_gateway_is_not_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_cli, "PICKUP_TIMEOUT_S", 0.3)
    runner = CliRunner()
    config = _config(tmp_path, ("ann", "Ann"), ("bob", "Bob"))
    result = runner.invoke(
        cli_app, ["pair", "scale", "-p", "Ann:1", "-p", "bob:2", "--config", str(config)]
    )
    assert result.exit_code == 2
    assert "vitalgate-gateway run" in result.output
    request = json.loads((tmp_path / "ble-pairing-request.json").read_text())
    assert request["patients"] == [
        {"patient_id": "ann", "user_index": 1},
        {"patient_id": "bob", "user_index": 2},
    ]
    assert (tmp_path / "ble-pairing-request.json").stat().st_mode & 0o077 == 0
    empty = runner.invoke(cli_app, ["devices", "--config", str(config)])
    assert empty.exit_code == 1
    assert "No paired devices yet. Who will use one? Ann · Bob" in " ".join(empty.output.split())
    assert runner.invoke(cli_app, ["unpair", "scale-1", "--config", str(config)]).exit_code == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-p", "x:y"], "not in this household"),
        (["-p", "Zoe"], "Who will use this device? Ann · Bob"),
        ([], "Who will use this device? Ann · Bob"),
        (["-p", "ann", "--bind-key", "00112233"], "this one has 8"),
        (["-p", "ann", "--bind-key", "g" * 32], "only the digits 0-9"),
    ],
)
def test_cli_pair_refuses_an_unknown_person_or_a_bad_bind_key(
    tmp_path: Path, args: list[str], says: str
) -> None:
    config = _config(tmp_path, ("ann", "Ann"), ("bob", "Bob"))
    result = CliRunner().invoke(
        cli_app, ["pair", "scale", *args, "--config", str(config)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2
    assert says in " ".join(result.output.replace("│", " ").split())
    assert not (tmp_path / "ble-pairing-request.json").exists()


def test_cli_pair_devices_and_unpair_need_a_readable_config(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = tmp_path / "nowhere.toml"
    for command in (["pair", "scale", "-p", "ann"], ["devices"], ["unpair", "scale-1"]):
        result = runner.invoke(cli_app, [*command, "--config", str(missing)])
        assert result.exit_code == 4, result.output  # ExitCode.CONFIG_FILE
        assert len(result.output.strip().splitlines()) == 1
        assert "no gateway config" in result.output
    config = _config(tmp_path, ("ann", "Ann"))
    (tmp_path / "config.json").write_text("{not json")
    broken = runner.invoke(cli_app, ["devices", "--config", str(config)])
    assert broken.exit_code == 4
    assert "the config the cloud sent cannot be read" in broken.output
    assert len(broken.output.strip().splitlines()) == 1
    assert runner.invoke(cli_app, ["devices"]).exit_code == 2  # --config is required


def test_cloud_commands_download_records_and_sync_clocks_now(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    meter = radio.add(GlucoseMeter("0C:00:00:00:00:03", seed=3))
    oxi = radio.add(PulseOximeter("0C:00:00:00:00:04", seed=4))
    clock.devices.extend([meter, oxi])
    meter.measure()
    devices = devices_from_settings(
        [
            DeviceConfig(
                device_id="gm", address=meter.address, kind="glucose_meter", patient_id="p"
            ),
            DeviceConfig(
                device_id="ox", address=oxi.address, kind="pulse_oximeter", patient_id="p"
            ),
        ]
    )
    m = DeviceManager(  # real sleeps: the meter is next asked in 5 minutes, unless poked
        SimLink(radio),
        data_dir=tmp_path,
        gateway_id="gw-1",
        sink=got.measurements.append,
        events=got.events.append,
        devices=devices,
        clock_fn=clock,
        scan_interval_s=0.05,
        scan_duration_s=0.0,
    )

    def command(name: wire.CommandName) -> wire.Command:
        return wire.Command(command_id=f"c-{name.value}", name=name, issued_at=clock.now)

    async def body() -> list[wire.CommandResult]:
        task = asyncio.create_task(m.run())
        try:
            await until(lambda: len(got.measurements) == 1 and oxi.subscribed(0x2A5F))
            await until(lambda: not m.runtimes["gm"].connected)  # downloaded; resting
            meter.measure()
            oxi.clock_offset = timedelta(hours=1)  # its clock jumps while connected
            results = [
                m.handle_command(command(wire.CommandName.DOWNLOAD_RECORDS)),
                m.handle_command(command(wire.CommandName.SYNC_CLOCKS)),
            ]
            await until(lambda: len(got.measurements) == 2 and oxi.clock_set)
            return results
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    download, sync = asyncio.run(body())
    assert download.ok
    assert download.result == {"devices": 2}
    assert sync.ok
    assert sync.result == {"devices": 1}
    assert [x.decoded.sequence_number for x in got.measurements] == [1, 2]


def test_an_expired_window_is_reported_to_the_cloud(tmp_path: Path) -> None:
    clock, got = FakeClock(), Collected()
    m = _manager(SimLink(SimRadio()), tmp_path, got, clock)

    async def body() -> None:
        task = asyncio.create_task(m.run())
        try:
            m.open_pairing(
                PairingRequest(
                    kind=DeviceKind.THERMOMETER, patients=[PatientAssignment(patient_id="p")]
                )
            )
            clock.advance(301)
            await until(lambda: ("pairing", "pairing_expired") in got.codes())
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(body())
    expired = got.events[-1]
    assert expired.patient_id == "p"
    assert expired.evidence == {"kind": "thermometer", "source": "cli"}


def test_pairings_from_the_cloud_config_start_sessions_and_update_patients(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    cuff = radio.add(BloodPressureCuff("0C:00:00:00:00:05", seed=5, user_id=2))
    m = _manager(SimLink(radio), tmp_path, got, clock)

    def pairing(*patients: tuple[str, int]) -> wire.Pairing:
        return wire.Pairing(
            device_id="cuff-home",
            kind="bp_cuff",
            address=cuff.address,
            patients=tuple(PatientAssignment(patient_id=p, user_index=u) for p, u in patients),
        )

    async def body() -> None:
        task = asyncio.create_task(m.run())
        try:
            await until(lambda: m._tg is not None)
            m.apply_pairings([pairing(("ann", 1))])
            unaddressed = wire.Pairing(
                device_id="x", kind="scale", patients=(PatientAssignment(patient_id="ann"),)
            )
            m.apply_pairings([pairing(("ann", 1)), unaddressed])  # a config lists every pairing
            await until(lambda: cuff.subscribed(0x2A35))
            cuff.measure()  # user 2: nobody yet
            await until(lambda: m.store.devices["cuff-home"].counters.get("unattributed") == 1)
            m.apply_pairings([pairing(("ann", 1), ("bob", 2))])  # the cloud adds Bob
            await until(lambda: cuff.subscribed(0x2A35))
            cuff.measure(cuff.now + timedelta(minutes=1))
            await until(lambda: len(got.measurements) == 1)
            m.apply_pairings([])  # the cloud ends the pairing: the cuff is released
            await until(lambda: not cuff.connected and "cuff-home" not in m.runtimes)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(body())
    assert got.measurements[0].patient_id == "bob"
    assert "x" not in m.store.devices  # no address: left to a pairing window
    assert m.store.devices == {}


def test_a_cgm_paired_with_its_insertion_time_says_when_readings_will_come(
    tmp_path: Path,
) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    radio.add(ContinuousGlucoseMonitor("0C:00:00:00:00:0C", seed=12))
    m = _manager(SimLink(radio), tmp_path, got, clock)
    inserted = clock.now - timedelta(minutes=30)

    async def body() -> None:
        task = asyncio.create_task(m.run())
        try:
            m.open_pairing(
                PairingRequest(
                    kind=DeviceKind.CGM,
                    patients=[PatientAssignment(patient_id="p-dm")],
                    sensor_inserted_at=inserted,
                )
            )
            await until(lambda: any(e.code == "paired" for e in got.events), timeout=10)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(body())
    [paired] = [e for e in got.events if e.code == "paired"]
    ready = (inserted + timedelta(hours=2)).strftime("%H:%M")
    assert paired.evidence["message"] == (
        f"Paired. The sensor is warming up: its first reading comes by {ready} UTC at the latest."
    )
