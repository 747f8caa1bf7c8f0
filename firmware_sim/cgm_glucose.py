"""Interstitial glucose as a CGM sees it: a seeded, pure function of (patient, time).

On top of the patient's mean glucose (baseline, circadian swing, scenario drifts from
``PatientModel``) each simulated day has, drawn from ``(seed, day)``:

- three meals, each a rise of 30–90 mg/dL peaking about 50 minutes after eating and gone
  after about four hours (a gamma-shaped curve);
- on some nights an overnight low: a dip of 30–60 mg/dL centred between 02:00 and 05:00;
- on some nights a compression low: the patient lies on the sensor, which reads 30–50 mg/dL
  too low for 20–40 minutes with sharp edges (a sensor artefact, not physiology);
- on some days a sensor signal loss of 30–120 minutes: the sensor has no value to store.

Sensor noise is a smooth wander (two seeded sinusoids) plus 3 mg/dL white noise per reading.
Values are whole mg/dL within the sensor's 40–400 mg/dL range. Times are read as UTC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Final

import numpy as np

from firmware_sim.physiology import PatientModel
from gateway.wire import Metric

SENSOR_RANGE: Final = (40.0, 400.0)
MEAL_HOURS: Final = ((7.0, 9.0), (12.0, 13.5), (18.0, 20.0))
MEAL_PEAK_MIN: Final = 50.0
OVERNIGHT_LOW_CHANCE: Final = 0.35
COMPRESSION_CHANCE: Final = 0.25
SIGNAL_LOSS_CHANCE: Final = 0.3
_STREAM: Final = 0xC6  # keeps these draws apart from the other seeded streams of a patient


@dataclass(frozen=True)
class DayPlan:
    """What happens on one simulated day; hours are hours after midnight of that day."""

    meals: tuple[tuple[float, float], ...]
    """(hour eaten, peak rise in mg/dL)."""
    overnight_low: tuple[float, float] | None
    """(centre hour, depth in mg/dL)."""
    compression: tuple[float, float, float] | None
    """(start hour, minutes, depth in mg/dL)."""
    signal_loss: tuple[float, float] | None
    """(start hour, minutes)."""


@lru_cache(maxsize=4096)
def day_plan(seed: int, day: int) -> DayPlan:
    rng = np.random.default_rng([seed, _STREAM, day + 100_000])
    meals = tuple(
        (float(rng.uniform(lo, hi)), float(rng.uniform(30.0, 90.0))) for lo, hi in MEAL_HOURS
    )
    low = rng.random() < OVERNIGHT_LOW_CHANCE
    overnight = (float(rng.uniform(2.0, 5.0)), float(rng.uniform(30.0, 60.0)))
    squeezed = rng.random() < COMPRESSION_CHANCE
    compression = (
        float(rng.uniform(0.5, 5.0)),
        float(rng.uniform(20.0, 40.0)),
        float(rng.uniform(30.0, 50.0)),
    )
    lost = rng.random() < SIGNAL_LOSS_CHANCE
    loss = (float(rng.uniform(0.0, 23.0)), float(rng.uniform(30.0, 120.0)))
    return DayPlan(
        meals,
        overnight if low else None,
        compression if squeezed else None,
        loss if lost else None,
    )


def _meal_rise(minutes_after: float, peak: float) -> float:
    if not 0.0 <= minutes_after < 240.0:
        return 0.0
    x = minutes_after / MEAL_PEAK_MIN
    return peak * x * math.exp(1.0 - x)


def _within(hour: float, start: float, minutes: float) -> bool:
    return start <= hour < start + minutes / 60.0


@dataclass(frozen=True)
class CgmGlucoseModel:
    patient: PatientModel

    def _day(self, when: datetime) -> tuple[int, float]:
        midnight = datetime.combine(self.patient.start.date(), datetime.min.time(), when.tzinfo)
        elapsed = (when - midnight) / timedelta(hours=1)
        return int(elapsed // 24), elapsed % 24

    def lost(self, when: datetime) -> bool:
        """True while the sensor has no signal (it stores no record)."""
        day, hour = self._day(when)
        loss = day_plan(self.patient.seed, day).signal_loss
        return loss is not None and _within(hour, *loss)

    def physiology(self, when: datetime) -> float:
        """Blood glucose, mg/dL, before the sensor's artefacts and noise."""
        day, hour = self._day(when)
        value = self.patient.mean(Metric.BLOOD_GLUCOSE, when)
        for d, offset_h in ((day, 0.0), (day - 1, 24.0)):
            plan = day_plan(self.patient.seed, d)
            for eaten, peak in plan.meals:
                value += _meal_rise((hour + offset_h - eaten) * 60.0, peak)
            if plan.overnight_low is not None and d == day:
                centre, depth = plan.overnight_low
                value -= depth * math.exp(-(((hour - centre) / 0.75) ** 2))
        return value

    def reading(self, when: datetime) -> float | None:
        """What the sensor reads at ``when`` (whole mg/dL), or None during signal loss."""
        if self.lost(when):
            return None
        day, hour = self._day(when)
        value = self.physiology(when)
        squeeze = day_plan(self.patient.seed, day).compression
        if squeeze is not None and _within(hour, squeeze[0], squeeze[1]):
            value -= squeeze[2]
        seed = self.patient.seed
        minutes = when.timestamp() / 60.0
        phase = np.random.default_rng([seed, _STREAM]).uniform(0, 2 * math.pi, 2)
        value += 4.0 * math.sin(2 * math.pi * minutes / 97.0 + phase[0])
        value += 3.0 * math.sin(2 * math.pi * minutes / 431.0 + phase[1])
        key = [seed, _STREAM, round(when.timestamp())]
        value += 3.0 * float(np.random.default_rng(key).normal())
        low, high = SENSOR_RANGE
        return float(round(min(max(value, low), high)))
