"""Vectors for heart rate, blood pressure, SFLOAT specials, thermometer and oximeter.

See ``tests/profiles/vectors.py`` for the sources and conventions.
"""

from __future__ import annotations

from gateway.ble.profiles import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    BodySensorLocation,
    HeartRateMeasurement,
    IntermediateCuffPressure,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
    SpO2PR,
    TemperatureMeasurement,
    TemperatureTypeValue,
)
from gateway.ble.profiles.heart_rate import SensorLocation
from gateway.ble.profiles.temperature import TemperatureType
from tests.profiles._vector import STAMP, STAMP_HEX, Vector

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
