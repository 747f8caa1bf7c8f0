"""Reserved-for-future-use flag bits, for every characteristic with a flags word: set on a
valid value, with the bytes of an unknown future field appended, the defined fields still
decode exactly as without them (Core Spec Vol 1 Part E: RFU bits ignored on receipt)."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.encoders import encode
from gateway.ble.profiles import HeartRateMeasurement, ProfileError, decode
from tests.profiles.strategies import STRATEGIES


class Flags(NamedTuple):
    uuid: int
    size: int
    """Bytes of the flags (or supported-features) word at the start of the value."""
    reserved: int
    """Its RFU bits."""


FLAGS = [
    Flags(0x2A37, 1, 0xE0),
    Flags(0x2A35, 1, 0xE0),
    Flags(0x2A36, 1, 0xE0),
    Flags(0x2A1C, 1, 0xF8),
    Flags(0x2A1E, 1, 0xF8),
    Flags(0x2A5E, 1, 0xE0),
    Flags(0x2A5F, 1, 0xE0),
    Flags(0x2A60, 2, 0xFF00),
    Flags(0x2A9D, 1, 0xF0),
    Flags(0x2A9C, 2, 0xE000),
    Flags(0x2A18, 1, 0xE0),
]


def _expected(value: Any) -> Any:
    # RR intervals run to the end of the value: with an unknown field possibly appended
    # they cannot be delimited, so they are left out rather than misread.
    if isinstance(value, HeartRateMeasurement):
        return dataclasses.replace(value, rr_intervals=())
    return value


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: f"{f.uuid:04x}")
@settings(max_examples=60)
@given(data=st.data())
def test_reserved_flag_bits_and_unknown_trailing_field_leave_defined_fields_exact(
    flags: Flags, data: st.DataObject
) -> None:
    value = data.draw(STRATEGIES[flags.uuid])
    raw = encode(flags.uuid, value)
    bits = data.draw(st.integers(1, flags.reserved).map(lambda b: b & flags.reserved))
    if not bits:
        bits = flags.reserved & -flags.reserved  # the lowest RFU bit
    word = int.from_bytes(raw[: flags.size], "little") | bits
    tail = data.draw(st.binary(max_size=6))
    altered = word.to_bytes(flags.size, "little") + raw[flags.size :] + tail
    assert decode(flags.uuid, altered) == _expected(value)


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: f"{f.uuid:04x}")
def test_without_reserved_bits_a_trailing_byte_is_still_refused(flags: Flags) -> None:
    # The shortest valid value, then one byte more: an inconsistent length.
    minimal = {
        0x2A37: "0048",
        0x2A35: "00780050005d00",
        0x2A36: "002800ff07ff07",
        0x2A1C: "006c0100ff",
        0x2A1E: "006c0100ff",
        0x2A5E: "0061004800",
        0x2A5F: "005f005000",
        0x2A60: "0000",
        0x2A9D: "005c36",
        0x2A9C: "0000eb00",
        0x2A18: "000100ea070b17081e0f",
    }[flags.uuid]
    decode(flags.uuid, bytes.fromhex(minimal))
    with pytest.raises(ProfileError, match="unexpected trailing byte"):
        decode(flags.uuid, bytes.fromhex(minimal + "ee"))
