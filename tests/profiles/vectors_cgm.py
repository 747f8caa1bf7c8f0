"""Vectors for the Continuous Glucose Monitoring Service (CGMS 1.0.1, 0x181F).

Records are assembled from hand-written field fragments, one per optional field, with the
arithmetic in the comments; the E2E-CRC is computed by ``x25``, an independent byte-wise
form of CRC-CCITT seed 0xFFFF LSB-first (the MAVLink ``crc_accumulate`` formulation), never
by the decoder under test. Anchors from public test code:
NordicSemiconductor/Android-BLE-Common-Library,
``ble-common/src/test/.../cgm/ContinuousGlucoseMeasurementDataCallbackTest.java``
(the full record with CRC 0x3F8E, the two-record notification, and CRC 0x6F59).
"""

from __future__ import annotations

from itertools import product

from gateway.ble.profiles import (
    CgmCalibration,
    CgmControlPoint,
    CgmFeature,
    CgmMeasurement,
    CgmRecord,
    CgmSessionRunTime,
    CgmSessionStartTime,
    CgmStatus,
    DateTime,
)
from gateway.ble.profiles.cgm import CgmSampleLocation, CgmType
from gateway.ble.profiles.cgm_control import SocpOpCode, SocpResponse
from gateway.ble.profiles.cgm_session import DstOffset
from tests.profiles._vector import STAMP, STAMP_HEX, Vector


def x25(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        tmp = (byte ^ crc) & 0xFF
        tmp = (tmp ^ (tmp << 4)) & 0xFF
        crc = ((crc >> 8) ^ (tmp << 8) ^ (tmp << 3) ^ (tmp >> 4)) & 0xFFFF
    return crc


def crc_hex(body_hex: str) -> str:
    """The E2E-CRC of ``body_hex`` as it travels (little-endian)."""
    return x25(bytes.fromhex(body_hex)).to_bytes(2, "little").hex()


assert x25(b"123456789") == 0x6F91  # CRC-16/MCRF4XX check value
assert crc_hex("08000c100600") == "596f"  # Nordic: 0x6F59

# Fragments. Glucose 123 mg/dL: SFLOAT exponent 0, mantissa 123 = 0x007b → "7b00".
# Time offset 20160 min (14 days) = 0x4ec0 → "c04e". Status octet 0x02 (bit 1, device
# battery low); cal/temp octet 0x08 (bit 3, calibration required); warning octet 0x04
# (bit 2, below hypo level). Trend −1.5 mg/dL/min = −15 × 10⁻¹: mantissa 0xff1, exponent
# 0xf → 0xfff1 → "f1ff". Quality 95 % = 0x005f → "5f00".
_OCTETS = (  # flag bit, fragment, field, value — in the order the record carries them
    (0x80, "02", "status", ("device_battery_low",)),
    (0x40, "08", "cal_temp", ("calibration_required",)),
    (0x20, "04", "warning", ("below_hypo_level",)),
)


def _record(flags: int, crc: bool) -> Vector:
    body, fields = "7b00c04e", dict[str, object]()
    for bit, fragment, field, value in _OCTETS:
        if flags & bit:
            body += fragment
            fields[field] = value
    if flags & 0x01:
        body += "f1ff"
        fields["trend"] = -1.5
    if flags & 0x02:
        body += "5f00"
        fields["quality"] = 95.0
    size = 2 + len(body) // 2 + (2 if crc else 0)
    record = f"{size:02x}{flags:02x}{body}"
    if crc:
        record += crc_hex(record)
    expected = CgmMeasurement((CgmRecord(123.0, 20160, crc=crc, **fields),))  # type: ignore[arg-type]
    return Vector(0x2AA7, record, expected, f"CGMS CGM Measurement: flags 0x{flags:02x}, CRC {crc}")


_FLAG_COMBINATIONS = [
    trend | quality | octets
    for trend, quality, octets in product((0, 0x01), (0, 0x02), range(0, 0x100, 0x20))
]
"""Every combination of the five defined flag bits (trend, quality, three octets): 32."""

CGM_MEASUREMENT = [_record(f, crc) for f in _FLAG_COMBINATIONS for crc in (False, True)] + [
    Vector(
        0x2AA7,
        "0fe3d2e405000214ff02f0e5f38e3f",
        # 12.34 = 1234 × 10⁻² → 0xe4d2; trend 0.2 → 0xf002; quality 99.7 → 0xf3e5.
        CgmMeasurement(
            (
                CgmRecord(
                    12.34,
                    5,
                    ("device_battery_low",),
                    ("calibration_recommended", "sensor_temperature_too_high"),
                    (
                        "below_patient_low",
                        "above_patient_high",
                        "below_hypo_level",
                        "above_hyper_level",
                        "rate_of_decrease_exceeded",
                        "rate_of_increase_exceeded",
                        "below_device_range",
                        "above_device_range",
                    ),
                    0.2,
                    99.7,
                    crc=True,
                ),
            )
        ),
        "Nordic Android-BLE-Common-Library test: full record, E2E-CRC 0x3F8E",
    ),
    Vector(
        0x2AA7,
        "06000c100500" + "06000c100600",  # 120 mg/dL = 12 × 10¹ → 0x100c
        CgmMeasurement((CgmRecord(120.0, 5), CgmRecord(120.0, 6))),
        "Nordic test: two records in one notification",
    ),
    Vector(
        0x2AA7,
        "06000c100500" + "08000c100600596f" + "0801780005000200",
        CgmMeasurement(
            (CgmRecord(120.0, 5), CgmRecord(120.0, 6, crc=True), CgmRecord(120.0, 5, trend=2.0))
        ),
        "CGMS CGM Measurement: three records, the middle one with its E2E-CRC",
    ),
    Vector(
        0x2AA7,
        "061c7b00c04e",
        CgmMeasurement((CgmRecord(123.0, 20160),)),
        "CGMS CGM Measurement: reserved flag bits 2–4 are ignored",
    ),
    Vector(
        0x2AA7,
        "0780ff070000" + "c2",  # status 0xc2: bits 6–7 reserved, ignored
        CgmMeasurement((CgmRecord(None, 0, ("device_battery_low",)),)),
        "CGMS CGM Measurement: glucose NaN is no value; reserved status bits ignored",
    ),
]

# Feature 0x019001: calibration (bit 0), E2E-CRC (12), trend (15), quality (16); type ISF
# (9) and location subcutaneous tissue (5) → 0x59. Without E2E-CRC the field is 0xffff.
_FEATURE = "01900159"
CGM_FEATURE = [
    Vector(
        0x2AA8,
        _FEATURE + crc_hex(_FEATURE),
        CgmFeature(
            ("calibration", "e2e_crc", "trend_information", "quality"),
            CgmType.INTERSTITIAL_FLUID,
            CgmSampleLocation.SUBCUTANEOUS_TISSUE,
        ),
        "CGMS CGM Feature: with E2E-CRC",
    ),
    Vector(
        0x2AA8,
        "01800159ffff",
        CgmFeature(
            ("calibration", "trend_information", "quality"),
            CgmType.INTERSTITIAL_FLUID,
            CgmSampleLocation.SUBCUTANEOUS_TISSUE,
        ),
        "CGMS CGM Feature: E2E-CRC not supported, field 0xffff",
    ),
    Vector(
        0x2AA8,
        "0000fe0bffff",  # bits 17–23 reserved; type 11 and location 0 reserved
        CgmFeature((), 11, 0),
        "CGMS CGM Feature: reserved features ignored, reserved type and location kept as numbers",
    ),
]

# Status: offset 20160 → "c04e"; status 0x03 (session stopped, battery low); cal/temp
# 0x0c (calibration recommended, required); warning 0x00.
_STATUS = "c04e030c00"
CGM_STATUS = [
    Vector(
        0x2AA9,
        _STATUS,
        CgmStatus(
            20160,
            ("session_stopped", "device_battery_low"),
            ("calibration_recommended", "calibration_required"),
            (),
        ),
        "CGMS CGM Status",
    ),
    Vector(
        0x2AA9,
        _STATUS + crc_hex(_STATUS),
        CgmStatus(
            20160,
            ("session_stopped", "device_battery_low"),
            ("calibration_recommended", "calibration_required"),
            (),
            crc=True,
        ),
        "CGMS CGM Status with E2E-CRC",
    ),
]

# Start 2026-11-23 08:30:15 local, time zone +4 × 15 min = +1 h ("04"), DST 4 = +1 h.
_START = STAMP_HEX + "0404"
CGM_START_TIME = [
    Vector(
        0x2AAA, _START, CgmSessionStartTime(STAMP, 4, DstOffset.DAYLIGHT), "CGMS Session Start Time"
    ),
    Vector(
        0x2AAA,
        _START + crc_hex(_START),
        CgmSessionStartTime(STAMP, 4, DstOffset.DAYLIGHT, crc=True),
        "CGMS Session Start Time with E2E-CRC",
    ),
    Vector(
        0x2AAA,
        "00000000000000" + "80ff",
        CgmSessionStartTime(DateTime(0, 0, 0), None, None),
        "CGMS Session Start Time: not yet set; time zone −128 and DST 255 unknown",
    ),
]

CGM_RUN_TIME = [
    Vector(0x2AAB, "5001", CgmSessionRunTime(336), "CGMS Session Run Time: 336 h = 0x0150"),
    Vector(
        0x2AAB, "5001" + crc_hex("5001"), CgmSessionRunTime(336, True), "CGMS Session Run Time, CRC"
    ),
]

# Calibration: 100 mg/dL "6400", at 30 min "1e00", capillary whole blood at the finger
# 0x11, next in 720 min "d002", record 1 "0100", status 0x04 (pending).
_CALIBRATION = "64001e0011d002010004"
CGM_CONTROL_POINT = [
    Vector(0x2AAC, "1a", CgmControlPoint(SocpOpCode.START_SESSION), "CGMS Specific Ops: start"),
    Vector(0x2AAC, "1b", CgmControlPoint(SocpOpCode.STOP_SESSION), "CGMS Specific Ops: stop"),
    Vector(
        0x2AAC,
        "1a" + crc_hex("1a"),
        CgmControlPoint(SocpOpCode.START_SESSION, crc=True),
        "CGMS Specific Ops: start, with E2E-CRC",
    ),
    Vector(
        0x2AAC,
        "0105",
        CgmControlPoint(SocpOpCode.SET_COMMUNICATION_INTERVAL, interval_min=5),
        "CGMS Specific Ops",
    ),
    Vector(
        0x2AAC, "02", CgmControlPoint(SocpOpCode.GET_COMMUNICATION_INTERVAL), "CGMS Specific Ops"
    ),
    Vector(
        0x2AAC,
        "0305",
        CgmControlPoint(SocpOpCode.COMMUNICATION_INTERVAL_RESPONSE, interval_min=5),
        "CGMS Specific Ops",
    ),
    Vector(
        0x2AAC,
        "04" + _CALIBRATION,
        CgmControlPoint(
            SocpOpCode.SET_CALIBRATION_VALUE,
            calibration=CgmCalibration(
                100.0,
                30,
                CgmType.CAPILLARY_WHOLE_BLOOD,
                CgmSampleLocation.FINGER,
                720,
                1,
                ("pending",),
            ),
        ),
        "CGMS Specific Ops",
    ),
    Vector(
        0x2AAC,
        "05ffff",
        CgmControlPoint(SocpOpCode.GET_CALIBRATION_VALUE, record_number=0xFFFF),
        "CGMS Specific Ops: the last calibration",
    ),
    Vector(
        0x2AAC,
        "06" + _CALIBRATION + crc_hex("06" + _CALIBRATION),
        CgmControlPoint(
            SocpOpCode.CALIBRATION_VALUE_RESPONSE,
            calibration=CgmCalibration(
                100.0,
                30,
                CgmType.CAPILLARY_WHOLE_BLOOD,
                CgmSampleLocation.FINGER,
                720,
                1,
                ("pending",),
            ),
            crc=True,
        ),
        "CGMS Specific Ops with E2E-CRC",
    ),
    Vector(
        0x2AAC,
        "07fa00",  # 250 = 0x00fa
        CgmControlPoint(SocpOpCode.SET_PATIENT_HIGH_ALERT, level=250.0),
        "CGMS Specific Ops",
    ),
    Vector(
        0x2AAC,
        "1c1a01",
        CgmControlPoint(
            SocpOpCode.RESPONSE_CODE,
            request_op_code=SocpOpCode.START_SESSION,
            response=SocpResponse.SUCCESS,
        ),
        "CGMS Specific Ops: start session succeeded",
    ),
    Vector(
        0x2AAC,
        "1c1e09",
        CgmControlPoint(SocpOpCode.RESPONSE_CODE, request_op_code=30, response=9),
        "CGMS Specific Ops: unknown request and response codes kept as numbers",
    ),
    Vector(0x2AAC, "1d0102", CgmControlPoint(29, operand=b"\x01\x02"), "reserved op code kept"),
]

CGM = CGM_MEASUREMENT + CGM_FEATURE + CGM_STATUS + CGM_START_TIME + CGM_RUN_TIME + CGM_CONTROL_POINT

_BAD_CRC_FEATURE = _FEATURE + "0000"
CGM_MALFORMED = [
    (0x2AA7, "", "empty value"),
    (0x2AA7, "05000c1006", "size field 5 is below the minimum 6"),
    (0x2AA7, "0a000c100600", "size field 10 runs past the end"),
    (0x2AA7, "07000c10060000", "size field 7 inconsistent with flags 0x00"),
    (0x2AA7, "06010c100600", "size field 6 inconsistent with flags 0x01"),
    (0x2AA7, "08000c100600586f", "E2E-CRC mismatch (sent 0x6f58, computed 0x6f59)"),
    (0x2AA7, "06000c100500" + "06000c10", "record 2: truncated"),
    (0x2AA7, "06000c100500" + "00", "record 2: size field 0"),
    (0x2AAA, STAMP_HEX + "04", "DST offset needs"),
    (0x2AAA, "ea070d17081e0f0000", "month 13 > 12"),
    (0x2AA8, "01900159", "E2E-CRC needs"),
    (0x2AA8, _BAD_CRC_FEATURE, "E2E-CRC mismatch"),
    (0x2AA8, "01800159ffff00", "trailing"),
    (0x2AA9, "c04e030c", "warning octet needs"),
    (0x2AA9, _STATUS + "00", "E2E-CRC needs"),
    (0x2AA9, _STATUS + "0000", "E2E-CRC mismatch"),
    (0x2AA9, _STATUS + crc_hex(_STATUS) + "00", "trailing"),
    (0x2AAB, "50", "session run time needs"),
    (0x2AAB, "500100", "E2E-CRC needs"),
    (0x2AAC, "", "op code needs"),
    (0x2AAC, "1a00", "START_SESSION takes 1 byte(s), or 3 with E2E-CRC"),
    (0x2AAC, "01", "SET_COMMUNICATION_INTERVAL takes 2 byte(s)"),
    (0x2AAC, "1a0000", "E2E-CRC mismatch"),
    (0x2AAC, "04" + _CALIBRATION[:-2], "SET_CALIBRATION_VALUE takes 11 byte(s)"),
]
"""(characteristic, hex, what the ProfileError must say)."""
