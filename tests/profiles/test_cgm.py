"""CGM decoders beyond the vectors: the registry rows, readings in canonical units, the
E2E-CRC algorithm, and how a multi-record notification reads."""

from __future__ import annotations

import pytest

from gateway.ble.profiles import (
    CgmMeasurement,
    CgmRecord,
    DeviceKind,
    ProfileError,
    characteristic,
    decode,
    recognize,
    service,
)
from gateway.ble.profiles.cgm import e2e_crc
from gateway.wire import Metric


def test_registry_knows_the_cgm_service_and_its_measurement() -> None:
    row = service(0x181F)
    assert row is not None
    assert row.kind is DeviceKind.CGM
    assert row.characteristics == (0x2AA7, 0x2AA8, 0x2AA9, 0x2AAA, 0x2AAB, 0x2A52, 0x2AAC)
    spec = characteristic(0x2AA7)
    assert spec is not None
    assert spec.units == {Metric.BLOOD_GLUCOSE: "mg/dL"}
    assert spec.loinc == {Metric.BLOOD_GLUCOSE: "41653-7"}
    assert recognize([0x181F, 0x180A, 0x180F]) is DeviceKind.CGM


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        (b"123456789", 0x6F91),  # CRC-16/MCRF4XX check value (Greg Cook's CRC catalogue)
        (bytes.fromhex("0fe3d2e405000214ff02f0e5f3"), 0x3F8E),  # Nordic CGM test vector
        (bytes.fromhex("08000c100600"), 0x6F59),  # Nordic CGM test vector
        (b"", 0xFFFF),  # the seed, untouched
    ],
)
def test_e2e_crc_known_answers(data: bytes, crc: int) -> None:
    assert e2e_crc(data) == crc


def test_a_notification_reads_as_one_reading_per_record_with_a_value() -> None:
    # 120 mg/dL at 5 min; NaN ("ff07") at 10 min; 98 mg/dL with calibration required
    # (cal/temp octet 0x08) and a trend of −2.5 mg/dL/min (−25 × 10⁻¹ = 0xffe7) at 15 min.
    data = bytes.fromhex("06000c100500" + "0600ff070a00" + "094162000f0008e7ff")
    value = decode(0x2AA7, data)
    assert isinstance(value, CgmMeasurement)
    first, missing, flagged = value.records
    assert missing == CgmRecord(None, 10)
    assert flagged == CgmRecord(98.0, 15, cal_temp=("calibration_required",), trend=-2.5)
    readings = value.readings()
    assert [(r.metric, r.value, r.unit) for r in readings] == [
        (Metric.BLOOD_GLUCOSE, 120.0, "mg/dL"),
        (Metric.BLOOD_GLUCOSE, 98.0, "mg/dL"),
    ]
    assert readings[0].usable
    assert not readings[1].usable  # a sensor that needs calibration is not trusted for alerts
    assert readings[1].flags == ("calibration_required", "trend_mg_dl_min:-2.5")
    assert first.timestamp is None  # only the session start places a record in time


def test_one_bad_record_refuses_the_whole_notification() -> None:
    good = "06000c100500"
    with pytest.raises(ProfileError, match="record 2: E2E-CRC mismatch"):
        decode(0x2AA7, bytes.fromhex(good + "08000c1006000000"))
