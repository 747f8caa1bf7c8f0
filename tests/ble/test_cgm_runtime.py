"""A simulated CGM over the simulated radio, read by the gateway's own device runtime: true
times, stable ids, a signal-loss gap filled by the RACP download without duplicates, and the
sensor's warm-up, calibration and expiry as device events."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path

from firmware_sim.devices import ContinuousGlucoseMonitor
from firmware_sim.devices.cgm import RUN_TIME_H
from firmware_sim.radio import SimLink, SimRadio
from gateway import wire
from gateway.ble.cgm import CgmReading
from gateway.ble.manager import DeviceManager
from gateway.ble.pairing import PairingState
from gateway.ble.profiles import CgmMeasurement, CgmRecord
from gateway.readings import to_wire
from gateway.wire import EventKind, Metric
from tests.ble._util import Collected, FakeClock, paired, running, runtime, until

CLOCK_FAST_S = 90.0
"""The sensor's clock runs 90 s fast: inside the 2-minute tolerance, so corrected, not set."""


def _cgm(radio: SimRadio, clock: FakeClock, n: int, **kwargs: object) -> ContinuousGlucoseMonitor:
    cgm = ContinuousGlucoseMonitor(f"0A:00:00:00:00:{n:02X}", seed=n, **kwargs)  # type: ignore[arg-type]
    radio.add(cgm)
    clock.devices.append(cgm)
    return cgm


def test_live_readings_then_a_gap_filled_by_racp_with_true_times_and_no_duplicates(
    tmp_path: Path,
) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    cgm = _cgm(radio, clock, 0x21, clock_offset_h=CLOCK_FAST_S / 3600)
    device = paired("cgm-21", cgm.address, "cgm", ("p-21", None))
    rt, store = runtime(SimLink(radio), device, tmp_path, got, clock, backoff_scale=0.001)

    async def body() -> None:
        await until(lambda: rt.connected)
        clock.advance(3 * 3600)  # 25 readings at once: they arrive three to a notification
        await until(lambda: len(got.measurements) == len(cgm.records))
        live = len(got.measurements)
        cgm.advertising = False  # the patient walks out of range for four hours
        cgm.detach()
        await until(lambda: not rt.connected)
        clock.advance(4 * 3600)
        assert len(got.measurements) == live  # nothing heard meanwhile
        cgm.advertising = True
        await until(lambda: len(got.measurements) == len(cgm.records))
        assert len(cgm.records) > live + 40

    asyncio.run(running(rt.run(), body))
    assert cgm.session_start is not None
    offsets = [m.decoded.time_offset_min for m in got.measurements]
    assert offsets == [r.time_offset_min for r in cgm.records]  # each once, in order
    assert offsets[0] == 60  # the first reading after the hour of warm-up
    for m, record in zip(got.measurements, cgm.records, strict=True):
        assert isinstance(m.decoded, CgmReading)
        # the sensor's clock was 90 s fast: its session start plus the offset, corrected by
        # the offset read over Current Time (to its 1/256 s), is the true time of the reading
        true_time = cgm.session_start + timedelta(minutes=record.time_offset_min)
        assert m.corrected_ts is not None
        assert abs(m.corrected_ts - true_time) < timedelta(milliseconds=10)
        assert m.decoded.timestamp == true_time + timedelta(seconds=CLOCK_FAST_S)
        assert m.decoded.readings()[0].value == record.glucose
    wire = [r for m in got.measurements for r in to_wire(m)]
    assert len({r.id for r in wire}) == len(wire) == len(cgm.records)
    assert {r.metric for r in wire} == {Metric.BLOOD_GLUCOSE}
    assert {r.unit for r in wire} == {"mg/dL"}
    assert all("clock_corrected" in r.quality.flags for r in wire)
    assert all(r.quality.source == "2aa7" for r in wire)
    trend = [f for f in wire[5].quality.flags if f.startswith("trend_mg_dl_min:")]
    assert trend == [f"trend_mg_dl_min:{cgm.records[5].trend:g}"]
    state = store.devices["cgm-21"]
    assert state.last_sequence == cgm.records[-1].time_offset_min
    assert state.session_start == cgm.session_start + timedelta(seconds=CLOCK_FAST_S)
    assert ("device", "sensor_warm_up") in got.codes()
    assert ("all_clear", "sensor_warm_up") in got.codes()
    assert not [e for e in got.events if e.kind is EventKind.ALERT]


def _download_ids(
    radio: SimRadio, cgm: ContinuousGlucoseMonitor, data_dir: Path, clock: FakeClock
) -> list[str]:
    """Pair afresh (a new data dir: no memory of earlier downloads) and download it all."""
    got = Collected()
    device = paired("cgm-22", cgm.address, "cgm", ("p-22", None))
    rt, _ = runtime(SimLink(radio), device, data_dir, got, clock)
    done = lambda: len(got.measurements) == len(cgm.records)  # noqa: E731
    asyncio.run(running(rt.run(), lambda: until(done)))
    return [r.id for m in got.measurements for r in to_wire(m)]


def test_a_record_downloaded_again_keeps_its_reading_id(tmp_path: Path) -> None:
    radio, clock = SimRadio(), FakeClock()
    cgm = _cgm(radio, clock, 0x22)
    clock.advance(2 * 3600)  # readings stored before the gateway ever connects
    ids = [_download_ids(radio, cgm, tmp_path / str(attempt), clock) for attempt in range(2)]
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == len(cgm.records) == 13  # offsets 60, 65 … 120


def test_a_new_session_downloads_from_its_start(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    cgm = _cgm(radio, clock, 0x23, e2e_crc=False)
    device = paired("cgm-23", cgm.address, "cgm", ("p-23", None))
    device.last_sequence = 5000  # left from an older session
    rt, store = runtime(SimLink(radio), device, tmp_path, got, clock)
    clock.advance(90 * 60)
    asyncio.run(running(rt.run(), lambda: until(lambda: len(got.measurements) == 7)))
    assert store.devices["cgm-23"].last_sequence == 90


def test_calibration_requests_and_expiry_are_device_events(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    cgm = _cgm(radio, clock, 0x24, calibration_every_h=3)
    rt, _ = runtime(
        SimLink(radio), paired("cgm-24", cgm.address, "cgm", ("p-24", None)), tmp_path, got, clock
    )

    async def body() -> None:
        await until(lambda: rt.connected)
        clock.advance(4 * 3600)
        await until(lambda: ("device", "calibration_requested") in got.codes())
        cgm.last_calibration = cgm.now  # the patient calibrates
        clock.advance(600)
        await until(lambda: ("all_clear", "calibration_requested") in got.codes())

    asyncio.run(running(rt.run(), body))
    flagged = [m for m in got.measurements if not m.decoded.usable]
    assert flagged  # readings taken while calibration was required are not for alerts
    assert all("calibration_required" in m.decoded.record.annunciations for m in flagged)
    events = [e for e in got.events if e.code == "calibration_requested"]
    assert all(e.category.value == "device" for e in events)

    late, clock2 = Collected(), FakeClock()
    old = _cgm(radio, clock2, 0x25, e2e_crc=False)
    clock2.advance((RUN_TIME_H + 2) * 3600)
    rt2, _ = runtime(
        SimLink(radio),
        paired("cgm-25", old.address, "cgm", ("p-25", None)),
        tmp_path / "late",
        late,
        clock2,
    )
    asyncio.run(
        running(rt2.run(), lambda: until(lambda: len(late.measurements) == len(old.records)))
    )
    assert ("device", "sensor_expired") in late.codes()
    assert max(m.decoded.time_offset_min for m in late.measurements) == RUN_TIME_H * 60


class NoCrcCgm(ContinuousGlucoseMonitor):
    """Says it protects its values with the E2E-CRC but sends records without it."""

    def _notify(self, records: list[CgmRecord]) -> None:
        for record in records:
            bare = CgmMeasurement((CgmRecord(record.glucose, record.time_offset_min),))
            self.send(0x2AA7, _encode(bare))


def _encode(m: CgmMeasurement) -> bytes:
    from firmware_sim.encoders.cgm import encode_cgm_measurement

    return encode_cgm_measurement(m)


def test_records_without_the_promised_crc_are_refused(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    cgm = NoCrcCgm("0A:00:00:00:00:26", seed=26)
    radio.add(cgm)
    clock.devices.append(cgm)
    clock.advance(2 * 3600)
    rt, store = runtime(
        SimLink(radio), paired("cgm-26", cgm.address, "cgm", ("p-26", None)), tmp_path, got, clock
    )

    async def body() -> None:
        await until(lambda: store.devices["cgm-26"].counters.get("malformed", 0) >= 13)

    asyncio.run(running(rt.run(), body))
    assert got.measurements == []
    assert ("device", "bad_data") in got.codes()


def test_the_device_manager_pairs_a_cgm_and_confirms_with_its_first_reading(
    tmp_path: Path,
) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    cgm = _cgm(radio, clock, 0x27)
    m = DeviceManager(
        SimLink(radio),
        data_dir=tmp_path,
        gateway_id="gw-1",
        sink=got.measurements.append,
        events=got.events.append,
        clock_fn=clock,
        backoff_scale=0.001,
        scan_interval_s=0.02,
        pairing_scan_interval_s=0.01,
        scan_duration_s=0.0,
    )
    command = wire.Command(
        command_id="cmd-cgm",
        name=wire.CommandName.START_PAIRING,
        issued_at=clock.now,
        args={"kind": "cgm", "device_id": "cgm-maria", "patients": [{"patient_id": "maria"}]},
    )

    async def body() -> wire.CommandResult:
        task = asyncio.create_task(m.run())
        try:
            result = m.handle_command(command)
            await until(lambda: "cgm-maria" in m.runtimes and m.runtimes["cgm-maria"].connected)
            clock.advance(3600)  # warm-up over: the first reading
            await until(lambda: m.window is not None and m.window.state is PairingState.CONFIRMED)
            return result
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    result = asyncio.run(body())
    assert result.ok
    assert cgm.bonded
    assert [x.decoded.time_offset_min for x in got.measurements] == [60]
    assert {x.patient_id for x in got.measurements} == {"maria"}
    codes = [e.code for e in got.events if e.kind is wire.EventKind.PAIRING]
    assert codes == ["paired", "first_reading"]
    (status,) = m.statuses()
    assert (status.device_id, status.kind) == ("cgm-maria", "cgm")
