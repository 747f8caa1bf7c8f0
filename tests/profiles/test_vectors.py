"""Spec vectors: decode each and compare the whole object; malformed values name the problem."""

from __future__ import annotations

import pytest

from gateway.ble.profiles import ProfileError, characteristic, decode
from tests.profiles.malformed import MALFORMED, Bad
from tests.profiles.vectors import (
    ALL,
    BLOOD_PRESSURE,
    HEART_RATE,
    PUBLISHED,
    RESERVED,
    SFLOAT_SPECIAL_VECTORS,
    Vector,
)


def _id(v: Vector | Bad) -> str:
    return f"{v.uuid:04x}-{v.hex or 'empty'}"


@pytest.mark.parametrize("vector", ALL, ids=_id)
def test_vector_decodes_to_expected_object(vector: Vector) -> None:
    assert decode(vector.uuid, bytes.fromhex(vector.hex)) == vector.expected


@pytest.mark.parametrize("bad", MALFORMED, ids=_id)
def test_malformed_value_raises_profile_error_naming_characteristic(bad: Bad) -> None:
    spec = characteristic(bad.uuid)
    assert spec is not None
    with pytest.raises(ProfileError) as info:
        decode(bad.uuid, bytes.fromhex(bad.hex))
    message = str(info.value)
    assert message.startswith(spec.name), message
    assert bad.problem in message


def test_vector_table_covers_the_issue() -> None:
    assert len(ALL) >= 60
    assert {int(v.hex[:2], 16) for v in HEART_RATE if v.uuid == 0x2A37} >= set(range(32))
    assert {int(v.hex[:2], 16) for v in BLOOD_PRESSURE if v.uuid == 0x2A35} >= set(range(32))
    assert len(SFLOAT_SPECIAL_VECTORS) == 5
    decoded_uuids = {v.uuid for v in ALL}
    assert {0x2A37, 0x2A38, 0x2A35, 0x2A36, 0x2A49, 0x2A1C, 0x2A1E, 0x2A1D, 0x2A5E, 0x2A5F,
            0x2A60, 0x2A9D, 0x2A9E, 0x2A9C, 0x2A18, 0x2A34, 0x2A52, 0x2A08, 0x2A2B,
            0x2A19} <= decoded_uuids  # fmt: skip


@pytest.mark.parametrize(
    "uuid", [0x2A37, "2a37", "2A37", "0x2A37", "00002a37-0000-1000-8000-00805f9b34fb"]
)
def test_uuid_forms_reach_the_same_decoder(uuid: int | str) -> None:
    assert decode(uuid, bytes.fromhex("0048")).heart_rate == 72


@pytest.mark.parametrize("uuid", [0x2A00, "not-a-uuid", "12345678-0000-1000-8000-00805f9b34fc"])
def test_unknown_or_invalid_uuid_is_a_profile_error(uuid: int | str) -> None:
    with pytest.raises(ProfileError):
        decode(uuid, b"\x00")


WITH_RESERVED_BITS_OR_CODES = {
    0x2A37, 0x2A38, 0x2A35, 0x2A36, 0x2A49, 0x2A1C, 0x2A1E, 0x2A1D, 0x2A5E, 0x2A5F, 0x2A60,
    0x2A9D, 0x2A9E, 0x2A9C, 0x2A18, 0x2A34, 0x2A52, 0x2A2B,
}  # fmt: skip
"""Every characteristic whose layout has reserved-for-future-use bits or codes."""


def test_every_characteristic_with_reserved_bits_has_a_reserved_vector() -> None:
    assert {v.uuid for v in RESERVED} == WITH_RESERVED_BITS_OR_CODES
    assert all(v.source for v in RESERVED + PUBLISHED)


def test_reserved_flag_bit_keeps_defined_fields_and_drops_undelimited_rr_intervals() -> None:
    # Flags 0x30: RFU bit 5 + RR present. The bytes after the heart rate may be RR intervals
    # or the field bit 5 will one day announce: the heart rate stays, no RR is invented.
    result = decode(0x2A37, bytes.fromhex("304800040004"))
    assert (result.heart_rate, result.rr_intervals) == (72, ())
    assert decode(0x2A37, bytes.fromhex("104800040004")).rr_intervals == (1.0, 1.0)
