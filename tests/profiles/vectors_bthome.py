"""BTHome v2 vectors: service data (after UUID 0xFCD2), sender, bind key, expected packet.

Sources: Bluetooth-Devices/bthome-ble tests (tests/test_parser_v2.py and
tests/test_v2_encryption.py, release 3.20.0), which follow the object table of the BTHome
format (bthome.io/format). The expected values are worked out again here from that table
(little-endian integers times the object's factor), not copied from their assertions.
"""

from __future__ import annotations

from typing import NamedTuple

from gateway.ble.profiles.bthome import BTHomeAdvertisement, BTHomeObject

Obj = BTHomeObject
ATC = "A4:C1:38:8D:18:B2"
SHELLY = "54:48:E6:8F:80:A5"
KEY = "231d39c1d7cc1ab1aee224cd096db932"
_PARSER = "bthome-ble tests/test_parser_v2.py"
_CRYPTO = "bthome-ble tests/test_v2_encryption.py"
COUNTER = 0x33221100
"""The counter bytes 00 11 22 33 of the encrypted vectors, read little-endian."""


class BTHomeVector(NamedTuple):
    hex: str
    address: str
    key: str | None
    expected: BTHomeAdvertisement
    source: str


class BadBTHome(NamedTuple):
    hex: str
    key: str | None
    problem: str


BTHOME = [
    # Device information 0x40 = version 2 (bits 5–7), unencrypted. 0x02 temperature
    # 0x09ca = 2506 × 0.01 = 25.06 °C; 0x03 humidity 0x13bf = 5055 × 0.01 = 50.55 %.
    BTHomeVector(
        "4002ca0903bf13",
        ATC,
        None,
        BTHomeAdvertisement((Obj(0x02, 25.06), Obj(0x03, 50.55))),
        f"{_PARSER}::test_bthome_temperature_humidity",
    ),
    # Packet id 9, battery 0x5d = 93 %, temperature 0x095d = 23.97, humidity 0x18b7 = 63.27.
    BTHomeVector(
        "400009015d025d0903b718",
        ATC,
        None,
        BTHomeAdvertisement((Obj(0x00, 9), Obj(0x01, 93), Obj(0x02, 23.97), Obj(0x03, 63.27))),
        f"{_PARSER}::test_bthome_packet_id_temperature_humidity_battery",
    ),
    # Mass kg 0x1f5e = 8030 × 0.01 = 80.3 kg; mass lb 0x1d3e = 7486 × 0.01 = 74.86 lb.
    BTHomeVector(
        "40065e1f",
        ATC,
        None,
        BTHomeAdvertisement((Obj(0x06, 80.3),)),
        f"{_PARSER}::test_bthome_mass_kilograms",
    ),
    BTHomeVector(
        "40073e1d",
        ATC,
        None,
        BTHomeAdvertisement((Obj(0x07, 74.86),)),
        f"{_PARSER}::test_bthome_mass_pounds",
    ),
    # 0x45 temperature sint16 × 0.1: 0x0111 = 273 → 27.3 °C.
    BTHomeVector(
        "40451101",
        ATC,
        None,
        BTHomeAdvertisement((Obj(0x45, 27.3),)),
        f"{_PARSER}::test_bthome_temperature_2",
    ),
    # 0x57 sint8 × 1 and 0x58 sint8 × 0.35: 0xea = −22 → −22 °C and −7.7 °C.
    BTHomeVector(
        "4057ea",
        ATC,
        None,
        BTHomeAdvertisement((Obj(0x57, -22),)),
        f"{_PARSER}::test_bthome_temperature_1_byte",
    ),
    BTHomeVector(
        "4058ea",
        ATC,
        None,
        BTHomeAdvertisement((Obj(0x58, -7.7),)),
        f"{_PARSER}::test_bthome_temperature_1_byte_2",
    ),
    # Three temperatures (25.06, 0x09cf → 25.11, 0x08cf → 22.55), two humidities (63.27,
    # 0x17b7 → 60.71) and battery 93 % last: id 0x01 after 0x03 breaks the ascending rule.
    BTHomeVector(
        "4002ca0902cf0902cf0803b71803b717015d",
        ATC,
        None,
        BTHomeAdvertisement(
            (
                Obj(0x02, 25.06),
                Obj(0x02, 25.11),
                Obj(0x02, 22.55),
                Obj(0x03, 63.27),
                Obj(0x03, 60.71),
                Obj(0x01, 93),
            ),
            out_of_order=True,
        ),
        f"{_PARSER}::test_bthome_triple_temperature_double_humidity_battery",
    ),
    # Unknown object id 0xfe: its length is unknown, decoding stops there.
    BTHomeVector(
        "40feca09",
        ATC,
        None,
        BTHomeAdvertisement((), stopped="unknown object id 0xfe: 3 byte(s) not read"),
        f"{_PARSER}::test_bthome_wrong_object_id",
    ),
    BTHomeVector(
        "40015dfe5d0903b718",
        ATC,
        None,
        BTHomeAdvertisement((Obj(0x01, 93),), stopped="unknown object id 0xfe: 6 byte(s) not read"),
        f"{_PARSER}::test_bthome_battery_wrong_object_id_humidity",
    ),
    # Device information 0x42: MAC included (bit 1), b2188d38c1a4 reversed = A4:C1:38:8D:18:B2;
    # pressure 0x018a13 = 100883 × 0.01 = 1008.83 hPa.
    BTHomeVector(
        "42b2188d38c1a404138a01",
        ATC,
        None,
        BTHomeAdvertisement((Obj(0x04, 1008.83),), mac=ATC),
        f"{_PARSER}::test_bthome_with_mac",
    ),
    # Shelly BLU H&T Display ZB: packet id 0x2e = 46, battery 100, light (0x1e) on,
    # humidity u8 (0x2e) 0x34 = 52 %, temperature 0x45 0x0116 = 278 → 27.8 °C.
    BTHomeVector(
        "40002e01641e012e34451601",
        SHELLY,
        None,
        BTHomeAdvertisement(
            (Obj(0x00, 46), Obj(0x01, 100), Obj(0x1E, 1), Obj(0x2E, 52), Obj(0x45, 27.8))
        ),
        f"{_PARSER}::test_shelly_blu_ht_display_zb",
    ),
    # Encrypted (0x41): ciphertext a47266c95f73, counter 00112233, MIC 78237214; nonce =
    # 5448e68f80a5 | d2fc | 41 | 00112233; plaintext 02ca0903bf13 (25.06 °C, 50.55 %).
    BTHomeVector(
        "41a47266c95f730011223378237214",
        SHELLY,
        KEY,
        BTHomeAdvertisement((Obj(0x02, 25.06), Obj(0x03, 50.55)), encrypted=True, counter=COUNTER),
        f"{_PARSER}::test_bindkey_correct; {_CRYPTO}::test_encryption_example",
    ),
    # Encrypted with the MAC in the packet (0x43): the nonce uses that MAC.
    BTHomeVector(
        "43a5808fe64854f196c06ffb4900112233f08ecbde",
        SHELLY,
        KEY,
        BTHomeAdvertisement(
            (Obj(0x02, 25.06), Obj(0x03, 50.55)), encrypted=True, mac=SHELLY, counter=COUNTER
        ),
        f"{_PARSER}::test_bthome_with_mac_encrypted",
    ),
    # Plaintext 2101: motion (0x21) detected.
    BTHomeVector(
        "4187b90011223372b0231f",
        SHELLY,
        KEY,
        BTHomeAdvertisement((Obj(0x21, 1),), encrypted=True, counter=COUNTER),
        f"{_CRYPTO}::test_encryption_example_2",
    ),
]

MALFORMED_BTHOME = [
    BadBTHome("", None, "empty service data"),
    BadBTHome("2002ca09", None, "BTHome version 1"),
    BadBTHome("6002ca09", None, "BTHome version 3"),
    # bthome-ble test_bthome_invalid_object_payload_data_length: humidity misses a byte.
    BadBTHome("4002ca0903bf", None, "humidity (0x03) needs 2 byte(s), 1 left"),
    BadBTHome("4053", None, "text length byte missing"),
    BadBTHome("405305414243", None, "text (0x53) needs 5 byte(s), 3 left"),
    BadBTHome("42b2188d", None, "MAC flag set but 6 bytes missing"),
    BadBTHome("41a47266c95f730011223378237214", None, "pair the sensor with its bind key"),
    # bthome-ble test_bindkey_wrong's key on the correct packet: the MIC fails.
    BadBTHome(
        "41a47266c95f730011223378237214", "814aac74c4f17b6c1581e1ab87816b99", "MIC check failed"
    ),
    # One ciphertext bit flipped (a4 → a5), and one MIC bit flipped: both refused.
    BadBTHome("41a57266c95f730011223378237214", KEY, "MIC check failed"),
    BadBTHome("41a47266c95f730011223378237215", KEY, "MIC check failed"),
    # The counter is part of the nonce: a replay with a changed counter fails too.
    BadBTHome("41a47266c95f730011223478237214", KEY, "MIC check failed"),
    BadBTHome("4002ca0903bf13", KEY, "unencrypted packet from a sensor paired with a bind key"),
    BadBTHome("41a47266c95f730011223378237214", KEY[:30], "bind key must be 16 bytes"),
    BadBTHome("4100112233", KEY, "needs counter and MIC"),
]
