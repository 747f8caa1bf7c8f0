"""Seeded physiology: what a simulated patient's body does over time.

A model is a pure function of (seed, time): the same seed gives the same values in every
run, so tests and the demo are deterministic. Episodes (a tachycardia, a fever…) are data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


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
