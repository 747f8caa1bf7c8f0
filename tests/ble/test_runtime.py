"""The device runtime over the simulated radio: each device pattern, clocks, stored records,
bad input, and retry with backoff on a fake clock (no real sleeps)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from firmware_sim.devices import BloodPressureCuff, GlucoseMeter, HeartRateStrap, Scale, Thermometer
from firmware_sim.peripheral import SimPeripheral
from firmware_sim.radio import SimLink, SimRadio
from firmware_sim.scenario import load, parse
from gateway.ble import policy
from gateway.ble.link import ConnectionLostError
from gateway.ble.state import StateStore
from gateway.ble.uuids import normalize_uuid
from gateway.readings import to_wire
from gateway.wire import EventKind, Metric
from tests.ble._util import Collected, FakeClock, paired, running, runtime, until


def test_a_cuff_uploads_stored_measurements_then_again_after_reconnecting(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    cuff = radio.add(BloodPressureCuff("0A:00:00:00:00:01", seed=1))
    clock.devices.append(cuff)
    first = cuff.measure()  # taken while the gateway was away: stored on the cuff
    rt, store = runtime(
        SimLink(radio), paired("cuff-1", cuff.address, "bp_cuff", ("p-1", 1)), tmp_path, got, clock
    )

    async def body() -> None:
        await until(lambda: len(got.measurements) == 1)
        await until(lambda: cuff.subscribed(0x2A35))  # it disconnected; the gateway is back
        clock.advance(3600)
        cuff.measure()
        await until(lambda: len(got.measurements) == 2)

    asyncio.run(running(rt.run(), body))
    assert next(m.decoded.systolic for m in got.measurements) == first.systolic
    assert {m.patient_id for m in got.measurements} == {"p-1"}
    assert rt.connections >= 2
    state = store.get("cuff-1")
    assert state is not None
    assert state.battery == 90
    assert state.info.model == "VG-BP1"
    readings = [r for m in got.measurements for r in to_wire(m)]
    assert {r.metric for r in readings} >= {Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP}
    assert readings[0].ts == clock.now - timedelta(seconds=3600)


def test_a_clock_hours_off_is_set_and_stored_stamps_are_corrected(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    cuff = radio.add(BloodPressureCuff("0A:00:00:00:00:02", seed=2, clock_offset_h=-5))
    clock.devices.append(cuff)
    cuff.measure()  # stamped five hours behind
    rt, store = runtime(
        SimLink(radio),
        paired("cuff-2", cuff.address, "bp_cuff", ("p-2", None)),
        tmp_path,
        got,
        clock,
    )

    async def body() -> None:
        await until(lambda: len(got.measurements) == 1)
        await until(lambda: cuff.subscribed(0x2A35))
        clock.advance(600)
        cuff.measure()  # stamped by the clock the gateway set
        await until(lambda: len(got.measurements) == 2)

    asyncio.run(running(rt.run(), body))
    assert cuff.clock_set
    assert abs(cuff.device_now() - clock.now) < timedelta(seconds=1)
    before, after = got.measurements
    assert before.decoded.timestamp == clock.now.replace(microsecond=0) - timedelta(
        hours=5, seconds=600
    )
    assert before.corrected_ts == clock.now - timedelta(seconds=600)
    assert "clock_corrected" in before.flags
    assert after.corrected_ts == after.decoded.timestamp
    assert after.flags == ()
    state = store.get("cuff-2")
    assert state is not None
    assert state.clock_offset_s is not None
    # the latest reading of the clock, after the gateway set it
    assert abs(state.clock_offset_s) < 1
    assert state.clock_set_at == clock.now - timedelta(seconds=600)
    drift = [e for e in got.events if e.code == "clock_drift"]
    assert drift
    assert drift[0].kind is EventKind.DEVICE
    assert drift[0].evidence["action"] == "set"
    assert drift[0].evidence["offset_s"] == -5 * 3600


def test_a_clock_within_two_minutes_is_left_alone_and_corrected_for(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    thermo = radio.add(Thermometer("0A:00:00:00:00:03", seed=3, clock_offset_h=90 / 3600))
    thermo.measure()
    rt, store = runtime(
        SimLink(radio),
        paired("th-3", thermo.address, "thermometer", ("p-3", None)),
        tmp_path,
        got,
        clock,
    )
    asyncio.run(running(rt.run(), lambda: until(lambda: len(got.measurements) == 1)))
    assert not thermo.clock_set
    (m,) = got.measurements
    assert m.corrected_ts == m.decoded.timestamp - timedelta(seconds=90)
    state = store.get("th-3")
    assert state is not None
    assert state.clock_offset_s == 90.0
    assert not [e for e in got.events if e.code == "clock_drift"]


def test_glucose_records_download_resumes_from_the_persisted_sequence_number(
    tmp_path: Path,
) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    meter = radio.add(GlucoseMeter("0A:00:00:00:00:04", seed=4))
    for hour in range(3):
        meter.measure(meter.start + timedelta(hours=hour))
    device = paired("gm-4", meter.address, "glucose_meter", ("p-4", None))
    rt, _store = runtime(SimLink(radio), device, tmp_path, got, clock)
    # The sequence number is saved after the record is handed on: wait for both.
    asyncio.run(
        running(
            rt.run(),
            lambda: until(
                lambda: len(got.measurements) == 3 and _last_sequence(tmp_path, "gm-4") == 3
            ),
        )
    )
    assert [m.decoded.sequence_number for m in got.measurements] == [1, 2, 3]
    assert StateStore(tmp_path).devices["gm-4"].last_sequence == 3  # on disk

    for hour in range(3, 5):
        meter.measure(meter.start + timedelta(hours=hour))
    later, again = Collected(), StateStore(tmp_path)
    rt2, _ = runtime(SimLink(radio), again.devices["gm-4"], tmp_path, later, clock)
    asyncio.run(running(rt2.run(), lambda: until(lambda: len(later.measurements) == 2)))
    assert [m.decoded.sequence_number for m in later.measurements] == [4, 5]


def _last_sequence(data_dir: Path, device_id: str) -> int | None:
    saved = StateStore(data_dir).devices.get(device_id)
    return None if saved is None else saved.last_sequence


class FlakyMeter(GlucoseMeter):
    """Drops the link after sending ``drop_after`` records, once."""

    drop_after = 2

    def send(self, uuid: int | str, data: bytes) -> bool:
        delivered = super().send(uuid, data)
        if normalize_uuid(uuid) == normalize_uuid(0x2A18) and self.drop_after:
            self.drop_after -= 1
            if not self.drop_after:
                self.detach()
        return delivered


def test_a_download_cut_off_mid_transfer_resumes_where_it_stopped(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    meter = radio.add(FlakyMeter("0A:00:00:00:00:05", seed=5))
    for hour in range(5):
        meter.measure(meter.start + timedelta(hours=hour))
    rt, store = runtime(
        SimLink(radio),
        paired("gm-5", meter.address, "glucose_meter", ("p-5", None)),
        tmp_path,
        got,
        clock,
    )
    asyncio.run(running(rt.run(), lambda: until(lambda: len(got.measurements) == 5)))
    assert [m.decoded.sequence_number for m in got.measurements] == [1, 2, 3, 4, 5]
    assert store.devices["gm-5"].last_sequence == 5
    assert rt.last_error is not None
    assert "resumes on the next connection" in rt.last_error


def test_duplicate_indications_are_dropped_and_counted(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    scenario = load("device_faults")
    thermo = radio.add(Thermometer("0A:00:00:00:00:06", seed=6, scenario=scenario))
    thermo.measure()
    thermo.measure(thermo.now + timedelta(hours=1))
    rt, store = runtime(
        SimLink(radio),
        paired("th-6", thermo.address, "thermometer", ("p-6", None)),
        tmp_path,
        got,
        clock,
    )

    async def body() -> None:
        await until(lambda: store.devices["th-6"].counters.get("duplicate") == 2)

    asyncio.run(running(rt.run(), body))
    assert len(got.measurements) == 2


class Garbler(HeartRateStrap):
    """A strap whose firmware sometimes sends truncated heart-rate notifications."""

    def garble(self) -> None:
        self.notify(0x2A37, b"\x10")  # RR intervals flagged, nothing follows


def test_malformed_notifications_are_counted_and_reported_never_fatal(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    strap = radio.add(Garbler("0A:00:00:00:00:07", seed=7))
    rt, store = runtime(
        SimLink(radio),
        paired("hr-7", strap.address, "hr_strap", ("p-7", None)),
        tmp_path,
        got,
        clock,
    )

    async def body() -> None:
        await until(lambda: strap.subscribed(0x2A37))
        for _ in range(6):
            strap.garble()
            strap.tick()
        await until(lambda: len(got.measurements) == 6)

    asyncio.run(running(rt.run(), body))
    assert store.devices["hr-7"].counters["malformed"] == 6
    assert ("device", "bad_data") in got.codes()


def test_a_device_that_advertises_a_service_it_does_not_implement(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    fake = radio.add(SimPeripheral("0A:00:00:00:00:08", name="NotACuff", service_uuids=(0x1810,)))
    fake.add_characteristic(0x2A19, value=bytes([50]))
    rt, store = runtime(
        SimLink(radio), paired("bp-8", fake.address, "bp_cuff", ("p-8", None)), tmp_path, got, clock
    )
    asyncio.run(running(rt.run(), lambda: until(lambda: len(rt.delays) >= 2)))
    assert list(rt.delays)[:2] == [3600.0, 3600.0]
    assert store.devices["bp-8"].counters["unsupported"] >= 2
    assert got.codes().count(("device", "bad_data")) == 1  # reported once, not every hour


def test_a_shared_scale_attributes_readings_by_user_index(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    scale = radio.add(Scale("0A:00:00:00:00:09", seed=9, user_id=2))
    clock.devices.append(scale)
    device = paired("sc-9", scale.address, "scale", ("alice", 1), ("bob", 2))
    rt, store = runtime(SimLink(radio), device, tmp_path, got, clock)
    scale.measure()

    async def body() -> None:
        await until(lambda: len(got.measurements) == 2)
        await until(lambda: scale.subscribed(0x2A9C))
        scale.user_id = 3  # a guest steps on
        scale.measure(scale.now + timedelta(minutes=5))
        await until(lambda: store.devices["sc-9"].counters.get("unattributed") == 2)

    asyncio.run(running(rt.run(), body))
    assert {m.patient_id for m in got.measurements} == {"bob"}


def test_cuff_error_and_low_battery_become_device_problem_events(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    scenario = parse(
        '[[fault]]\nkind = "cuff_error"\ndetail = "cuff_too_loose"\n'
        '[[fault]]\nkind = "low_battery"\nvalue = 9\n'
    )
    cuff = radio.add(BloodPressureCuff("0A:00:00:00:00:0A", seed=10, scenario=scenario))
    cuff.measure()
    rt, _ = runtime(
        SimLink(radio),
        paired("bp-10", cuff.address, "bp_cuff", ("p-10", None)),
        tmp_path,
        got,
        clock,
    )
    asyncio.run(running(rt.run(), lambda: until(lambda: len(got.measurements) == 1)))
    events = {e.code: e for e in got.events}
    assert events["low_battery"].value == 9.0
    assert events["low_battery"].patient_id == "p-10"
    assert events["cuff_error"].evidence["status"] == ["cuff_too_loose"]
    assert all(e.category.value == "device" for e in got.events)
    assert not got.measurements[0].decoded.usable


def test_a_strap_that_vanishes_backs_off_is_reported_unreachable_and_returns(
    tmp_path: Path,
) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    strap = radio.add(HeartRateStrap("0A:00:00:00:00:0B", seed=11))
    rt, _ = runtime(
        SimLink(radio),
        paired("hr-11", strap.address, "hr_strap", ("p-11", None)),
        tmp_path,
        got,
        clock,
    )

    async def body() -> None:
        await until(lambda: strap.subscribed(0x2A37))
        strap.tick()
        await until(lambda: len(got.measurements) == 1)
        strap.advertising = False
        strap.detach()
        await until(lambda: len(rt.delays) >= 20)  # 15 minutes of silence, then reported
        assert ("device", "unreachable") in got.codes()
        strap.advertising = True
        await until(lambda: strap.subscribed(0x2A37))
        strap.tick()
        await until(lambda: len(got.measurements) == 2)

    asyncio.run(running(rt.run(), body))
    expected = [policy.STREAM_NOT_ADVERTISING.delay_s(n) for n in range(10)]
    assert (
        list(rt.delays)[:10]
        == expected
        == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 60.0, 60.0]
    )
    assert ("all_clear", "unreachable") in got.codes()
    assert rt.failures == 0


def test_a_clock_years_off_is_set_and_its_stamps_still_land_at_the_right_time(
    tmp_path: Path,
) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    years = -3 * 365 * 24.0
    thermo = radio.add(Thermometer("0A:00:00:00:00:0C", seed=12, clock_offset_h=years))
    clock.devices.append(thermo)
    thermo.measure()
    device = paired("th-12", thermo.address, "thermometer", ("p-12", None))
    rt, _ = runtime(SimLink(radio), device, tmp_path, got, clock)
    asyncio.run(running(rt.run(), lambda: until(lambda: len(got.measurements) == 1)))
    assert thermo.clock_set
    (m,) = got.measurements
    assert m.decoded.timestamp.year == clock.now.year - 3
    assert m.corrected_ts == clock.now
    assert m.flags == ("clock_corrected",)


def test_a_connected_stream_that_falls_silent_is_reconnected(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    strap = radio.add(HeartRateStrap("0A:00:00:00:00:0D", seed=13))
    device = paired("hr-13", strap.address, "hr_strap", ("p-13", None))
    rt, store = runtime(SimLink(radio), device, tmp_path, got, clock, stream_silence_s=0.05)
    asyncio.run(running(rt.run(), lambda: until(lambda: rt.connections >= 3)))
    assert store.devices["hr-13"].counters["silent_link"] >= 2


def test_a_device_that_refuses_clock_and_battery_access_is_still_read(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    thermo = radio.add(Thermometer("0A:00:00:00:00:0E", seed=14, clock_offset_h=-2))
    clock.devices.append(thermo)
    thermo.chars[normalize_uuid(0x2A19)].readable = False

    def refuse(_data: bytes) -> None:
        raise ConnectionLostError(f"{thermo.address}: write not permitted")

    thermo.chars[normalize_uuid(0x2A2B)].on_write = refuse
    thermo.measure()
    device = paired("th-14", thermo.address, "thermometer", ("p-14", None))
    rt, store = runtime(SimLink(radio), device, tmp_path, got, clock)
    asyncio.run(running(rt.run(), lambda: until(lambda: len(got.measurements) == 1)))
    assert not thermo.clock_set
    (m,) = got.measurements
    assert m.corrected_ts == clock.now  # corrected for the two hours instead
    assert store.devices["th-14"].counters["refused"] >= 2  # battery and clock, each time
    drift = next(e for e in got.events if e.code == "clock_drift")
    assert drift.evidence["action"] == "correct"


def test_battery_levels_become_readings_once_per_change(tmp_path: Path) -> None:
    radio, clock, got = SimRadio(), FakeClock(), Collected()
    strap = radio.add(HeartRateStrap("0A:00:00:00:00:15", seed=15, battery=40))
    rt, store = runtime(
        SimLink(radio),
        paired("hr-15", strap.address, "hr_strap", ("p-15", None)),
        tmp_path,
        got,
        clock,
        battery_readings=True,
    )

    def battery() -> list[tuple[str, float, str]]:
        return [
            (r.patient_id, r.value, r.unit)
            for m in got.measurements
            for r in to_wire(m)
            if r.metric is Metric.BATTERY_LEVEL
        ]

    async def body() -> None:
        await until(lambda: strap.subscribed(0x2A37))
        strap.detach()  # a reconnection reads the same level again: no new reading
        await until(lambda: rt.connections == 2 and strap.subscribed(0x2A37))
        strap.battery = 12  # the strap notifies its new level
        strap.tick()
        await until(lambda: len(battery()) == 2)

    asyncio.run(running(rt.run(), body))
    assert battery() == [("p-15", 40.0, "%"), ("p-15", 12.0, "%")]
    assert store.devices["hr-15"].battery == 12
    assert ("device", "low_battery") in got.codes()
