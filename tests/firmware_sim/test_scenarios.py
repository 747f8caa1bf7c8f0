"""Seeded physiology and the shipped scenarios: each shows what a clinician would recognise.

Readings are taken the way a patient takes them (morning weight, morning cuff, spot
oximetry) through the simulated devices, and checked against the clinical definition the
scenario claims, for several seeds.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

import pytest

from firmware_sim.devices import BloodPressureCuff, GlucoseMeter, PulseOximeter, Scale, Thermometer
from firmware_sim.devices.base import DEFAULT_START
from firmware_sim.errors import ScenarioError
from firmware_sim.physiology import PatientModel
from firmware_sim.scenario import STABLE, FaultKind, available, load, parse
from gateway.ble.profiles import DeviceKind
from gateway.wire import Metric

SEEDS = (1, 2, 3, 4, 5)


def day(n: float, hour: float = 9.0) -> datetime:
    """``n`` days after the start, at ``hour`` o'clock (the start is 07:00 on day 0)."""
    return DEFAULT_START.replace(hour=0) + timedelta(days=n, hours=hour)


def test_shipped_scenarios_all_load() -> None:
    assert available() == [
        "copd_exacerbation",
        "device_faults",
        "fever",
        "heart_failure_decompensation",
        "heart_failure_slow",
        "hypertensive_urgency",
        "hypoglycaemia",
        "stable",
    ]
    assert [load(name).name for name in available()] == available()


def test_the_model_is_a_pure_function_of_seed_and_time() -> None:
    a = PatientModel(7, DEFAULT_START)
    b = PatientModel(7, DEFAULT_START)
    c = PatientModel(8, DEFAULT_START)
    when = day(2)
    assert a.sample(Metric.HEART_RATE, when) == b.sample(Metric.HEART_RATE, when)
    assert a.sample(Metric.HEART_RATE, when) != c.sample(Metric.HEART_RATE, when)
    assert a.mean(Metric.SPO2, when) == 97.0


def test_circadian_heart_rate_is_lowest_before_dawn() -> None:
    model = STABLE.patient(1, DEFAULT_START)
    night = model.mean(Metric.HEART_RATE, day(1, 4))
    afternoon = model.mean(Metric.HEART_RATE, day(1, 16))
    assert (night, afternoon) == (62.0, 74.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_stable_patient_stays_in_normal_ranges(seed: int) -> None:
    cuff = BloodPressureCuff("AA:BP", seed=seed)
    oximeter = PulseOximeter("AA:OX", seed=seed)
    readings = [cuff.measure(day(d)) for d in range(30)]
    assert all(100 <= r.systolic <= 150 for r in readings)  # type: ignore[operator]
    spots = []
    for d in range(30):
        oximeter.set_time(day(d))
        spots.append(oximeter.spot_check().spo2)
    assert all(94 <= s <= 100 for s in spots)  # type: ignore[operator]


@pytest.mark.parametrize("seed", SEEDS)
def test_heart_failure_decompensation(seed: int) -> None:
    scenario = load("heart_failure_decompensation")
    scale = Scale("AA:SC", seed=seed, scenario=scenario)
    weights = [scale.measure(day(d, 7))[0].weight for d in range(14)]
    assert weights[10] - weights[7] >= 2.0  # type: ignore[operator]  # ≥ 2 kg over 3 days
    assert max(weights[:7]) - min(weights[:7]) < 1.0  # type: ignore[type-var,operator]
    model = scenario.patient(seed, DEFAULT_START)
    resting = [model.sample(Metric.HEART_RATE, day(d, 4)) for d in range(14)]
    assert statistics.mean(resting[11:]) - statistics.mean(resting[:6]) >= 10


@pytest.mark.parametrize("seed", SEEDS)
def test_copd_exacerbation_drifts_spo2_to_88_to_91(seed: int) -> None:
    oximeter = PulseOximeter("AA:OX", seed=seed, scenario=load("copd_exacerbation"))
    spo2: dict[int, float] = {}
    for hour in range(0, 14 * 24, 2):
        oximeter.set_time(DEFAULT_START + timedelta(hours=hour))
        value = oximeter.spot_check().spo2
        assert value is not None
        spo2[hour] = value
    before = [v for h, v in spo2.items() if h < 96]
    during = [v for h, v in spo2.items() if 132 <= h < 240]  # the plateau, after the ramp
    in_band = [v for v in during if 88 <= v <= 91]
    assert statistics.mean(before) >= 93
    assert len(in_band) >= 0.9 * len(during)
    assert 88 <= statistics.mean(during) <= 91


@pytest.mark.parametrize("seed", SEEDS)
def test_hypertensive_urgency_reaches_180_over_110(seed: int) -> None:
    cuff = BloodPressureCuff("AA:BP", seed=seed, scenario=load("hypertensive_urgency"))
    before = [cuff.measure(day(d)) for d in range(5)]
    after = [cuff.measure(day(d)) for d in range(7, 10)]
    assert all(r.systolic < 165 for r in before)  # type: ignore[operator]
    assert all(r.systolic >= 180 and r.diastolic >= 110 for r in after)  # type: ignore[operator]


@pytest.mark.parametrize("seed", SEEDS)
def test_fever(seed: int) -> None:
    thermometer = Thermometer("AA:TH", seed=seed, scenario=load("fever"))
    temps = [
        thermometer.measure(DEFAULT_START + timedelta(hours=h)).temperature
        for h in range(0, 168, 6)
    ]
    peak = temps[66 // 6 : 114 // 6]
    assert all(t < 37.6 for t in temps[: 48 // 6])  # type: ignore[operator]
    assert all(t >= 38.3 for t in peak)  # type: ignore[operator]


@pytest.mark.parametrize("seed", SEEDS)
def test_hypoglycaemia_goes_below_54_mg_dl(seed: int) -> None:
    meter = GlucoseMeter("AA:GL", seed=seed, scenario=load("hypoglycaemia"))
    for hour in (2, 26, 52, 53, 54, 55, 70):
        meter.measure(DEFAULT_START + timedelta(hours=hour))
    values = [record.readings()[0].value for record, _ in meter.records]
    assert all(v >= 80 for v in values[:2] + values[-1:])
    episode = values[2:6]
    # Meter error (ISO 15197: ±15 mg/dL below 100 mg/dL) can lift a single reading; the
    # episode as a whole is level 2 (< 54 mg/dL on average) and nearly every reading < 70.
    assert statistics.mean(episode) < 58
    assert sum(v < 70 for v in episode) >= 3
    assert max(episode) < 80


def test_device_fault_scenario() -> None:
    scenario = load("device_faults")
    kinds = {f.kind for f in scenario.faults}
    assert kinds == set(FaultKind)
    assert scenario.faults_at(DeviceKind.BP_CUFF, 30.0)[0].detail == "cuff_too_loose"
    assert scenario.faults_at(DeviceKind.SCALE, 71.0) == ()
    scale = Scale("AA:SC", seed=1, scenario=scenario, start=DEFAULT_START)
    scale.set_time(DEFAULT_START + timedelta(hours=80))
    assert scale.battery_level() == 8


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("days = [", "not TOML"),
        ("colour = 'red'", "unknown key(s) ['colour']"),
        ("[[drift]]\nmetric = 'mood'\ndelta = 1", "'mood' is not one of heart_rate"),
        ("[[drift]]\nmetric = 'spo2'", "missing key(s) ['delta']"),
        ("[[drift]]\nmetric = 'spo2'\ndelta = 'low'", "delta must be a number"),
        ("[[fault]]\nkind = 'gremlins'", "'gremlins' is not one of sensor_contact_lost"),
        ("[[fault]]\nkind = 'low_battery'\ndevice = 'toaster'", "'toaster' is not one of"),
        ("[baseline]\nspo2 = true", "spo2 must be a number"),
    ],
)
def test_bad_scenario_files_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse(text, source="mine.toml")
    assert str(info.value).startswith("mine.toml")
    assert problem in str(info.value)


def test_unknown_scenario_name() -> None:
    with pytest.raises(ScenarioError, match="available: copd_exacerbation"):
        load("zombie_apocalypse")
