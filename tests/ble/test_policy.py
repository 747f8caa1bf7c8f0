"""Pure policy: backoff by error, clock decisions, attribution, problem edges, state file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import wire
from gateway.ble import clock, policy
from gateway.ble.intake import attribute
from gateway.ble.link import BleError, ConnectionLostError, DeviceNotFoundError
from gateway.ble.problems import Problem, ProblemTracker, learned_interval_s
from gateway.ble.profiles import current_time_of, encode_current_time
from gateway.ble.profiles.racp import REPORT_ALL, report_from
from gateway.ble.racp_download import request_after
from gateway.ble.state import DeviceState, StateStore
from gateway.wire import PatientAssignment

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("exc", "streams", "delays"),
    [
        (DeviceNotFoundError("x"), True, [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]),
        (DeviceNotFoundError("x"), False, [1.0, 1.5, 2.25, 3.375, 5.0, 5.0, 5.0]),
        (ConnectionLostError("x"), True, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]),
        (BleError("x"), False, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]),
        (TimeoutError(), True, [5.0] * 7),
    ],
)
def test_backoff_is_a_pure_function_of_the_error(
    exc: BaseException, streams: bool, delays: list[float]
) -> None:
    assert [policy.retry_delay_s(exc, n, streams=streams) for n in range(7)] == delays
    assert policy.retry_delay_s(exc, 3, streams=streams, scale=0.01) == delays[3] * 0.01


def test_advice_tells_the_person_at_home_what_to_do() -> None:
    assert "near the gateway" in policy.advice(DeviceNotFoundError(), label="scale")
    assert "unplug the gateway" in policy.advice(TimeoutError(), label="scale")
    assert "move the gateway closer" in policy.advice(ConnectionLostError(), label="scale")


def _ct(moment: datetime) -> bytes:
    return encode_current_time(current_time_of(moment))


@pytest.mark.parametrize(
    ("shown", "writable", "action"),
    [
        (NOW + timedelta(seconds=119), True, clock.ClockAction.CORRECT),
        (NOW - timedelta(seconds=119), True, clock.ClockAction.CORRECT),
        (NOW + timedelta(seconds=121), True, clock.ClockAction.SET),
        (NOW - timedelta(days=3 * 365), True, clock.ClockAction.SET),
        (NOW - timedelta(hours=5), False, clock.ClockAction.CORRECT),
    ],
)
def test_clock_is_set_only_when_more_than_two_minutes_off(
    shown: datetime, writable: bool, action: clock.ClockAction
) -> None:
    decision = clock.decide(_ct(shown), now=NOW, writable=writable)
    assert decision.action is action
    assert decision.offset == shown - NOW
    assert decision.drifted == (abs(shown - NOW) > clock.CLOCK_TOLERANCE)


def test_an_unreadable_clock_is_set_and_a_missing_one_ignored() -> None:
    assert clock.decide(b"\x00" * 10, now=NOW, writable=True).action is clock.ClockAction.SET
    assert clock.decide(b"\x01", now=NOW, writable=True).action is clock.ClockAction.SET
    assert clock.decide(None, now=NOW, writable=True).action is clock.ClockAction.NONE


def test_time_stamps_are_corrected_and_implausible_ones_replaced() -> None:
    hour = timedelta(hours=1)
    assert clock.corrected(None, offset=hour, received_at=NOW) == (NOW, ())
    assert clock.corrected(NOW - 3 * hour, offset=-2 * hour, received_at=NOW) == (
        NOW - hour,
        ("clock_corrected",),
    )
    assert clock.corrected(NOW + 2 * hour, offset=timedelta(0), received_at=NOW) == (
        NOW,
        ("device_clock_invalid",),
    )
    years = NOW - timedelta(days=4 * 365)
    assert clock.corrected(years, offset=timedelta(0), received_at=NOW)[1] == (
        "device_clock_invalid",
    )
    assert clock.corrected(NOW - 3 * hour, offset=timedelta(0), received_at=NOW) == (
        NOW - 3 * hour,
        (),
    )
    assert clock.current_time_bytes(NOW)[-1] == 1  # adjust reason: manual update


def test_attribution_by_user_index() -> None:
    household = [
        PatientAssignment(patient_id="a", user_index=1),
        PatientAssignment(patient_id="b", user_index=2),
    ]
    alone = [PatientAssignment(patient_id="c")]
    assert attribute(household, 2) == "b"
    assert attribute(household, 3) is None
    assert attribute(household, None) is None
    assert attribute(household, 0xFF) is None
    assert attribute(alone, None) == "c"
    assert attribute(alone, 1) == "c"
    assert attribute(alone, 0xFF) == "c"
    assert attribute([PatientAssignment(patient_id="d", user_index=4)], 5) is None


def test_problems_are_edges_with_hysteresis() -> None:
    events: list[wire.Event] = []
    tracker = ProblemTracker("dev-1", "p-1", events.append)
    for n, level in enumerate([40, 15, 12, 20, 29, 30, 14]):
        tracker.battery(level, now=NOW + timedelta(hours=n))
    assert [(e.kind.value, e.code, e.value) for e in events] == [
        ("device", "low_battery", 15.0),
        ("all_clear", "low_battery", None),
        ("device", "low_battery", 14.0),
    ]
    assert all(e.category is wire.Category.DEVICE for e in events)
    assert "batteries" in events[0].evidence["advice"]
    assert tracker.raise_(Problem.UNREACHABLE, now=NOW)
    assert not tracker.raise_(Problem.UNREACHABLE, now=NOW)
    assert events[-1].id == events[-1].id
    assert len({e.id for e in events}) == len(events)


def test_learned_interval_is_the_median_gap() -> None:
    times = [NOW + timedelta(seconds=s) for s in (0, 60, 120, 600, 660)]
    assert learned_interval_s(times[:2]) is None
    assert learned_interval_s(times) == 60.0


def test_racp_requests_resume_after_the_last_sequence() -> None:
    assert request_after(None) == REPORT_ALL
    assert request_after(41) == report_from(42)
    assert request_after(0xFFFF) == REPORT_ALL


def test_state_file_round_trips_and_survives_corruption(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.put(DeviceState(device_id="gm-1", address="aa:bb", kind="glucose_meter", last_sequence=7))
    store.count("gm-1", "duplicate")
    store.save()
    again = StateStore(tmp_path)
    assert again.devices["gm-1"].last_sequence == 7
    assert again.devices["gm-1"].counters == {"duplicate": 1}
    assert again.by_address("AA:BB") is not None
    store.path.write_text("{ not json")
    broken = StateStore(tmp_path)
    assert broken.devices == {}
    assert store.path.with_suffix(".unreadable").is_file()


def test_duplicates_by_identity_or_by_identical_bytes_at_once() -> None:
    from gateway.ble.intake import Duplicates
    from gateway.ble.profiles import decode

    dup = Duplicates()
    hr = bytes([0x00, 72])
    hr_value = decode(0x2A37, hr)
    assert not dup.seen("hr", hr, hr_value, now=NOW)
    assert dup.seen("hr", hr, hr_value, now=NOW + timedelta(milliseconds=50))
    assert not dup.seen("hr", hr, hr_value, now=NOW + timedelta(seconds=1))
    # A device sending every 2 ms (a simulation at speed) may send the same value again:
    # only what comes sooner than a quarter of the gap before is a repeat.
    other = bytes([0x00, 73])
    assert not dup.seen("hr", other, decode(0x2A37, other), now=NOW + timedelta(seconds=1.002))
    assert not dup.seen("hr", other, decode(0x2A37, other), now=NOW + timedelta(seconds=1.004))
    assert dup.seen("hr", other, decode(0x2A37, other), now=NOW + timedelta(seconds=1.0041))

    class Stored:
        sequence_number = 7

    assert not dup.seen("gl", b"a", Stored(), now=NOW)
    assert dup.seen("gl", b"b", Stored(), now=NOW + timedelta(days=1))  # sent again later
