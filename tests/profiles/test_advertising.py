"""Advertising data: the SIG service-data form through the characteristic decoders, AD
structure parsing, and random bytes that only ever raise AdvertisementError."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.encoders.advertising import advertising_data
from gateway.ble.profiles import (
    BatteryLevel,
    DateTime,
    TemperatureMeasurement,
    WeightMeasurement,
)
from gateway.ble.profiles.advertising import (
    SERVICE_DATA,
    ad_structures,
    decode_advertisement,
    decode_service_data,
    service_data_of,
)
from gateway.ble.profiles.base import AdvertisementError
from gateway.ble.profiles.bthome import BTHomeAdvertisement, BTHomeObject

ADDRESS = "C0:11:22:33:44:55"


@pytest.mark.parametrize(
    ("uuid", "hex_value", "expected"),
    [
        # The characteristic's own UUID, and its service's UUID, carry the same bytes:
        # Nordic's HTS vector 37.6 °C 2012-12-05 11:50:27, finger (see vectors_tolerant.py).
        (
            0x2A1C,
            "06b00e00fedc070c050b321b04",
            TemperatureMeasurement(37.6, False, DateTime(2012, 12, 5, 11, 50, 27), 4),
        ),
        (
            "00001809-0000-1000-8000-00805f9b34fb",
            "06b00e00fedc070c050b321b04",
            TemperatureMeasurement(37.6, False, DateTime(2012, 12, 5, 11, 50, 27), 4),
        ),
        (0x181D, "005c36", WeightMeasurement(69.58)),
        (0x2A9D, "005c36", WeightMeasurement(69.58)),
        (0x180F, "5a", BatteryLevel(90)),
    ],
)
def test_sig_service_data_decodes_with_the_characteristic_decoder(
    uuid: int | str, hex_value: str, expected: object
) -> None:
    assert decode_service_data(uuid, bytes.fromhex(hex_value), address=ADDRESS) == expected


@pytest.mark.parametrize(
    ("uuid", "hex_value", "problem"),
    [
        (0x2A1C, "006c0100", "service data 0x2A1C: Temperature Measurement (0x2A1C): truncated"),
        (0x180F, "65", "service data 0x180F: Battery Level (0x2A19): 101 % is above 100"),
        (0x2A52, "05000a00", "not a format VitalGate reads"),  # a control point is no reading
        (0xFEAA, "00", "not a format VitalGate reads"),
        ("not-a-uuid", "00", "not a Bluetooth UUID"),
    ],
)
def test_unreadable_service_data_is_an_advertisement_error(
    uuid: int | str, hex_value: str, problem: str
) -> None:
    with pytest.raises(AdvertisementError, match=re.escape(problem)):
        decode_service_data(uuid, bytes.fromhex(hex_value), address=ADDRESS)


def test_advertisement_with_several_formats_reads_each_and_says_why_not() -> None:
    values, problems = decode_advertisement(
        {0xFCD2: bytes.fromhex("400161" + "06451f"), 0x2A19: b"\xff"},
        address=ADDRESS,
    )
    assert values == [BTHomeAdvertisement((BTHomeObject(0x01, 97), BTHomeObject(0x06, 80.05)))]
    assert problems == ["service data 0x2A19: Battery Level (0x2A19): 255 % is above 100"]


def test_ad_structures_and_service_data_round_trip_the_encoder() -> None:
    raw = advertising_data({0xFCD2: bytes.fromhex("4002ca09"), 0x180F: b"\x50"}, name="VG")
    # flags 02 01 06 | 07 16 d2fc 4002ca09 | 04 16 0f18 50 | 03 09 5647
    assert raw.hex() == "020106" + "0716d2fc4002ca09" + "04160f1850" + "03095647"
    assert ad_structures(raw)[0] == (0x01, b"\x06")
    assert service_data_of(raw) == {0xFCD2: bytes.fromhex("4002ca09"), 0x180F: b"\x50"}
    assert service_data_of(raw + bytes(4)) == service_data_of(raw)  # zero padding ends it


@pytest.mark.parametrize(
    ("hex_raw", "problem"),
    [
        ("020106" + "0916d2fc40", "claims 9 byte(s), 4 left"),
        ("0216d2", "service data shorter than its UUID"),
    ],
)
def test_malformed_advertising_data_is_refused(hex_raw: str, problem: str) -> None:
    with pytest.raises(AdvertisementError, match=re.escape(problem)):
        service_data_of(bytes.fromhex(hex_raw))


def test_advertiser_refuses_what_does_not_fit_a_legacy_advertisement() -> None:
    with pytest.raises(ValueError, match="do not fit a 31-byte advertisement"):
        advertising_data({0xFCD2: bytes(30)})


@settings(max_examples=300)
@given(raw=st.binary(max_size=40))
def test_random_advertising_data_only_raises_advertisement_error(raw: bytes) -> None:
    try:
        service_data = service_data_of(raw)
    except AdvertisementError:
        return
    values, _problems = decode_advertisement(service_data, address=ADDRESS)
    for value in values:
        value.readings()


@settings(max_examples=300)
@given(uuid=st.sampled_from(sorted(SERVICE_DATA)), data=st.binary(max_size=30))
def test_random_service_data_only_raises_advertisement_error(uuid: int, data: bytes) -> None:
    with contextlib.suppress(AdvertisementError):
        decode_service_data(uuid, data, address=ADDRESS)
