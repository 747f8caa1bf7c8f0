"""BTHome v2: published vectors, refusals (malformed, wrong key, altered, downgraded),
fuzzing, and decode(encode(x)) == x against the firmware_sim encoder."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.encoders.advertising import encode_bthome
from gateway.ble.profiles.base import AdvertisementError, ProfileError, ProfileReading
from gateway.ble.profiles.bthome import (
    OBJECTS,
    BTHomeAdvertisement,
    BTHomeObject,
    ObjectSpec,
    _value,
    decode_bthome,
)
from gateway.wire import Metric
from tests.profiles.vectors_bthome import (
    ATC,
    BTHOME,
    KEY,
    MALFORMED_BTHOME,
    BadBTHome,
    BTHomeVector,
)


def _key(hex_key: str | None) -> bytes | None:
    return None if hex_key is None else bytes.fromhex(hex_key)


@pytest.mark.parametrize("vector", BTHOME, ids=lambda v: v.hex)
def test_bthome_vector_decodes_to_expected_packet(vector: BTHomeVector) -> None:
    data = bytes.fromhex(vector.hex)
    assert decode_bthome(data, address=vector.address, bind_key=_key(vector.key)) == vector.expected


@pytest.mark.parametrize("bad", MALFORMED_BTHOME, ids=lambda b: f"{b.hex or 'empty'}-{b.key}")
def test_bthome_refusal_names_the_problem(bad: BadBTHome) -> None:
    with pytest.raises(AdvertisementError) as info:
        decode_bthome(bytes.fromhex(bad.hex), address="54:48:E6:8F:80:A5", bind_key=_key(bad.key))
    assert str(info.value).startswith("BTHome v2 (0xFCD2)")
    assert bad.problem in str(info.value)


def test_bthome_readings_use_the_wire_vocabulary_and_say_what_they_left_out() -> None:
    packet = decode_bthome(bytes.fromhex("400009015d025d0903b718"), address=ATC)
    assert packet.packet_id == 9
    assert packet.readings() == [
        ProfileReading(Metric.BATTERY_LEVEL, 93.0, "%"),
        ProfileReading(Metric.BODY_TEMPERATURE, 23.97, "Cel"),
    ]
    assert packet.ignored == [("humidity", "an environment value, not a vital sign")]
    pounds = decode_bthome(bytes.fromhex("40073e1d"), address=ATC)
    # 74.86 lb × 0.45359237 = 33.9559248182 kg (rounded to 1e-9 like every conversion).
    assert pounds.readings() == [ProfileReading(Metric.BODY_WEIGHT, 33.955924818, "[lb_av]")]
    coarse = decode_bthome(bytes.fromhex("4058ea"), address=ATC)
    assert coarse.readings() == []
    assert coarse.ignored == [("temperature", "resolution too coarse for a body temperature")]


def test_object_table_has_unique_ids_and_no_heart_rate_object() -> None:
    ids = [row.object_id for row in OBJECTS]
    assert len(ids) == len(set(ids))
    mapped = {row.metric for row in OBJECTS if row.metric is not None}
    assert mapped == {Metric.BATTERY_LEVEL, Metric.BODY_TEMPERATURE, Metric.BODY_WEIGHT}


def test_timestamp_object_is_utc() -> None:
    # 0x50 u32 Unix seconds: 0x6920a4c0 = 1763747008 → 2025-11-21T17:43:28Z.
    packet = decode_bthome(bytes.fromhex("4050c0a42069"), address=ATC)
    assert packet.timestamp is not None
    assert packet.timestamp.isoformat() == "2025-11-21T17:43:28+00:00"


# --- Fuzzing: random bytes only ever raise AdvertisementError ---------------------------


@settings(max_examples=400)
@given(data=st.binary(max_size=40), keyed=st.booleans())
def test_random_bytes_only_raise_advertisement_error(data: bytes, keyed: bool) -> None:
    try:
        packet = decode_bthome(data, address=ATC, bind_key=bytes.fromhex(KEY) if keyed else None)
    except AdvertisementError:
        return
    for reading in packet.readings():
        assert reading.unit


@settings(max_examples=300)
@given(tail=st.binary(max_size=30), info=st.sampled_from([0x40, 0x42, 0x44, 0x46, 0x58, 0x5C]))
def test_random_objects_after_a_valid_header_only_raise_advertisement_error(
    tail: bytes, info: int
) -> None:
    try:
        decode_bthome(bytes([info]) + tail, address=ATC)
    except AdvertisementError:
        pass
    except ProfileError as exc:  # pragma: no cover - the subclass is the contract
        pytest.fail(f"plain ProfileError: {exc}")


# --- Round trip against the firmware_sim encoder ------------------------------------------


def _object(spec: ObjectSpec) -> st.SearchStrategy[BTHomeObject]:
    if spec.object_id == 0x53:
        text = st.text(max_size=12).filter(lambda t: len(t.encode()) <= 0xFF)
        return text.map(lambda t: BTHomeObject(0x53, t))
    if spec.size is None:
        return st.binary(max_size=12).map(lambda b: BTHomeObject(spec.object_id, b))
    size = spec.size

    def build(raw: int) -> BTHomeObject:
        data = raw.to_bytes(size, "little", signed=spec.signed)
        return BTHomeObject(spec.object_id, _value(spec, data))

    bits = 8 * size
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if spec.signed else (0, (1 << bits) - 1)
    return st.integers(low, high).map(build)


OBJECT = st.sampled_from(OBJECTS).flatmap(_object)


@st.composite
def packets(draw: st.DrawFn) -> tuple[BTHomeAdvertisement, bytes | None]:
    objects = tuple(sorted(draw(st.lists(OBJECT, max_size=6)), key=lambda o: o.object_id))
    encrypted = draw(st.booleans())
    mac = draw(st.none() | st.just("11:22:33:44:55:66"))
    packet = BTHomeAdvertisement(
        objects,
        encrypted=encrypted,
        trigger_based=draw(st.booleans()),
        mac=mac,
        counter=draw(st.integers(0, 0xFFFFFFFF)) if encrypted else None,
    )
    return packet, draw(st.binary(min_size=16, max_size=16)) if encrypted else None


@settings(max_examples=300)
@given(packets())
def test_decode_inverts_encode(case: tuple[BTHomeAdvertisement, bytes | None]) -> None:
    packet, key = case
    data = encode_bthome(packet, address=ATC, bind_key=key)
    assert decode_bthome(data, address=ATC, bind_key=key) == packet


@settings(max_examples=100)
@given(packets(), st.binary(min_size=16, max_size=16))
def test_only_the_bind_key_opens_an_encrypted_packet(
    case: tuple[BTHomeAdvertisement, bytes | None], other: bytes
) -> None:
    packet, key = case
    if key is None or key == other:
        return
    data = encode_bthome(packet, address=ATC, bind_key=key)
    with pytest.raises(AdvertisementError, match="MIC check failed"):
        decode_bthome(data, address=ATC, bind_key=other)


def test_encoder_reproduces_the_published_encrypted_bytes() -> None:
    expected = next(v for v in BTHOME if v.hex.startswith("41a472"))
    data = encode_bthome(expected.expected, address=expected.address, bind_key=bytes.fromhex(KEY))
    assert data.hex() == expected.hex
