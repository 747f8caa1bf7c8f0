"""Byte vectors for every characteristic, each with its source.

Sources: byte layouts derived by hand from the Bluetooth SIG service specifications and the
GATT Specification Supplement (GSS), with the arithmetic in the comment; IEEE 11073-20601
Annex F for SFLOAT/FLOAT. Multi-byte fields are little-endian, so 0x0078 is written "7800".
The flag-combination vectors are assembled from hand-written field fragments (one per
optional field) — never from the encoders under test.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from gateway.ble.profiles import (
    BatteryLevel,
    BloodPressureFeature,
    BloodPressureMeasurement,
    BodyCompositionMeasurement,
    BodySensorLocation,
    CurrentTime,
    DateTime,
    DateTimeValue,
    DeviceString,
    GlucoseContext,
    GlucoseMeasurement,
    HeartRateMeasurement,
    IntermediateCuffPressure,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
    RacpNumberOfRecords,
    RacpResponseCode,
    SpO2PR,
    TemperatureMeasurement,
    TemperatureTypeValue,
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
from gateway.ble.profiles.heart_rate import SensorLocation
from gateway.ble.profiles.racp import OpCode, ResponseCode
from gateway.ble.profiles.temperature import TemperatureType


class Vector(NamedTuple):
    uuid: int
    hex: str
    expected: Any
    source: str


# 2026-11-23 08:30:15: year 2026 = 0x07EA → "ea07", month 11 = 0x0b, day 23 = 0x17,
# hours 8 = 0x08, minutes 30 = 0x1e, seconds 15 = 0x0f (GSS §3.70 Date Time).
STAMP_HEX = "ea070b17081e0f"
STAMP = DateTime(2026, 11, 23, 8, 30, 15)

# --- Heart Rate Measurement 0x2A37: all 32 combinations of flag bits 0–4 ------------------
# HRS 1.0 §3.1.1: bit 0 u16 value, bit 1 contact detected, bit 2 contact supported,
# bit 3 energy expended, bit 4 RR intervals. Fragments:
#   value u8 72 = 0x48 → "48"; value u16 72 = 0x0048 → "4800"
#   energy 300 kJ = 0x012c → "2c01"
#   RR 0x0400 = 1024/1024 = 1.0 s → "0004"; 0x0318 = 792/1024 = 0.7734375 s → "1803"
#   contact: bit 2 clear → not supported (None, bit 1 ignored); bit 2 set → bit 1 = detected.


def _hr_vector(flags: int) -> Vector:
    u16, detected, supported, energy, rr = (bool(flags >> bit & 1) for bit in range(5))
    data = f"{flags:02x}" + ("4800" if u16 else "48")
    data += "2c01" if energy else ""
    data += "00041803" if rr else ""
    expected = HeartRateMeasurement(
        heart_rate=72,
        sensor_contact=detected if supported else None,
        energy_expended_kj=300 if energy else None,
        rr_intervals=(1.0, 0.7734375) if rr else (),
        uint16_format=u16,
    )
    return Vector(0x2A37, data, expected, f"HRS 1.0 §3.1.1 by hand, flags 0x{flags:02x}")


HEART_RATE = [_hr_vector(flags) for flags in range(32)] + [
    # u16 value 0x0190 = 400 /min (a uint16 value above 255); contact supported, detected.
    Vector(0x2A37, "079001", HeartRateMeasurement(400, True, uint16_format=True), "HRS §3.1.1.2"),
    # Five RR intervals: 0x0320=800 → 0.78125 s, 0x0340=832 → 0.8125, 0x0300=768 → 0.75,
    # 0x0360=864 → 0.84375, 0x0380=896 → 0.875 s.
    Vector(
        0x2A37,
        "103c20034003000360038003",
        HeartRateMeasurement(60, None, rr_intervals=(0.78125, 0.8125, 0.75, 0.84375, 0.875)),
        "HRS §3.1.1.5: any number of RR intervals",
    ),
    # 0x2A38 Body Sensor Location: 1 = chest (HRS §3.2.1.1).
    Vector(0x2A38, "01", BodySensorLocation(SensorLocation.CHEST), "HRS §3.2"),
    Vector(0x2A38, "02", BodySensorLocation(SensorLocation.WRIST), "HRS §3.2"),
]

# --- Blood Pressure Measurement 0x2A35: all 32 combinations of flag bits 0–4 --------------
# BLS 1.0 §3.1.1: bit 0 kPa, 1 time stamp, 2 pulse rate, 3 user id, 4 measurement status.
# mmHg: 120 = SFLOAT exp 0 mantissa 0x078 → "7800"; 80 → "5000"; 93 = 0x05d → "5d00".
# kPa: 16.0 = 160 × 10⁻¹ → exp 0xF, mantissa 0x0a0 → 0xf0a0 → "a0f0"; 10.7 = 107 × 10⁻¹ →
#   0xf06b → "6bf0"; 12.4 = 124 × 10⁻¹ → 0xf07c → "7cf0".
# pulse 72 → "4800"; user id 1 → "01"; status 0x0005 = body movement (bit 0) + irregular
# pulse (bit 2) → "0500".


def _bp_vector(flags: int) -> Vector:
    kpa, stamp, pulse, user, status = (bool(flags >> bit & 1) for bit in range(5))
    data = f"{flags:02x}" + ("a0f06bf07cf0" if kpa else "780050005d00")
    data += (STAMP_HEX if stamp else "") + ("4800" if pulse else "")
    data += ("01" if user else "") + ("0500" if status else "")
    values = (16.0, 10.7, 12.4) if kpa else (120.0, 80.0, 93.0)
    expected = BloodPressureMeasurement(
        *values,
        kpa=kpa,
        time_stamp=STAMP if stamp else None,
        pulse_rate=72.0 if pulse else None,
        user_id=1 if user else None,
        status=("body_movement", "irregular_pulse") if status else None,
    )
    return Vector(0x2A35, data, expected, f"BLS 1.0 §3.1.1 by hand, flags 0x{flags:02x}")


BLOOD_PRESSURE = [_bp_vector(flags) for flags in range(32)] + [
    # Every status bit: 0x003f minus the reserved range value 3 in bits 3–4 → 0x002f:
    # movement, cuff loose, irregular, pulse above upper limit (bits 3–4 = 01), position.
    Vector(
        0x2A35,
        "10" + "780050005d00" + "2f00",
        BloodPressureMeasurement(
            120.0,
            80.0,
            93.0,
            status=(
                "body_movement",
                "cuff_too_loose",
                "irregular_pulse",
                "pulse_rate_above_upper_limit",
                "improper_measurement_position",
            ),
        ),
        "BLS §3.1.1.7 by hand",
    ),
    # Bits 3–4 = 10 (0x0010): pulse rate below lower limit; user 0xff = unknown user.
    Vector(
        0x2A35,
        "18" + "780050005d00" + "ff" + "1000",
        BloodPressureMeasurement(
            120.0, 80.0, 93.0, user_id=0xFF, status=("pulse_rate_below_lower_limit",)
        ),
        "BLS §3.1.1.6–7",
    ),
    # 0x2A36: cuff 40 mmHg = 0x0028 → "2800"; diastolic and MAP unused = NaN 0x07ff → "ff07".
    Vector(0x2A36, "002800ff07ff07", IntermediateCuffPressure(40.0), "BLS 1.0 §3.2"),
    # 0x2A36 in kPa with pulse: 5.3 kPa = 53 × 10⁻¹ → 0xf035 → "35f0".
    Vector(
        0x2A36,
        "0535f0ff07ff074800",
        IntermediateCuffPressure(5.3, kpa=True, pulse_rate=72.0),
        "BLS 1.0 §3.2",
    ),
    # 0x2A49: 0x003f = all six BLS 1.0 features; 0x0005 = movement + irregular pulse.
    Vector(
        0x2A49,
        "3f00",
        BloodPressureFeature(
            (
                "body_movement_detection",
                "cuff_fit_detection",
                "irregular_pulse_detection",
                "pulse_rate_range_detection",
                "measurement_position_detection",
                "multiple_bonds",
            )
        ),
        "BLS 1.0 §3.3.1",
    ),
    Vector(
        0x2A49,
        "0500",
        BloodPressureFeature(("body_movement_detection", "irregular_pulse_detection")),
        "BLS 1.0 §3.3.1",
    ),
]

# --- SFLOAT special values through a cuff reading: MAP field carries each one -----------
# IEEE 11073-20601 Annex F.8: NaN 0x07ff, NRes 0x0800, +INF 0x07fe, −INF 0x0802, reserved 0x0801.
SFLOAT_SPECIAL_VECTORS = [
    Vector(
        0x2A35,
        "00" + "78005000" + raw,
        BloodPressureMeasurement(120.0, 80.0, None),
        f"IEEE 11073-20601 F.8: {name} → no value",
    )
    for raw, name in (
        ("ff07", "NaN"),
        ("0008", "NRes"),
        ("fe07", "+INF"),
        ("0208", "-INF"),
        ("0108", "reserved"),
    )
]

# --- Health Thermometer 0x2A1C / 0x2A1E / 0x2A1D ------------------------------------------
# FLOAT 36.4 = 364 × 10⁻¹: exponent −1 = 0xff, mantissa 364 = 0x00016c → 0xff00016c → "6c0100ff".
# FLOAT 98.6 °F = 986 × 10⁻¹ → 0xff0003da → "da0300ff"; (98.6 − 32) × 5/9 = 37.0 °C.
# FLOAT 101.2 °F = 1012 × 10⁻¹ → 0xff0003f4 → "f40300ff".
TEMPERATURE = [
    Vector(0x2A1C, "006c0100ff", TemperatureMeasurement(36.4), "HTS 1.0 §3.1.1, flags 0"),
    Vector(
        0x2A1C,
        "07da0300ff" + STAMP_HEX + "06",
        TemperatureMeasurement(98.6, True, STAMP, TemperatureType.MOUTH),
        "HTS §3.1.1: °F, time stamp, type 6 = mouth",
    ),
    Vector(
        0x2A1C,
        "02f40300ff" + STAMP_HEX,
        TemperatureMeasurement(101.2, False, STAMP),
        "HTS §3.1.1: time stamp only",
    ),
    Vector(
        0x2A1C,
        "04" + "6c0100ff" + "03",
        TemperatureMeasurement(36.4, temperature_type=TemperatureType.EAR),
        "HTS §3.1.1: type 3 = ear",
    ),
    # FLOAT NaN 0x007fffff → "ffff7f00": thermometer shows "Err" → no value.
    Vector(0x2A1C, "00ffff7f00", TemperatureMeasurement(None), "IEEE 11073 F.6 NaN"),
    Vector(0x2A1C, "0100008000", TemperatureMeasurement(None, True), "IEEE 11073 F.6 NRes"),
    Vector(0x2A1C, "00feff7f00", TemperatureMeasurement(None), "IEEE 11073 F.6 +INF"),
    Vector(0x2A1C, "0002008000", TemperatureMeasurement(None), "IEEE 11073 F.6 −INF"),
    Vector(0x2A1C, "0001008000", TemperatureMeasurement(None), "IEEE 11073 F.6 reserved"),
    # FLOAT 37.25 = 3725 × 10⁻² → exponent 0xfe, mantissa 0x000e8d → "8d0e00fe".
    Vector(
        0x2A1E,
        "008d0e00fe",
        TemperatureMeasurement(37.25, intermediate=True),
        "HTS §3.2 intermediate",
    ),
    Vector(0x2A1D, "02", TemperatureTypeValue(TemperatureType.BODY), "HTS §3.3, GSS §3.226"),
    Vector(0x2A1D, "09", TemperatureTypeValue(TemperatureType.TYMPANUM), "GSS §3.226"),
]

# --- Pulse oximeter 0x2A5E / 0x2A5F / 0x2A60 ---------------------------------------------
# SpO2 97 % = 0x0061 → "6100"; PR 72 → "4800"; SpO2 95 → "5f00", PR 80 → "5000";
# fast 94 → "5e00", 82 → "5200"; slow 96 → "6000", 78 → "4e00".
# Measurement status 0x0080 = validated data (bit 7) → "8000".
# Device/sensor status 0x002000 = sensor displaced (bit 13) → u24 "002000".
# PAI 2.5 % = 25 × 10⁻¹ → 0xf019 → "19f0".
PLX = [
    Vector(0x2A5E, "0061004800", PlxSpotCheck(97.0, 72.0), "PLXS 1.0.1 §3.1.1, flags 0"),
    Vector(
        0x2A5E,
        "1f61004800" + STAMP_HEX + "8000" + "002000" + "19f0",
        PlxSpotCheck(
            97.0,
            72.0,
            STAMP,
            ("validated_data",),
            ("sensor_displaced",),
            2.5,
            clock_not_set=True,
        ),
        "PLXS §3.1.1: every optional field, device clock not set",
    ),
    Vector(
        0x2A5E,
        "02ff07ff07" + "0020",
        PlxSpotCheck(None, None, measurement_status=("measurement_unavailable",)),
        "PLXS §3.1.1: SpO2 and PR NaN, status bit 13 unavailable (0x2000)",
    ),
    Vector(0x2A5F, "005f005000", PlxContinuous(SpO2PR(95.0, 80.0)), "PLXS §3.2.1, flags 0"),
    Vector(
        0x2A5F,
        "03" + "5f005000" + "5e005200" + "60004e00",
        PlxContinuous(SpO2PR(95.0, 80.0), SpO2PR(94.0, 82.0), SpO2PR(96.0, 78.0)),
        "PLXS §3.2.1: fast and slow",
    ),
    Vector(
        0x2A5F,
        "1c" + "5f005000" + "8000" + "002000" + "19f0",
        PlxContinuous(
            SpO2PR(95.0, 80.0),
            measurement_status=("validated_data",),
            device_sensor_status=("sensor_displaced",),
            pulse_amplitude_index=2.5,
        ),
        "PLXS §3.2.1: status words and PAI",
    ),
    # Features 0x0003 + measurement status support 0xffe0 (bits 5–15) + device/sensor 0x00ffff.
    Vector(
        0x2A60,
        "0300" + "e0ff" + "ffff00",
        PlxFeatures(
            ("measurement_status", "device_and_sensor_status"),
            (
                "measurement_ongoing",
                "early_estimated_data",
                "validated_data",
                "fully_qualified_data",
                "data_from_storage",
                "data_for_demonstration",
                "data_for_testing",
                "calibration_ongoing",
                "measurement_unavailable",
                "questionable_measurement",
                "invalid_measurement",
            ),
            (
                "extended_display_update_ongoing",
                "equipment_malfunction",
                "signal_processing_irregularity",
                "inadequate_signal",
                "poor_signal",
                "low_perfusion",
                "erratic_signal",
                "nonpulsatile_signal",
                "questionable_pulse",
                "signal_analysis_ongoing",
                "sensor_interference",
                "sensor_unconnected_to_user",
                "unknown_sensor_connected",
                "sensor_displaced",
                "sensor_malfunctioning",
                "sensor_disconnected",
            ),
        ),
        "PLXS §3.3.1: every support bit",
    ),
    # 0x0018 = spot-check time stamp (bit 3) + SpO2PR-fast (bit 4).
    Vector(
        0x2A60,
        "1800",
        PlxFeatures(("spot_check_time_stamp", "spo2pr_fast")),
        "PLXS §3.3.1",
    ),
]

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

ALL: list[Vector] = (
    HEART_RATE
    + BLOOD_PRESSURE
    + SFLOAT_SPECIAL_VECTORS
    + TEMPERATURE
    + PLX
    + WEIGHT
    + GLUCOSE
    + DEVICE
)
