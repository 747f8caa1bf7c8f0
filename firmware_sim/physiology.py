"""Seeded physiology: what a simulated patient's body does over time.

A model is a pure function of (seed, time): the same seed gives the same values in every
run, so tests and the demo are deterministic. Episodes (a tachycardia, a fever…) are data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import numpy as np

from gateway.wire import Metric


@dataclass(frozen=True)
class Episode:
    """Shift a metric by ``delta`` between ``start_s`` and ``end_s`` (seconds from the start)."""

    start_s: float
    end_s: float
    delta: float
    ramp_s: float = 0.0
    """Seconds to reach the full shift (and to come back)."""

    def shift(self, t: float) -> float:
        if not self.start_s <= t < self.end_s:
            return 0.0
        if self.ramp_s <= 0:
            return self.delta
        rise = min(1.0, (t - self.start_s) / self.ramp_s)
        fall = min(1.0, (self.end_s - t) / self.ramp_s)
        return self.delta * min(rise, fall)


@dataclass(frozen=True)
class HeartRateModel:
    """Resting heart rate with a circadian swing, beat-to-beat noise and episodes."""

    baseline_bpm: float = 68.0
    circadian_amplitude_bpm: float = 6.0
    noise_bpm: float = 1.5
    episodes: tuple[Episode, ...] = field(default_factory=tuple)

    def mean_at(self, t: float, *, start_hour: float = 8.0) -> float:
        """Expected rate at ``t`` seconds after a start at ``start_hour`` local time."""
        hour = (start_hour + t / 3600.0) % 24
        # Lowest around 04:00, highest around 16:00.
        circadian = -self.circadian_amplitude_bpm * math.cos(2 * math.pi * (hour - 4) / 24)
        return self.baseline_bpm + circadian + sum(e.shift(t) for e in self.episodes)


class HeartRateSource:
    """Draws successive beats-per-minute values and RR intervals from a model, seeded."""

    def __init__(self, model: HeartRateModel, *, seed: int) -> None:
        self.model = model
        self._rng = np.random.default_rng(seed)

    def sample(self, t: float) -> tuple[int, tuple[float, ...]]:
        """Heart rate (/min, integer as a strap reports it) and the RR intervals (s) of one second."""
        bpm = self.model.mean_at(t) + float(self._rng.normal(0.0, self.model.noise_bpm))
        bpm = min(max(bpm, 30.0), 220.0)
        mean_rr = 60.0 / bpm
        n = max(1, round(bpm / 60.0))
        rr = tuple(
            float(round(x * 1024) / 1024) for x in mean_rr + self._rng.normal(0.0, 0.025, size=n)
        )
        return round(bpm), rr


# --- A whole patient: every vital sign as a seeded function of time ----------------------

DEFAULT_BASELINE: Final[dict[Metric, float]] = {
    Metric.HEART_RATE: 68.0,
    Metric.SYSTOLIC_BP: 124.0,
    Metric.DIASTOLIC_BP: 78.0,
    Metric.SPO2: 97.0,
    Metric.BODY_TEMPERATURE: 36.7,
    Metric.BODY_WEIGHT: 78.0,
    Metric.BODY_HEIGHT: 172.0,
    Metric.BODY_FAT: 26.0,
    Metric.BLOOD_GLUCOSE: 105.0,
    Metric.RESPIRATORY_RATE: 14.0,
}
"""A healthy adult at rest, in canonical units (docs/architecture.md, "Metrics and units")."""

NOISE_SD: Final[dict[Metric, float]] = {
    Metric.HEART_RATE: 1.5,
    Metric.SYSTOLIC_BP: 4.0,
    Metric.DIASTOLIC_BP: 3.0,
    Metric.SPO2: 0.6,
    Metric.BODY_TEMPERATURE: 0.1,
    Metric.BODY_WEIGHT: 0.15,
    Metric.BODY_FAT: 0.3,
    Metric.BLOOD_GLUCOSE: 7.0,
    Metric.RESPIRATORY_RATE: 0.8,
}
"""Measurement noise plus spontaneous variability, one standard deviation per reading."""

CIRCADIAN: Final[dict[Metric, tuple[float, float]]] = {
    Metric.HEART_RATE: (6.0, 4.0),
    Metric.SYSTOLIC_BP: (6.0, 3.0),
    Metric.DIASTOLIC_BP: (4.0, 3.0),
    Metric.BODY_TEMPERATURE: (0.3, 4.0),
    Metric.BODY_WEIGHT: (0.4, 7.0),
    Metric.BLOOD_GLUCOSE: (10.0, 4.0),
}
"""(amplitude, hour of the trough): rate and pressure dip at night, temperature is lowest
before dawn, weight is lowest on waking."""

LIMITS: Final[dict[Metric, tuple[float, float]]] = {
    Metric.HEART_RATE: (30.0, 220.0),
    Metric.SYSTOLIC_BP: (60.0, 260.0),
    Metric.DIASTOLIC_BP: (30.0, 160.0),
    Metric.SPO2: (50.0, 100.0),
    Metric.BODY_TEMPERATURE: (33.0, 42.5),
    Metric.BLOOD_GLUCOSE: (20.0, 600.0),
    Metric.RESPIRATORY_RATE: (4.0, 60.0),
}
"""Physiological bounds the model never leaves."""

_METRIC_INDEX: Final = {metric: i for i, metric in enumerate(Metric)}


@dataclass(frozen=True)
class Drift:
    """A change in one metric, ``delta`` in its canonical unit, between two hours of a scenario.

    The change builds up over ``ramp_h`` and eases off over the same time before ``end_h``;
    with no end it persists.
    """

    metric: Metric
    delta: float
    start_h: float = 0.0
    end_h: float = math.inf
    ramp_h: float = 0.0

    @property
    def episode(self) -> Episode:
        return Episode(self.start_h * 3600, self.end_h * 3600, self.delta, self.ramp_h * 3600)

    def shift(self, hours: float) -> float:
        return self.episode.shift(hours * 3600)


@dataclass(frozen=True)
class PatientModel:
    """Every vital sign of one simulated patient as a pure function of (seed, time).

    ``mean`` is the physiology (baseline, circadian swing, scenario drifts); ``sample`` adds
    seeded noise, so two devices reading the same patient at the same instant agree.
    """

    seed: int
    start: datetime
    baseline: Mapping[Metric, float] = field(default_factory=lambda: dict(DEFAULT_BASELINE))
    drifts: tuple[Drift, ...] = ()
    noise_scale: float = 1.0

    def hours(self, when: datetime) -> float:
        """Hours since the start of the scenario."""
        return (when - self.start).total_seconds() / 3600

    def mean(self, metric: Metric, when: datetime) -> float:
        """Expected value at ``when`` in the metric's canonical unit (clock read as local time)."""
        value = self.baseline.get(metric, DEFAULT_BASELINE.get(metric, 0.0))
        if metric in CIRCADIAN:
            amplitude, trough = CIRCADIAN[metric]
            hour = when.hour + when.minute / 60
            value -= amplitude * math.cos(2 * math.pi * (hour - trough) / 24)
        hours = self.hours(when)
        value += sum(d.shift(hours) for d in self.drifts if d.metric is metric)
        return value

    def sample(self, metric: Metric, when: datetime) -> float:
        """One reading of ``metric`` at ``when``: mean plus noise, within physiological bounds."""
        key = [self.seed, _METRIC_INDEX[metric], round(when.timestamp() * 1000)]
        noise = float(np.random.default_rng(key).normal()) if metric in NOISE_SD else 0.0
        value = self.mean(metric, when) + noise * NOISE_SD.get(metric, 0.0) * self.noise_scale
        low, high = LIMITS.get(metric, (0.0, math.inf))
        return min(max(value, low), high)

    def heart_rate_model(self) -> HeartRateModel:
        """The streaming model a heart-rate strap uses (same baseline and drifts)."""
        return HeartRateModel(
            baseline_bpm=self.baseline.get(Metric.HEART_RATE, DEFAULT_BASELINE[Metric.HEART_RATE]),
            circadian_amplitude_bpm=CIRCADIAN[Metric.HEART_RATE][0],
            noise_bpm=NOISE_SD[Metric.HEART_RATE] * self.noise_scale,
            episodes=tuple(d.episode for d in self.drifts if d.metric is Metric.HEART_RATE),
        )
