"""Random and mutated bytes only ever raise ProfileError, and accepted values read cleanly.

The decoders are called directly (not through ``decode``, whose last-resort guard would
hide a decoder bug as a ProfileError).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ble.profiles import CHARACTERISTICS
from gateway.ble.profiles.registry import CharacteristicSpec
from tests.profiles.fuzz import check, inputs

DEFAULT_INPUTS = 3_000
SLOW_INPUTS = 100_000


def _id(spec: CharacteristicSpec) -> str:
    return f"{spec.uuid16:04x}"


@pytest.mark.parametrize("spec", CHARACTERISTICS, ids=_id)
def test_mutated_values_only_raise_profile_error(spec: CharacteristicSpec) -> None:
    accepted = sum(check(spec.decode, data) for data in inputs(spec.uuid16, DEFAULT_INPUTS))
    assert 0 <= accepted <= DEFAULT_INPUTS


@pytest.mark.parametrize("spec", CHARACTERISTICS, ids=_id)
@settings(max_examples=150)
@given(data=st.binary(max_size=40))
def test_random_bytes_only_raise_profile_error(spec: CharacteristicSpec, data: bytes) -> None:
    check(spec.decode, data)


@pytest.mark.slow
@pytest.mark.parametrize("spec", CHARACTERISTICS, ids=_id)
def test_fuzz_100k_inputs_per_characteristic(spec: CharacteristicSpec) -> None:
    count = 0
    for data in inputs(spec.uuid16, SLOW_INPUTS, seed=1):
        check(spec.decode, data)
        count += 1
    assert count == SLOW_INPUTS
