"""decode(encode(x)) == x for every characteristic, against the firmware_sim encoders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_sim.encoders import ENCODERS, encode
from gateway.ble.profiles import DECODERS, decode
from gateway.ble.profiles.racp import decode_request, encode_request
from gateway.ble.uuids import normalize_uuid
from tests.profiles.strategies import STRATEGIES, racp_requests


def test_every_decoder_has_an_encoder_and_a_strategy() -> None:
    assert set(ENCODERS) == set(DECODERS)
    assert {normalize_uuid(u) for u in STRATEGIES} == set(DECODERS)


@pytest.mark.parametrize("uuid", sorted(STRATEGIES), ids=lambda u: f"{u:04x}")
@given(data=st.data())
def test_decode_inverts_encode(uuid: int, data: st.DataObject) -> None:
    value = data.draw(STRATEGIES[uuid])
    assert decode(uuid, encode(uuid, value)) == value


@given(racp_requests())
def test_racp_request_round_trip(request: object) -> None:
    assert decode_request(encode_request(request)) == request  # type: ignore[arg-type]
