"""Benchmark ``cgm``: 14 days of 5-minute CGM for 1,000 patients through the consensus
metrics (``gateway.signal.glucose.summary``) and the AGP (96 fifteen-minute bins).

Figure (JSON line, see tests/bench/__main__.py): ``seconds`` for all 1,000 patients, best
of 3; baseline = the pure-Python reference (tests/signal/glucose_reference.py) on the same
data in the same run, timed on ``BASELINE_PATIENTS`` patients and scaled to 1,000 (it takes
about a minute in full); ratio = baseline / figure. Each patient has 4,032 slots with 3 %
of readings lost and one signal-loss gap; times are UTC epoch seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Final

import numpy as np

from gateway.signal.glucose import agp, summary
from tests.bench._common import Figure, best_of
from tests.signal import glucose_reference as reference

NAME: Final = "cgm"
PATIENTS: Final = 1_000
SLOTS: Final = 14 * 288
BASELINE_PATIENTS: Final = 50
T0: Final = 1_767_571_200.0


def cohort(patients: int = PATIENTS, seed: int = 17) -> list[tuple[np.ndarray, np.ndarray]]:
    """(mg/dL, epoch seconds) per patient: a daily swing, meals, noise, losses and a gap."""
    rng = np.random.default_rng(seed)
    i = np.arange(SLOTS)
    hour = (i * 5 / 60) % 24
    meals = sum(np.exp(-(((hour - h) % 24) / 1.5)) * ((hour - h) % 24 < 4) for h in (8, 13, 19))
    out = []
    for _ in range(patients):
        mean, swing = rng.uniform(110, 180), rng.uniform(20, 70)
        v = mean + swing * meals - 25 * np.exp(-(((hour - 3.5) / 1.5) ** 2))
        v = np.clip(np.round(v + rng.normal(0, 12, SLOTS)), 40, 400)
        keep = rng.random(SLOTS) > 0.03
        gap = int(rng.integers(0, SLOTS - 36))
        keep[gap : gap + 36] = False  # three hours of signal loss
        t = T0 + 300.0 * i + rng.uniform(-15, 15, SLOTS)
        out.append((v[keep], t[keep]))
    return out


def vectorized(data: list[tuple[np.ndarray, np.ndarray]]) -> float:
    total = 0.0
    for v, t in data:
        s = summary(v, t)
        profile = agp(v, t)
        total += s.tir + float(np.nansum(profile.p50))
    return total


def pure_python(data: list[tuple[list[float], list[float]]]) -> float:
    total = 0.0
    for v, t in data:
        s = reference.summary(v, t)
        bins = reference.agp(v, t)
        total += s["tir"] + sum(b[2] for b in bins if b is not None)
    return total


def run(patients: int = PATIENTS, baseline_patients: int = BASELINE_PATIENTS) -> Iterator[Figure]:
    data = cohort(patients)
    figure = best_of(lambda: vectorized(data), repeat=3)
    subset = [(v.tolist(), t.tolist()) for v, t in data[:baseline_patients]]
    t0 = time.perf_counter()
    slow_total = pure_python(subset)
    baseline = (time.perf_counter() - t0) * patients / baseline_patients
    fast_total = vectorized(data[:baseline_patients])
    if not np.isclose(fast_total, slow_total, rtol=1e-9):
        raise AssertionError(f"vectorized {fast_total} != reference {slow_total}")
    yield Figure(
        NAME,
        round(figure, 6),
        "s",
        baseline=round(baseline, 6),
        ratio=round(baseline / figure, 2),
        extra={
            "patients": patients,
            "readings": int(sum(v.size for v, _ in data)),
            "baseline_patients": baseline_patients,
        },
    )
