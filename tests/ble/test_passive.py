"""Passive sensors: attribution to the paired patient, de-duplication of repeated
advertisements, address rotation (followed by bind key, carried MAC or IRK), refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.advertiser import BTHomeAdvertiser, SigAdvertiser
from gateway.ble.passive import Observation, PassiveSensor, PassiveTracker, resolves
from gateway.ble.profiles import DeviceKind, TemperatureMeasurement
from gateway.ble.profiles.advertising import service_data_of
from gateway.wire import Metric

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
OTHER_KEY = bytes(range(16))
SCALE = PassiveSensor("scale-1", "p-maria", DeviceKind.SCALE, "A4:C1:38:8D:18:B2", KEY)
THERMO = PassiveSensor("thermo-1", "p-jose", DeviceKind.THERMOMETER, "C0:00:00:00:00:01")
ROOM = PassiveSensor("room-1", "p-maria", None, "C0:00:00:00:00:02")
# Core Vol 3 Part H Appendix D.7 sample: IRK ec0234a3…, prand 0x708194 → hash 0x0dfbaa,
# so 70:81:94:0D:FB:AA is a resolvable private address of that IRK.
IRK = bytes.fromhex("ec0234a357c8ad05341010a60a397d9b")
RPA = "70:81:94:0D:FB:AA"
CUFF = PassiveSensor("cuff-1", "p-jose", DeviceKind.THERMOMETER, "C0:00:00:00:00:03", irk=IRK)


def _tracker() -> PassiveTracker:
    return PassiveTracker([SCALE, THERMO, ROOM, CUFF])


def _values(observations: list[Observation]) -> list[tuple[str, str, Metric, float]]:
    return [
        (r.patient_id, r.device_id, r.reading.metric, r.reading.value)
        for o in observations
        for r in o.readings
    ]


def test_encrypted_scale_reading_is_attributed_once_despite_repeats() -> None:
    tracker = _tracker()
    scale = BTHomeAdvertiser(SCALE.address, bind_key=KEY)
    first = service_data_of(scale.measure({0x06: 80.3, 0x01: 97}))
    assert _values(tracker.observe(SCALE.address, first, now=T0)) == [
        ("p-maria", "scale-1", Metric.BATTERY_LEVEL, 97.0),
        ("p-maria", "scale-1", Metric.BODY_WEIGHT, 80.3),
    ]
    for second in range(1, 10):  # the same packet, repeated for ten seconds
        again = tracker.observe(
            SCALE.address, service_data_of(scale.repeat()), now=T0 + timedelta(seconds=second)
        )
        assert again[0].duplicate
        assert not again[0].readings
    later = service_data_of(scale.measure({0x06: 80.1}))
    assert _values(tracker.observe(SCALE.address, later, now=T0 + timedelta(days=1))) == [
        ("p-maria", "scale-1", Metric.BODY_WEIGHT, 80.1)
    ]


def test_measurement_key_is_stable_across_repeats_and_new_for_a_new_measurement() -> None:
    tracker = _tracker()
    scale = BTHomeAdvertiser(SCALE.address, bind_key=KEY)
    one = tracker.observe(SCALE.address, service_data_of(scale.measure({0x06: 80.3})), now=T0)
    two = tracker.observe(
        SCALE.address, service_data_of(scale.measure({0x06: 80.3})), now=T0 + timedelta(hours=1)
    )
    keys = {r.measurement_key for o in one + two for r in o.readings}
    assert len(keys) == 2
    assert all(k.startswith("scale-1/") for k in keys)


def test_sensor_that_rotates_its_address_is_followed_by_its_bind_key() -> None:
    tracker = _tracker()
    scale = BTHomeAdvertiser(SCALE.address, bind_key=KEY)
    tracker.observe(SCALE.address, service_data_of(scale.measure({0x06: 80.3})), now=T0)
    scale.rotate_address("5E:11:22:33:44:55")
    packet = service_data_of(scale.measure({0x06: 79.9}))
    seen = tracker.observe("5E:11:22:33:44:55", packet, now=T0 + timedelta(minutes=20))
    assert _values(seen) == [("p-maria", "scale-1", Metric.BODY_WEIGHT, 79.9)]
    assert tracker.address_of("scale-1") == "5E:11:22:33:44:55"


def test_unencrypted_sensor_is_followed_by_the_mac_in_its_packet() -> None:
    tracker = _tracker()
    thermometer = BTHomeAdvertiser("7A:00:00:00:00:09", include_mac=True, identity=THERMO.address)
    packet = service_data_of(thermometer.measure({0x02: 38.21}))
    seen = tracker.observe("7A:00:00:00:00:09", packet, now=T0)
    assert _values(seen) == [("p-jose", "thermo-1", Metric.BODY_TEMPERATURE, 38.21)]


def test_resolvable_private_address_is_matched_by_the_irk() -> None:
    assert resolves(IRK, RPA)
    assert not resolves(IRK, "70:81:94:0D:FB:AB")
    assert not resolves(IRK, "C0:81:94:0D:FB:AA")  # a static random address is no RPA
    tracker = _tracker()
    thermometer = SigAdvertiser(RPA, 0x1809, 0x2A1C)
    packet = service_data_of(thermometer.measure(TemperatureMeasurement(37.9)))
    assert _values(tracker.observe(RPA, packet, now=T0)) == [
        ("p-jose", "cuff-1", Metric.BODY_TEMPERATURE, 37.9)
    ]


def test_sig_service_data_repeats_are_one_measurement() -> None:
    tracker = _tracker()
    thermometer = SigAdvertiser(THERMO.address, 0x2A1C, 0x2A1C)
    packet = service_data_of(thermometer.measure(TemperatureMeasurement(98.6, fahrenheit=True)))
    first = tracker.observe(THERMO.address, packet, now=T0)
    assert _values(first) == [("p-jose", "thermo-1", Metric.BODY_TEMPERATURE, 37.0)]
    assert tracker.observe(THERMO.address, packet, now=T0 + timedelta(seconds=5))[0].duplicate
    # The same value again after the window is a new measurement.
    assert _values(tracker.observe(THERMO.address, packet, now=T0 + timedelta(minutes=5)))


def test_repeats_without_packet_id_are_folded_by_value_and_time_window() -> None:
    tracker = _tracker()
    packet = {0xFCD2: bytes.fromhex("4002ce0e")}  # temperature 0x0ece = 37.9 °C, no packet id
    assert _values(tracker.observe(THERMO.address, packet, now=T0))
    assert tracker.observe(THERMO.address, packet, now=T0 + timedelta(seconds=30))[0].duplicate
    assert _values(tracker.observe(THERMO.address, packet, now=T0 + timedelta(seconds=90)))


def test_room_sensor_temperature_never_becomes_a_body_temperature() -> None:
    tracker = _tracker()
    # Battery 0x59 = 89 %, temperature 0x0918 = 23.28 °C, humidity 0x11e2 = 45.78 %.
    packet = {0xFCD2: bytes.fromhex("40015902180903e211")}
    [seen] = tracker.observe(ROOM.address, packet, now=T0)
    assert _values([seen]) == [("p-maria", "room-1", Metric.BATTERY_LEVEL, 89.0)]
    assert "body_temperature not kept: a generic sensor" in seen.notes


def test_unpaired_sender_and_wrong_key_are_ignored_with_a_reason() -> None:
    tracker = _tracker()
    [unknown] = tracker.observe("11:11:11:11:11:11", {0xFCD2: bytes.fromhex("40065e1f")}, now=T0)
    assert unknown.device_id is None
    assert unknown.notes == (
        "advertisement from 11:11:11:11:11:11 matches no paired sensor: ignored",
    )
    stranger = BTHomeAdvertiser("22:22:22:22:22:22", bind_key=OTHER_KEY)
    [foreign] = tracker.observe(
        "22:22:22:22:22:22", service_data_of(stranger.measure({0x06: 70.0})), now=T0
    )
    assert foreign.device_id is None
    assert not foreign.readings
    assert any("MIC check failed" in note for note in foreign.notes)


def test_downgraded_and_replayed_packets_are_refused() -> None:
    tracker = _tracker()
    spoof = {0xFCD2: bytes.fromhex("40065e1f")}  # unencrypted, from the keyed scale's address
    [downgrade] = tracker.observe(SCALE.address, spoof, now=T0)
    assert not downgrade.readings
    assert any("unencrypted packet" in note for note in downgrade.notes)
    scale = BTHomeAdvertiser(SCALE.address, bind_key=KEY)
    old = service_data_of(scale.measure({0x06: 80.3}))
    tracker.observe(SCALE.address, service_data_of(scale.measure({0x06: 80.2})), now=T0)
    [replay] = tracker.observe(SCALE.address, old, now=T0 + timedelta(minutes=5))
    assert replay.duplicate
    assert not replay.readings
    assert replay.notes == ("counter 1 below 2: replayed or old packet",)


def test_an_encrypted_packet_heard_again_after_the_window_is_still_a_repeat() -> None:
    tracker = _tracker()
    scale = BTHomeAdvertiser(SCALE.address, bind_key=KEY)
    assert _values(
        tracker.observe(SCALE.address, service_data_of(scale.measure({0x06: 80.3})), now=T0)
    )
    # The same packet (same counter) delivered late, e.g. queued in BlueZ: not a new weight.
    [late] = tracker.observe(
        SCALE.address, service_data_of(scale.repeat()), now=T0 + timedelta(hours=1)
    )
    assert late.duplicate
    assert not late.readings


def test_objects_without_a_metric_are_named_with_the_reason() -> None:
    tracker = _tracker()
    scale = BTHomeAdvertiser(SCALE.address, bind_key=KEY)
    [seen] = tracker.observe(
        SCALE.address, service_data_of(scale.measure({0x06: 80.3, 0x03: 45.5})), now=T0
    )
    assert "humidity not read: an environment value, not a vital sign" in seen.notes


def test_a_sender_without_a_mac_address_is_ignored_not_fatal() -> None:
    # Some platforms name devices by a UUID instead of their address.
    tracker = _tracker()
    [seen] = tracker.observe(
        "2D5B1C7E-0000-4000-8000-00805F9B34FB", {0xFCD2: bytes.fromhex("40065e1f")}, now=T0
    )
    assert seen.device_id is None
    assert not seen.readings


@settings(max_examples=300)
@given(
    address=st.sampled_from([SCALE.address, THERMO.address, RPA, "11:11:11:11:11:11", "x"]),
    uuid=st.sampled_from([0xFCD2, 0x2A1C, 0x181D, 0x180F, 0xFEAA]) | st.integers(0, 0xFFFF),
    data=st.binary(max_size=30),
)
def test_random_advertisements_never_raise(address: str, uuid: int, data: bytes) -> None:
    for seen in _tracker().observe(address, {uuid: data}, now=T0):
        assert seen.readings == () or seen.device_id is not None
