"""firmware_sim passive sensors send the exact bytes of a BTHome v2 or SIG advertiser."""

from __future__ import annotations

from firmware_sim.advertiser import BTHomeAdvertiser, SigAdvertiser
from gateway.ble.profiles import WeightMeasurement
from gateway.ble.profiles.advertising import decode_service_data, service_data_of
from gateway.ble.profiles.bthome import BTHomeAdvertisement, BTHomeObject, decode_bthome

ADDRESS = "A4:C1:38:8D:18:B2"
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")


def test_unencrypted_bthome_advertisement_bytes() -> None:
    scale = BTHomeAdvertiser(ADDRESS)
    raw = scale.measure({0x06: 80.3, 0x01: 97})
    # flags 02 01 06 | length 0x0b, service data 0x16, UUID d2 fc, device info 0x40 (v2),
    # packet id 00 01, battery 01 61 (97 %), mass 06 5e1f (8030 × 0.01 kg), ids ascending.
    assert raw.hex() == "020106" + "0b16d2fc" + "40" + "0001" + "0161" + "065e1f"


def test_encrypted_advertiser_counts_and_opens_only_with_its_key() -> None:
    scale = BTHomeAdvertiser(ADDRESS, bind_key=KEY)
    first = service_data_of(scale.measure({0x06: 80.3}))[0xFCD2]
    second = service_data_of(scale.measure({0x06: 80.3}))[0xFCD2]
    assert first != second  # packet id and counter moved on: a new nonce, new bytes
    decoded = [decode_bthome(p, address=ADDRESS, bind_key=KEY) for p in (first, second)]
    assert [(d.packet_id, d.counter) for d in decoded] == [(1, 1), (2, 2)]
    assert decoded[1] == BTHomeAdvertisement(
        (BTHomeObject(0x00, 2), BTHomeObject(0x06, 80.3)), encrypted=True, counter=2
    )
    assert scale.repeat() == scale.repeat()  # a repeat is byte for byte the same packet


def test_rotated_address_changes_the_nonce_unless_the_mac_travels_in_the_packet() -> None:
    plain = BTHomeAdvertiser(ADDRESS, bind_key=KEY)
    carried = BTHomeAdvertiser(ADDRESS, bind_key=KEY, include_mac=True)
    for sensor in (plain, carried):
        sensor.measure({0x06: 80.3})
        sensor.rotate_address("5E:00:00:00:00:01")
    assert service_data_of(plain.repeat())[0xFCD2][0] == 0x41
    payload = service_data_of(carried.repeat())[0xFCD2]
    assert payload[0] == 0x43
    assert payload[1:7] == bytes.fromhex(ADDRESS.replace(":", ""))[::-1]
    assert decode_bthome(payload, address="5E:00:00:00:00:01", bind_key=KEY).mac == ADDRESS


def test_sig_advertiser_carries_the_characteristic_bytes() -> None:
    scale = SigAdvertiser(ADDRESS, 0x181D, 0x2A9D, name="scale")
    raw = scale.measure(WeightMeasurement(69.58))
    # 0x2A9D flags 00, 69.58 kg / 0.005 = 13916 = 0x365c; then the name "scale".
    assert raw.hex() == "020106" + "06161d18005c36" + "06097363616c65"
    data = service_data_of(raw)[0x181D]
    assert decode_service_data(0x181D, data, address=ADDRESS) == WeightMeasurement(69.58)
