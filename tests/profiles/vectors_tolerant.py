"""Vectors for what the specification allows a newer device to send, and from other projects.

``RESERVED``: one vector per characteristic with reserved-for-future-use (RFU) flag bits or
reserved codes, by hand. The rule they check (Bluetooth Core Specification, Vol 1, Part E,
"reserved for future use"): a receiver ignores RFU bits and treats a reserved value as
unknown. Where an RFU *flag* bit is set, the bytes after the defined fields are the unknown
field it announces: they are ignored, and the defined fields must still decode exactly
(the trailing "ee…" bytes below stand for such a field).

``PUBLISHED``: byte vectors from other projects' public test suites, each with its
repository and test; expected values worked out again here from the GATT Specification
Supplement (GSS), not copied from their assertions.
"""

from __future__ import annotations

from gateway.ble.profiles import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    BodyCompositionMeasurement,
    BodySensorLocation,
    CurrentTime,
    DateTime,
    DateTimeValue,
    GlucoseContext,
    GlucoseMeasurement,
    HeartRateMeasurement,
    IntermediateCuffPressure,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
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
    Meal,
    MedicationId,
    SampleLocation,
)
from gateway.ble.profiles.heart_rate import SensorLocation
from gateway.ble.profiles.racp import OpCode, ResponseCode
from gateway.ble.profiles.temperature import TemperatureType
from tests.profiles._vector import STAMP, STAMP_HEX, Vector

RFU = "Core Spec Vol 1 Part E (RFU ignored on receipt)"

# Shared fragments (see vectors_vitals.py / vectors_records.py for the arithmetic):
# cuff 120/80/93 mmHg "780050005d00"; FLOAT 36.4 °C "6c0100ff"; SpO2 97 "6100", PR 72 "4800";
# 69.58 kg "5c36"; body fat 23.5 % "eb00"; 101 mg/dL "65b0"; pulse 72 "4800".
RESERVED = [
    # --- 0x2A37: flag bits 5–7 RFU.
    Vector(0x2A37, "204848", HeartRateMeasurement(72, None), f"HRS §3.1.1 flags 0x20: {RFU}"),
    # Flags 0x38 = RFU bit 5 + energy (bit 3) + RR (bit 4): RR intervals run to the end of
    # the value, so with an RFU field possibly appended they are left out, never misread.
    Vector(
        0x2A37,
        "38482c010004ee",
        HeartRateMeasurement(72, None, 300),
        f"HRS §3.1.1 flags 0x38: {RFU}; RR intervals not delimitable",
    ),
    # --- 0x2A38: locations 7–255 reserved → the plain number (unknown location).
    Vector(0x2A38, "07", BodySensorLocation(7), f"HRS §3.2.1 location 7: {RFU}"),
    # --- 0x2A35 / 0x2A36: flag bits 5–7 RFU; status bits 6–15 RFU, bits 3–4 value 3 reserved.
    Vector(
        0x2A35,
        "20780050005d00",
        BloodPressureMeasurement(120.0, 80.0, 93.0),
        f"BLS §3.1.1 flags 0x20: {RFU}",
    ),
    Vector(
        0x2A35,
        "24780050005d004800eeee",
        BloodPressureMeasurement(120.0, 80.0, 93.0, pulse_rate=72.0),
        f"BLS §3.1.1 flags 0x24 (RFU bit 5 + pulse), unknown trailing field: {RFU}",
    ),
    Vector(
        0x2A35,
        "10780050005d004100",
        BloodPressureMeasurement(120.0, 80.0, 93.0, status=("body_movement",)),
        f"BLS §3.1.1.7 status 0x0041 (bit 6 RFU): {RFU}",
    ),
    Vector(
        0x2A35,
        "10780050005d001800",
        BloodPressureMeasurement(120.0, 80.0, 93.0, status=()),
        f"BLS §3.1.1.7 status bits 3–4 = 3, a reserved range value: {RFU}",
    ),
    Vector(
        0x2A36,
        "402800ff07ff07",
        IntermediateCuffPressure(40.0),
        f"BLS §3.2 flags 0x40: {RFU}",
    ),
    # 0x2A49: 0x4001 = body movement detection + bit 14 (not defined by BLS 1.0).
    Vector(
        0x2A49,
        "0140",
        BloodPressureFeature(("body_movement_detection",)),
        f"BLS §3.3.1 bit 14: {RFU}",
    ),
    # --- 0x2A1C / 0x2A1E / 0x2A1D: flag bits 3–7 RFU; type 0 and 10–255 reserved.
    Vector(
        0x2A1C,
        "046c0100ff00",
        TemperatureMeasurement(36.4, temperature_type=0),
        f"GSS §3.226 temperature type 0 reserved → unknown: {RFU}",
    ),
    Vector(
        0x2A1C,
        "046c0100ff0a",
        TemperatureMeasurement(36.4, temperature_type=10),
        f"GSS §3.226 temperature type 10 reserved → unknown: {RFU}",
    ),
    Vector(0x2A1C, "086c0100ff", TemperatureMeasurement(36.4), f"HTS §3.1.1 flags 0x08: {RFU}"),
    Vector(
        0x2A1E,
        "0c6c0100ff03ee",
        TemperatureMeasurement(36.4, temperature_type=TemperatureType.EAR, intermediate=True),
        f"HTS §3.2 flags 0x0c (RFU bit 3 + type), unknown trailing field: {RFU}",
    ),
    Vector(0x2A1D, "00", TemperatureTypeValue(0), f"GSS §3.226 type 0: {RFU}"),
    # --- 0x2A5E / 0x2A5F / 0x2A60: flag bits 5–7, status bits 0–4, device bits 16–23 RFU.
    Vector(
        0x2A5E,
        "2861004800" + "19f0" + "ee",
        PlxSpotCheck(97.0, 72.0, pulse_amplitude_index=2.5),
        f"PLXS §3.1.1 flags 0x28 (RFU bit 5 + PAI), unknown trailing field: {RFU}",
    ),
    Vector(
        0x2A5E,
        "02610048008100",
        PlxSpotCheck(97.0, 72.0, measurement_status=("validated_data",)),
        f"PLXS §3.1.1.4 status 0x0081 (bit 0 RFU): {RFU}",
    ),
    Vector(
        0x2A5E,
        "0461004800002001",
        PlxSpotCheck(97.0, 72.0, device_sensor_status=("sensor_displaced",)),
        f"PLXS §3.1.1.5 device status 0x012000 (bit 16 RFU): {RFU}",
    ),
    Vector(
        0x2A5F,
        "205f005000",
        PlxContinuous(SpO2PR(95.0, 80.0)),
        f"PLXS §3.2.1 flags 0x20: {RFU}",
    ),
    # Features 0x0101 = measurement status support (bit 0) + bit 8 RFU; support word 0x0080.
    Vector(
        0x2A60,
        "0101" + "8000" + "ee",
        PlxFeatures(("measurement_status",), ("validated_data",)),
        f"PLXS §3.3.1 feature bit 8, unknown trailing field: {RFU}",
    ),
    # --- 0x2A9D / 0x2A9E: flag bits 4–7 RFU; feature bits 10–31 and resolution codes RFU.
    Vector(0x2A9D, "105c36", WeightMeasurement(69.58), f"WSS §3.1.1 flags 0x10: {RFU}"),
    Vector(
        0x2A9D,
        "145c3602ee",
        WeightMeasurement(69.58, user_id=2),
        f"WSS §3.1.1 flags 0x14 (RFU bit 4 + user), unknown trailing field: {RFU}",
    ),
    Vector(0x2A9E, "01040000", WeightScaleFeature(True), f"WSS §3.2.1 bit 10: {RFU}"),
    # Weight resolution code 8 (0x40) and height code 4 (0x200) are reserved → unspecified.
    Vector(0x2A9E, "40020000", WeightScaleFeature(), f"WSS §3.2.1 resolution codes 8, 4: {RFU}"),
    # --- 0x2A9C: flag bits 13–15 RFU (more vectors from blevalueparser in PUBLISHED).
    Vector(
        0x2A9C,
        "0420eb0001ee",
        BodyCompositionMeasurement(23.5, user_id=1),
        f"BCS §3.2.1 flags 0x2004 (RFU bit 13 + user), unknown trailing field: {RFU}",
    ),
    # --- 0x2A18: flag bits 5–7 RFU; type 0/11–15, location 0/5–14, status bits 12–15 RFU.
    Vector(
        0x2A18,
        "020100" + STAMP_HEX + "65b010",
        GlucoseMeasurement(1, STAMP, None, 0.00101, False, 0, SampleLocation.FINGER),
        f"GSS §3.106 type 0 reserved → unknown: {RFU}",
    ),
    Vector(
        0x2A18,
        "020100" + STAMP_HEX + "65b051",
        GlucoseMeasurement(1, STAMP, None, 0.00101, False, GlucoseType.CAPILLARY_WHOLE_BLOOD, 5),
        f"GSS §3.106 sample location 5 reserved → unknown: {RFU}",
    ),
    Vector(
        0x2A18,
        "080100" + STAMP_HEX + "01f0",
        GlucoseMeasurement(1, STAMP, sensor_status=("battery_low",)),
        f"GSS §3.106 status 0xf001 (bits 12–15 RFU): {RFU}",
    ),
    Vector(
        0x2A18,
        "210100" + STAMP_HEX + "fbff" + "eeee",
        GlucoseMeasurement(1, STAMP, -5),
        f"GSS §3.106 flags 0x21 (RFU bit 5 + offset), unknown trailing field: {RFU}",
    ),
    # --- 0x2A34: every extended flag RFU; reserved codes stay numbers.
    Vector(
        0x2A34,
        "81" + "0100" + "01" + "0105e0" + "eeee",
        GlucoseContext(1, (CarbohydrateId.BREAKFAST, 0.05)),
        f"GSS §3.107 extended flags 0x01, unknown trailing field: {RFU}",
    ),
    Vector(
        0x2A34,
        "01" + "0100" + "0005e0",
        GlucoseContext(1, (0, 0.05)),
        f"GSS §3.107 carbohydrate id 0 reserved → unknown: {RFU}",
    ),
    # Tester/health 0x06: tester 6 and health 0 are reserved.
    Vector(0x2A34, "04010006", GlucoseContext(1, tester=6, health=0), f"GSS §3.107 nibbles: {RFU}"),
    Vector(
        0x2A34,
        "100100060000",
        GlucoseContext(1, medication=(6, 0.0)),
        f"GSS §3.107 medication id 6 reserved → unknown: {RFU}",
    ),
    # --- 0x2A52: response code 0 (and 10–255) reserved → an outcome not known (not success).
    Vector(
        0x2A52,
        "06000100",
        RacpResponseCode(OpCode.REPORT_STORED_RECORDS, 0),
        f"GLS §3.6.2 response code 0: {RFU}",
    ),
    # --- 0x2A2B: adjust reason bits 4–7 RFU; day of week 8–255 reserved → 0 (unknown).
    Vector(
        0x2A2B,
        STAMP_HEX + "088011",
        CurrentTime(STAMP, 0, 128, ("manual_time_update",)),
        f"CTS §3.1 day of week 8, adjust reason 0x11: {RFU}",
    ),
]

# --- From other projects' public tests ----------------------------------------------------
_NORDIC = "NordicSemiconductor/Android-BLE-Common-Library ble-common/src/test/…/callback"
_SPEZI = "StanfordSpezi/SpeziBluetooth Tests/SpeziBluetoothServicesTests"
_BVP = "eisaev/blevalueparser tests"

PUBLISHED = [
    # Nordic ht/TemperatureMeasurementDataCallbackTest: FLOAT 0xfe000eb0 = 3760 × 10⁻² =
    # 37.6 °C, 2012-12-05 11:50:27 (year 0x07dc), type 4 = finger.
    Vector(
        0x2A1C,
        "06b00e00fedc070c050b321b04",
        TemperatureMeasurement(37.6, False, DateTime(2012, 12, 5, 11, 50, 27), 4),
        f"{_NORDIC}/ht/TemperatureMeasurementDataCallbackTest",
    ),
    # Spezi HealthThermometerTests.testTemperatureType: TemperatureType.reserved (0) and
    # rawValue 23 travel as one byte; both are codes this version does not know.
    Vector(0x2A1D, "00", TemperatureTypeValue(0), f"{_SPEZI}/HealthThermometerTests"),
    Vector(0x2A1D, "17", TemperatureTypeValue(23), f"{_SPEZI}/HealthThermometerTests"),
    # Spezi testTemperatureMeasurement: MedFloat32 bit pattern 0xafafafaf (exponent 0xaf =
    # −81, mantissa 0xafafaf = −5263441), DateTime(hours 13, minutes 12, seconds 12) with
    # the date unknown (zeros), type ear (3).
    Vector(
        0x2A1C,
        "06afafafaf" + "000000000d0c0c" + "03",
        TemperatureMeasurement(
            -5263441 / 10**81, False, DateTime(0, 0, 0, 13, 12, 12), TemperatureType.EAR
        ),
        f"{_SPEZI}/HealthThermometerTests",
    ),
    # Nordic bps/BloodPressureMeasurementDataCallbackTest "full": flags 0x1e, 138/88/120 mmHg,
    # date with year unknown (0) 04-17 20:41:59, pulse 60, user 1, status 0x0027.
    Vector(
        0x2A35,
        "1e8a00580078000000041114293b3c00012700",
        BloodPressureMeasurement(
            138.0,
            88.0,
            120.0,
            time_stamp=DateTime(0, 4, 17, 20, 41, 59),
            pulse_rate=60.0,
            user_id=1,
            status=(
                "body_movement",
                "cuff_too_loose",
                "irregular_pulse",
                "improper_measurement_position",
            ),
        ),
        f"{_NORDIC}/bps/BloodPressureMeasurementDataCallbackTest (full)",
    ),
    # "some": kPa, 189 × 10⁻¹ / 11 / 159 × 10⁻¹, pulse 60, status 0x0012 = cuff too loose +
    # pulse rate range 2 (below lower limit).
    Vector(
        0x2A35,
        "15bdf00b009ff03c001200",
        BloodPressureMeasurement(
            18.9,
            11.0,
            15.9,
            kpa=True,
            pulse_rate=60.0,
            status=("cuff_too_loose", "pulse_rate_below_lower_limit"),
        ),
        f"{_NORDIC}/bps/BloodPressureMeasurementDataCallbackTest (some)",
    ),
    Vector(
        0x2A35,
        "00bdf00b009ff0",
        BloodPressureMeasurement(18.9, 11.0, 15.9),
        f"{_NORDIC}/bps/BloodPressureMeasurementDataCallbackTest (minimal)",
    ),
    # blevalueparser HeartRateMeasurementTest ContactsSupportedNotConnected and HR8_EE_RR1:
    # 0xaa = 170 /min, energy 0x01bb = 443 kJ, RR 0x01cc = 460/1024 s.
    Vector(
        0x2A37, "04aa", HeartRateMeasurement(170, False), f"{_BVP}/heartratemeasurementtest.cpp"
    ),
    Vector(
        0x2A37,
        "18aabb01cc01",
        HeartRateMeasurement(170, None, 443, (460 / 1024,)),
        f"{_BVP}/heartratemeasurementtest.cpp (HR8_EE_RR1)",
    ),
    # blevalueparser BodyCompositionMeasurementTest: the three messages with RFU flag bits.
    # FeaturesAll_SinglePacket_ReservedOdd: flags 0xaffe (bits 1–11, RFU bits 13 and 15);
    # body fat 0x3412 = 13330 × 0.1 % (implausible, but a wire value: plausibility is the
    # cleaning stage's), 2023-02-06 18:28:00, user 42, basal 0x4523 = 17699 kJ, muscle
    # 0x5634 × 0.1 % = 2206.8, masses × 0.005 kg: 0x6745 → 132.185, 0x7856 → 154.03,
    # 0x8967 → 175.875, 0x9a78 → 197.72; impedance 0xab89 × 0.1 Ω = 4391.3; weight
    # 0xbc9a → 241.41 kg; height 0xcdab × 0.001 m = 52.651.
    Vector(
        0x2A9C,
        "feaf" + "1234" + "e7070206121c00" + "2a" + "2345" + "3456" + "4567" + "5678"
        "6789" + "789a" + "89ab" + "9abc" + "abcd",
        BodyCompositionMeasurement(
            1333.0,
            time_stamp=DateTime(2023, 2, 6, 18, 28, 0),
            user_id=42,
            basal_metabolism_kj=17699,
            muscle_percent=2206.8,
            muscle_mass=132.185,
            fat_free_mass=154.03,
            soft_lean_mass=175.875,
            body_water_mass=197.72,
            impedance_ohm=4391.3,
            weight=241.41,
            height=52.651,
        ),
        f"{_BVP}/bodycompositionmeasurementtest.cpp (FeaturesAll_SinglePacket_ReservedOdd)",
    ),
    # FeaturesNone_MultiplePacket_ReservedEven: flags 0x5000 = multiple packet + RFU bit 14.
    Vector(
        0x2A9C,
        "00501234",
        BodyCompositionMeasurement(1333.0, multiple_packet=True),
        f"{_BVP}/bodycompositionmeasurementtest.cpp (FeaturesNone_MultiplePacket_ReservedEven)",
    ),
    # FeaturesOdd_SinglePacket_ReservedAll: flags 0xeaaa = bits 1, 3, 5, 7, 9, 11 + RFU 13–15.
    Vector(
        0x2A9C,
        "aaea" + "1234" + "e7070206121c00" + "2345" + "4567" + "6789" + "89ab" + "abcd",
        BodyCompositionMeasurement(
            1333.0,
            time_stamp=DateTime(2023, 2, 6, 18, 28, 0),
            basal_metabolism_kj=17699,
            muscle_mass=132.185,
            soft_lean_mass=175.875,
            impedance_ohm=4391.3,
            height=52.651,
        ),
        f"{_BVP}/bodycompositionmeasurementtest.cpp (FeaturesOdd_SinglePacket_ReservedAll)",
    ),
    # Spezi PLXTests: SFLOAT 0xf3e8 = 1000 × 10⁻¹ = 100 %, 0xf384 = 90 /min.
    Vector(
        0x2A5F, "00e8f384f3", PlxContinuous(SpO2PR(100.0, 90.0)), f"{_SPEZI}/PLXTests (very simple)"
    ),
    Vector(0x2A5F, "0064005a00", PlxContinuous(SpO2PR(100.0, 90.0)), f"{_SPEZI}/PLXTests"),
    # flags 0x1c: status 0x0020 (measurement ongoing), device status 0, PAI 0xf057 = 8.7 %.
    Vector(
        0x2A5F,
        "1c5f005a00200000000057f0",
        PlxContinuous(SpO2PR(95.0, 90.0), None, None, ("measurement_ongoing",), (), 8.7),
        f"{_SPEZI}/PLXTests (simple)",
    ),
    # flags 0x1f: normal 99/97, fast 97/137 (0xf55a), slow 98/69 (0xf2b2), status 0x0120,
    # PAI 0xe37a = 890 × 10⁻² = 8.9 %.
    Vector(
        0x2A5F,
        "1fdef3caf3caf35af5d4f3b2f220010000007ae3",
        PlxContinuous(
            SpO2PR(99.0, 97.0),
            SpO2PR(97.0, 137.0),
            SpO2PR(98.0, 69.0),
            ("measurement_ongoing", "fully_qualified_data"),
            (),
            8.9,
        ),
        f"{_SPEZI}/PLXTests (full)",
    ),
    # Spot check flags 0x0f: 94 % / 147 /min, 2024-11-29 23:08:57, status 0x4020, device
    # status 0x000022 (equipment malfunction, low perfusion), PAI 0xe366 = 8.7 %.
    Vector(
        0x2A5E,
        "0facf3bef5e8070b1d1708392040220000" + "66e3",
        PlxSpotCheck(
            94.0,
            147.0,
            DateTime(2024, 11, 29, 23, 8, 57),
            ("measurement_ongoing", "questionable_measurement"),
            ("equipment_malfunction", "low_perfusion"),
            8.7,
        ),
        f"{_SPEZI}/PLXTests (spot check)",
    ),
    # Features 0x00a3, status support 0x1040, device support 0x000180.
    Vector(
        0x2A60,
        "a30040108001" + "00",
        PlxFeatures(
            ("measurement_status", "device_and_sensor_status", "spo2pr_slow", "multiple_bonds"),
            ("early_estimated_data", "calibration_ongoing"),
            ("nonpulsatile_signal", "questionable_pulse"),
        ),
        f"{_SPEZI}/PLXTests (features)",
    ),
    # Nordic bps/IntermediateCuffPressureDataCallbackTest "full": flags 0x1e, cuff 4 mmHg (the
    # diastolic and MAP fields, zero here, are unused in 0x2A36), same tail as the BPM "full".
    Vector(
        0x2A36,
        "1e040000000000000004111429" + "3b3c00012700",
        IntermediateCuffPressure(
            4.0,
            time_stamp=DateTime(0, 4, 17, 20, 41, 59),
            pulse_rate=60.0,
            user_id=1,
            status=(
                "body_movement",
                "cuff_too_loose",
                "irregular_pulse",
                "improper_measurement_position",
            ),
        ),
        f"{_NORDIC}/bps/IntermediateCuffPressureDataCallbackTest (full)",
    ),
    # Nordic glucose/GlucoseMeasurementDataCallbackTest: flags 0x1b, sequence 1,
    # 2019-02-27 11:10:30, offset −5 min, SFLOAT 0x001e = 30 (kg/L as sent), type/location
    # 0x12 (capillary plasma, finger), status 0x0105 (bits 0, 2, 8).
    Vector(
        0x2A18,
        "1b0100e307021b0b0a1efbff1e00120501",
        GlucoseMeasurement(
            1,
            DateTime(2019, 2, 27, 11, 10, 30),
            -5,
            30.0,
            False,
            GlucoseType.CAPILLARY_PLASMA,
            SampleLocation.FINGER,
            ("battery_low", "sample_size_insufficient", "temperature_too_low"),
            context_follows=True,
        ),
        f"{_NORDIC}/glucose/GlucoseMeasurementDataCallbackTest",
    ),
    # The field set of Nordic glucose/GlucoseMeasurementContextDataCallbackTest "full":
    # flags 0xff, extended flags 0xb3 (Nordic ignores them too), dinner, meal casual,
    # tester/health 0x12 (professional, minor issues), 60 s at 50 %, long-acting insulin,
    # litres (bit 5). Its amounts are floats converted by Nordic's encoder; here written as
    # SFLOAT by hand: 100 → 0x0064, 123.5 = 1235 × 10⁻¹ → 0xf4d3, 34.5 = 345 × 10⁻¹ → 0xf159.
    Vector(
        0x2A34,
        "ff0000b303640004123c003204d3f459f1",
        GlucoseContext(
            0,
            (CarbohydrateId.DINNER, 100.0),
            Meal.CASUAL,
            2,
            1,
            60,
            50,
            (MedicationId.LONG_ACTING_INSULIN, 123.5),
            True,
            34.5,
        ),
        f"after {_NORDIC}/glucose/GlucoseMeasurementContextDataCallbackTest (full)",
    ),
    # Nordic RecordAccessControlPointDataCallbackTest: success for op 1; op code 12 echoed
    # as not supported; the unknown error code 10 stays a number.
    Vector(
        0x2A52,
        "06000101",
        RacpResponseCode(OpCode.REPORT_STORED_RECORDS, ResponseCode.SUCCESS),
        f"{_NORDIC}/RecordAccessControlPointDataCallbackTest",
    ),
    Vector(
        0x2A52,
        "06000c02",
        RacpResponseCode(12, ResponseCode.OP_CODE_NOT_SUPPORTED),
        f"{_NORDIC}/RecordAccessControlPointDataCallbackTest (op code not supported)",
    ),
    Vector(
        0x2A52,
        "0600010a",
        RacpResponseCode(OpCode.REPORT_STORED_RECORDS, 10),
        f"{_NORDIC}/RecordAccessControlPointDataCallbackTest (unknown error code)",
    ),
    # Nordic hr/BodySensorLocationDataCallbackTest: ear lobe (5).
    Vector(
        0x2A38,
        "05",
        BodySensorLocation(SensorLocation.EAR_LOBE),
        f"{_NORDIC}/hr/BodySensorLocationDataCallbackTest",
    ),
    # Nordic DateTimeDataCallbackTest: 2018-04-17 15:51:00, and a time with the date unknown.
    Vector(
        0x2A08,
        "e20704110f3300",
        DateTimeValue(DateTime(2018, 4, 17, 15, 51, 0)),
        f"{_NORDIC}/DateTimeDataCallbackTest (today)",
    ),
    Vector(
        0x2A08,
        "00000000121a20",
        DateTimeValue(DateTime(0, 0, 0, 18, 26, 32)),
        f"{_NORDIC}/DateTimeDataCallbackTest (date not known)",
    ),
    # blevalueparser CurrentTimeTest Manual_255: 2023-01-02 20:22:07, Monday (1),
    # fractions 255/256 s, adjust reason 0x01 (manual).
    Vector(
        0x2A2B,
        "e7070102141607" + "01ff01",
        CurrentTime(DateTime(2023, 1, 2, 20, 22, 7), 1, 255, ("manual_time_update",)),
        f"{_BVP}/currenttimetest.cpp (Manual_255)",
    ),
    # Spezi WeightScaleTests: weight raw 123 (× 0.005 kg = 0.615), time 13:12:12 date
    # unknown, user 23; and BMI raw 230 (23.0) with height raw 1760 (1.76 m).
    Vector(
        0x2A9D,
        "067b00" + "000000000d0c0c" + "17",
        WeightMeasurement(0.615, False, DateTime(0, 0, 0, 13, 12, 12), 23),
        f"{_SPEZI}/WeightScaleTests",
    ),
    Vector(
        0x2A9D,
        "087b00e600e006",
        WeightMeasurement(0.615, bmi=23.0, height=1.76),
        f"{_SPEZI}/WeightScaleTests",
    ),
]
