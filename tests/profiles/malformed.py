"""Malformed values: every length check and every impossible value has one.

Reserved-for-future-use bits and codes are not malformed (they are ignored or read as
"unknown": see ``vectors_tolerant.py``); an unknown op code of a control point is, since it
decides the layout of the rest. Trailing bytes are refused unless a reserved flag bit
announces a field this version does not know.

Each row: (characteristic, hex, a fragment the ProfileError message must contain). The
message always starts with the characteristic's name (checked by the test).
"""

from __future__ import annotations

from typing import NamedTuple

from tests.profiles.vectors_cgm import CGM_MALFORMED


class Bad(NamedTuple):
    uuid: int
    hex: str
    problem: str


STAMP = "ea070b17081e0f"

MALFORMED = [
    # Heart rate 0x2A37
    Bad(0x2A37, "", "flags needs bytes 0..0"),
    Bad(0x2A37, "00", "heart rate needs"),
    Bad(0x2A37, "0148", "heart rate needs bytes 1..2"),
    Bad(0x2A37, "0848", "energy expended needs"),
    Bad(0x2A37, "1048", "RR-interval field must be whole uint16"),
    Bad(0x2A37, "104800", "RR-interval field must be whole uint16"),
    Bad(0x2A37, "004800", "1 unexpected trailing byte"),
    Bad(0x2A37, "1f48000004ee", "RR-interval field must be whole uint16"),
    Bad(0x2A38, "", "location needs"),
    Bad(0x2A38, "0101", "trailing"),
    # Blood pressure 0x2A35 / 0x2A36 / 0x2A49
    Bad(0x2A35, "0078005000", "mean arterial needs"),
    Bad(0x2A35, "02780050005d00ea070b17", "time stamp needs"),
    Bad(0x2A35, "04780050005d00", "pulse rate needs"),
    Bad(0x2A35, "08780050005d00", "user id needs"),
    Bad(0x2A35, "10780050005d0005", "measurement status needs"),
    Bad(0x2A35, "00780050005d0000", "trailing"),
    # NordicSemiconductor/Android-BLE-Common-Library bps/BloodPressureMeasurementDataCallback
    # Test onInvalidDataReceived_toShort and _noTimestamp.
    Bad(0x2A35, "010203040506", "mean arterial needs bytes 5..6, value has 6"),
    Bad(0x2A35, "03020304050607", "time stamp needs bytes 7..13, value has 7"),
    Bad(0x2A35, "02780050005d00" + "ea070d17081e0f", "month 13 > 12"),
    Bad(0x2A35, "02780050005d00" + "ea070b1f081e0f", "no day 31 in month 11"),
    Bad(0x2A35, "02780050005d00" + "ea070b17181e0f", "hours 24 > 23"),
    Bad(0x2A35, "02780050005d00" + "e9030b17081e0f", "year 1001 outside"),
    Bad(0x2A36, "002800ff07", "mean arterial needs"),
    Bad(0x2A49, "3f", "feature needs"),
    # Thermometer
    Bad(0x2A1C, "006c0100", "temperature needs"),
    Bad(0x2A1C, "026c0100ff", "time stamp needs"),
    Bad(0x2A1C, "046c0100ff", "temperature type needs"),
    Bad(0x2A1E, "006c0100ff00", "trailing"),
    Bad(0x2A1D, "", "temperature type needs"),
    # Nordic ht/TemperatureMeasurementDataCallbackTest onInvalidDataReceived: type flag set,
    # type byte missing.
    Bad(0x2A1C, "06b00e00fedc070c050b321b", "temperature type needs bytes 12..12"),
    # Pulse oximeter
    Bad(0x2A5E, "00610048", "spot-check pulse rate needs"),
    Bad(0x2A5E, "0261004800e0", "measurement status needs"),
    Bad(0x2A5E, "04610048000020", "device and sensor status needs"),
    Bad(0x2A5E, "0861004800", "pulse amplitude index needs"),
    Bad(0x2A5F, "015f0050005f00", "fast pulse rate needs"),
    Bad(0x2A5F, "025f005000", "slow SpO2 needs"),
    Bad(0x2A60, "0100", "measurement status needs"),
    Bad(0x2A60, "0200e0ff", "device and sensor status needs"),
    # Weight scale, body composition
    Bad(0x2A9D, "005c", "weight needs"),
    Bad(0x2A9D, "085c36e200", "height needs"),
    Bad(0x2A9D, "045c36", "user id needs"),
    Bad(0x2A9E, "bf0100", "feature needs"),
    Bad(0x2A9C, "0000eb", "body fat percentage needs"),
    Bad(0x2A9C, "0004eb00a4", "weight needs"),
    Bad(0x2A9C, "0004ffffa438", "unsuccessful but values present"),
    # Glucose
    Bad(0x2A18, "000100ea070b17081e", "base time needs"),
    Bad(0x2A18, "010100" + STAMP + "fb", "time offset needs"),
    Bad(0x2A18, "020100" + STAMP + "65b0", "type-sample location needs"),
    Bad(0x2A34, "0001", "sequence number needs"),
    Bad(0x2A34, "800100", "extended flags needs"),
    Bad(0x2A34, "01010000", "carbohydrate needs bytes 4..5"),
    Bad(0x2A34, "0801000807", "exercise intensity needs"),
    Bad(0x2A34, "080100080765", "exercise intensity 101 % > 100"),
    # Nordic glucose/GlucoseMeasurementDataCallbackTest onInvalidDataReceived: the time
    # offset flagged but left out, so the fields shift and the status runs short.
    Bad(0x2A18, "1b0000e207041a0b091e1e00120501", "sensor status annunciation needs bytes 15..16"),
    # Nordic glucose/GlucoseMeasurementContextDataCallbackTest onInvalidDataReceived: flags
    # 0xff, extended flags 0xb3 (ignored), carbohydrate id, then nothing.
    Bad(0x2A34, "ff0000b303", "carbohydrate needs bytes 5..6, value has 5"),
    # Nordic's _empty case sends flags 0 and sequence 1 in 17 bytes; its decoder ignores the
    # 14 bytes no flag announces, VitalGate refuses an inconsistent length.
    Bad(0x2A34, "000100" + "00" * 14, "14 unexpected trailing byte(s)"),
    # RACP responses
    Bad(0x2A52, "0500", "number of records needs"),
    Bad(0x2A52, "0600", "request op code needs"),
    Bad(0x2A52, "060001", "response code needs"),
    Bad(0x2A52, "0100", "is a request, not a response"),
    Bad(0x2A52, "05010a00", "null operator"),
    Bad(0x2A52, "07000a00", "unknown op code value 7"),
    # Nordic RecordAccessControlPointDataCallbackTest accepts a 1- or 4-byte count; GLS 1.0
    # §3.6.2 fixes the operand at uint16, so these are refused.
    Bad(0x2A52, "050001", "number of records needs bytes 2..3, value has 3"),
    Bad(0x2A52, "050004030201", "2 unexpected trailing byte(s)"),
    Bad(0x2A52, "0101", "a response must use the null operator"),  # Nordic: tooShort
    # Device characteristics
    Bad(0x2A08, "ea070b17081e", "date time needs"),
    Bad(0x2A08, "ea070b17083c0f", "minutes 60 > 59"),
    Bad(0x2A08, "ea070b17081e3c", "seconds 60 > 59"),
    Bad(0x2A08, "ea0702", "date time needs"),
    Bad(0x2A08, "0000021e000000", "no day 30 in month 2"),
    Bad(0x2A2B, STAMP + "0180", "adjust reason needs"),
    Bad(0x2A19, "", "battery level needs"),
    Bad(0x2A19, "65", "101 % is above 100"),
    Bad(0x2A19, "6400", "trailing"),
    Bad(0x2A29, "ff", "not UTF-8"),
    *(Bad(*row) for row in CGM_MALFORMED),
]
