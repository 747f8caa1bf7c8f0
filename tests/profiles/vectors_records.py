"""Vectors for scales, glucose meters (records, context, RACP) and device characteristics.

See ``tests/profiles/vectors.py`` for the sources and conventions.
"""

from __future__ import annotations

from gateway.ble.profiles import (
    BatteryLevel,
    BodyCompositionMeasurement,
    CurrentTime,
    DateTime,
    DateTimeValue,
    DeviceString,
    GlucoseContext,
    GlucoseMeasurement,
    RacpNumberOfRecords,
    RacpResponseCode,
    WeightMeasurement,
    WeightScaleFeature,
)
from gateway.ble.profiles.glucose import (
    CarbohydrateId,
    GlucoseType,
    Health,
    Meal,
    MedicationId,
    SampleLocation,
    Tester,
)
from gateway.ble.profiles.racp import OpCode, ResponseCode
from tests.profiles._vector import STAMP, STAMP_HEX, Vector

# --- Weight scale and body composition ---------------------------------------------------
# 69.58 kg / 0.005 = 13916 = 0x365c → "5c36". 154.3 lb / 0.01 = 15430 = 0x3c46 → "463c"
# (154.3 × 0.45359237 = 69.989302691 kg). BMI 22.6 / 0.1 = 226 = 0x00e2 → "e200";
# height 1.755 m / 0.001 = 1755 = 0x06db → "db06"; 69.1 in / 0.1 = 691 = 0x02b3 → "b302".
WEIGHT = [
    Vector(0x2A9D, "005c36", WeightMeasurement(69.58), "WSS 1.0 §3.1.1, SI"),
    Vector(0x2A9D, "01463c", WeightMeasurement(154.3, True), "WSS §3.1.1, imperial"),
    Vector(
        0x2A9D,
        "0e5c36" + STAMP_HEX + "02" + "e200db06",
        WeightMeasurement(69.58, False, STAMP, 2, 22.6, 1.755),
        "WSS §3.1.1: time stamp, user 2, BMI and height",
    ),
    Vector(
        0x2A9D,
        "09463c" + "e200b302",
        WeightMeasurement(154.3, True, bmi=22.6, height=69.1),
        "WSS §3.1.1: imperial height in 0.1 in",
    ),
    Vector(0x2A9D, "00ffff", WeightMeasurement(None), "WSS §3.1.1.2: 0xffff unsuccessful"),
    # Feature 0x000001bf: bits 0–2 (time stamp, users, BMI) = 0x7; weight resolution
    # code 7 (0.005 kg) << 3 = 0x38; height resolution code 3 (0.001 m) << 7 = 0x180.
    Vector(
        0x2A9E,
        "bf010000",
        WeightScaleFeature(True, True, True, 0.005, 0.001),
        "WSS 1.0 §3.2.1",
    ),
    # 0x00000088: resolution code 1 (0.5 kg) << 3 = 0x08; height code 1 (0.01 m) << 7 = 0x80.
    Vector(0x2A9E, "88000000", WeightScaleFeature(False, False, False, 0.5, 0.01), "WSS §3.2.1"),
    Vector(0x2A9E, "00000000", WeightScaleFeature(), "WSS §3.2.1: nothing specified"),
    # Body fat 23.5 % / 0.1 = 235 = 0x00eb → "eb00".
    Vector(0x2A9C, "0000eb00", BodyCompositionMeasurement(23.5), "BCS 1.0 §3.2.1, flags 0"),
    # Flags 0x0c1e: time (bit 1), user (2), basal metabolism (3), muscle % (4), weight (10),
    # height (11). Basal 6500 kJ = 0x1964 → "6419"; muscle 35.2 % → 352 = 0x0160 → "6001";
    # weight 72.5 kg → 14500 = 0x38a4 → "a438"; height 1.705 m → 1705 = 0x06a9 → "a906".
    Vector(
        0x2A9C,
        "1e0ceb00" + STAMP_HEX + "01" + "6419" + "6001" + "a438" + "a906",
        BodyCompositionMeasurement(
            23.5,
            time_stamp=STAMP,
            user_id=1,
            basal_metabolism_kj=6500,
            muscle_percent=35.2,
            weight=72.5,
            height=1.705,
        ),
        "BCS §3.2.1 by hand",
    ),
    # Flags 0x13e0 = masses (bits 5–8) + impedance (9) + multiple packet (12); imperial off.
    # muscle 30.0 kg → 6000 = 0x1770; fat free 55.0 → 11000 = 0x2af8; soft lean 50.0 →
    # 10000 = 0x2710; water 40.0 → 8000 = 0x1f40; impedance 480.5 Ω → 4805 = 0x12c5.
    Vector(
        0x2A9C,
        "e013eb00" + "7017f82a1027401fc512",
        BodyCompositionMeasurement(
            23.5,
            muscle_mass=30.0,
            fat_free_mass=55.0,
            soft_lean_mass=50.0,
            body_water_mass=40.0,
            impedance_ohm=480.5,
            multiple_packet=True,
        ),
        "BCS §3.2.1: masses, impedance, multiple packet",
    ),
    Vector(0x2A9C, "0000ffff", BodyCompositionMeasurement(None), "BCS §3.2.1.2 unsuccessful"),
]

# --- Glucose 0x2A18 / 0x2A34 / RACP 0x2A52 ----------------------------------------------
# 101 mg/dL = 0.00101 kg/L = 101 × 10⁻⁵: exponent −5 = 0xb, mantissa 0x065 → 0xb065 → "65b0".
# 5.6 mmol/L = 0.0056 mol/L = 56 × 10⁻⁴: exponent 0xc, mantissa 0x038 → 0xc038 → "38c0"
#   (0.0056 × 18016 = 100.8896 mg/dL). Time offset −5 min → s16 0xfffb → "fbff".
# Type/location 0x11: capillary whole blood (1) at the finger (1); 0x12: capillary plasma.
GLUCOSE = [
    Vector(
        0x2A18,
        "03" + "0100" + STAMP_HEX + "fbff" + "65b0" + "11",
        GlucoseMeasurement(
            1,
            STAMP,
            -5,
            0.00101,
            False,
            GlucoseType.CAPILLARY_WHOLE_BLOOD,
            SampleLocation.FINGER,
        ),
        "GLS 1.0 §3.1, GSS §3.106 by hand",
    ),
    Vector(
        0x2A18,
        "06" + "2a00" + STAMP_HEX + "38c0" + "12",
        GlucoseMeasurement(
            42,
            STAMP,
            None,
            0.0056,
            True,
            GlucoseType.CAPILLARY_PLASMA,
            SampleLocation.FINGER,
        ),
        "GSS §3.106: mol/L, sequence 42 = 0x002a",
    ),
    Vector(
        0x2A18,
        "00" + "ffff" + STAMP_HEX,
        GlucoseMeasurement(0xFFFF, STAMP),
        "GSS §3.106: record without concentration, sequence 65535",
    ),
    # Flags 0x1f: every field and "context follows"; status 0x0801 = battery low (bit 0) +
    # time fault (bit 11).
    Vector(
        0x2A18,
        "1f" + "0700" + STAMP_HEX + "3c00" + "38c0" + "f9" + "0108",
        GlucoseMeasurement(
            7,
            STAMP,
            60,
            0.0056,
            True,
            GlucoseType.INTERSTITIAL_FLUID,
            SampleLocation.NOT_AVAILABLE,
            ("battery_low", "time_fault"),
            context_follows=True,
        ),
        "GSS §3.106: offset +60 min = 0x003c, type 9 ISF, location 15 n/a (0xf9)",
    ),
    Vector(0x2A34, "02" + "0100" + "01", GlucoseContext(1, meal=Meal.PREPRANDIAL), "GSS §3.107"),
    # Flags 0x5f: carbohydrate (0), meal (1), tester/health (2), exercise (3), medication (4),
    # HbA1c (6); medication in kg (bit 5 clear).
    # carbohydrate 1 breakfast, 0.05 kg = 5 × 10⁻² → 0xe005 → "05e0"; meal 2 postprandial;
    # tester self (1) / health none (5) → 0x51; exercise 1800 s = 0x0708 → "0807", 50 % = 0x32;
    # medication 1 rapid-acting, 4 × 10⁻⁶ kg → exponent 0xa → 0xa004 → "04a0";
    # HbA1c 6.5 % = 65 × 10⁻¹ → 0xf041 → "41f0".
    Vector(
        0x2A34,
        "5f" + "0700" + "0105e0" + "02" + "51" + "080732" + "0104a0" + "41f0",
        GlucoseContext(
            7,
            (CarbohydrateId.BREAKFAST, 0.05),
            Meal.POSTPRANDIAL,
            Tester.SELF,
            Health.NO_ISSUES,
            1800,
            50,
            (MedicationId.RAPID_ACTING_INSULIN, 0.000004),
            False,
            6.5,
        ),
        "GSS §3.107 by hand",
    ),
    # Extended flags present (bit 7) and zero; medication in litres (bit 5): 0.01 L = 1 × 10⁻²
    # → 0xe001 → "01e0", long-acting insulin (4).
    Vector(
        0x2A34,
        "b0" + "0900" + "00" + "0401e0",
        GlucoseContext(
            9,
            medication=(MedicationId.LONG_ACTING_INSULIN, 0.01),
            medication_in_litres=True,
        ),
        "GSS §3.107: extended flags, litres",
    ),
    # RACP responses (GLS §3.6.2): number of records 10 → 05 00 0a00; response code to
    # "report stored records" (1): success (1), no records found (6).
    Vector(0x2A52, "05000a00", RacpNumberOfRecords(10), "GLS 1.0 §3.6.2"),
    Vector(
        0x2A52,
        "06000101",
        RacpResponseCode(OpCode.REPORT_STORED_RECORDS, ResponseCode.SUCCESS),
        "GLS §3.6.2",
    ),
    Vector(
        0x2A52,
        "06000106",
        RacpResponseCode(OpCode.REPORT_STORED_RECORDS, ResponseCode.NO_RECORDS_FOUND),
        "GLS §3.6.2",
    ),
    # A meter echoes an op code it does not know (0x09) with "op code not supported" (2).
    Vector(
        0x2A52,
        "06000902",
        RacpResponseCode(9, ResponseCode.OP_CODE_NOT_SUPPORTED),
        "GLS §3.6.2: unsupported op code echoed",
    ),
    Vector(
        0x2A52,
        "06000307",
        RacpResponseCode(OpCode.ABORT_OPERATION, ResponseCode.ABORT_UNSUCCESSFUL),
        "GLS §3.6.2",
    ),
]

# --- Device characteristics ----------------------------------------------------------------
DEVICE = [
    Vector(0x2A08, STAMP_HEX, DateTimeValue(STAMP), "GSS §3.70 Date Time"),
    Vector(0x2A08, "00000000000000", DateTimeValue(DateTime(0, 0, 0)), "GSS §3.70: unknown"),
    # Current Time: date time | day of week 1 (2026-11-23 is a Monday) | fractions256
    # 0x80 = 128/256 s | adjust reason 0x01 manual update.
    Vector(
        0x2A2B,
        STAMP_HEX + "018001",
        CurrentTime(STAMP, 1, 128, ("manual_time_update",)),
        "CTS 1.1 §3.1, GSS §3.62",
    ),
    Vector(
        0x2A2B,
        "e807021d173b3b" + "040000",
        CurrentTime(DateTime(2024, 2, 29, 23, 59, 59), 4),
        "CTS §3.1: leap day 2024-02-29 (year 0x07e8, day 0x1d), a Thursday",
    ),
    Vector(0x2A19, "64", BatteryLevel(100), "BAS 1.0 §3.1: 0x64 = 100 %"),
    Vector(0x2A19, "0f", BatteryLevel(15), "BAS §3.1"),
    # "VitalGate" in UTF-8; the second with the NUL padding some devices send.
    Vector(
        0x2A29,
        "566974616c47617465",
        DeviceString("Manufacturer Name String (0x2A29)", "VitalGate"),
        "DIS 1.1 §3.2",
    ),
    Vector(
        0x2A24,
        "5647312d4250000000",
        DeviceString("Model Number String (0x2A24)", "VG1-BP"),
        "DIS §3.3, NUL padded",
    ),
]
