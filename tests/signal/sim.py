"""A small seeded patient simulator for scenario tests (firmware_sim has the full physiology).

One patient at home: a chest strap (heart rate every minute, all day), a scale each morning,
a cuff (two readings two minutes apart each morning, as home-BP protocols ask), an oximeter
with pulse rate three times a day, a thermometer each morning, a glucose meter four times a
day. A scenario changes the physiology from ``onset_day`` on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np

from gateway.signal.replay import History
from gateway.signal.series import DAY, HOUR, Series
from gateway.wire import Metric

EPOCH: Final = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SCENARIOS: Final = (
    "stable",
    "heart_failure",
    "copd",
    "hypertensive_urgency",
    "fever",
    "hypoglycaemia",
)


def _after(days: np.ndarray, onset: float) -> np.ndarray:
    """Days since onset, 0 before it."""
    return np.maximum(days - onset, 0.0)


def _spot(
    rng: np.random.Generator, n_days: int, hours: tuple[float, ...], jitter_min: float
) -> np.ndarray:
    base = (np.arange(n_days)[:, None] * DAY + np.array(hours)[None, :] * HOUR).ravel()
    return np.sort(base + rng.normal(0, jitter_min * 60, base.size))


def simulate(
    scenario: str, *, days: int = 30, onset_day: float = 20.0, seed: int = 0, patient_id: str = "p1"
) -> History:
    """``days`` of readings of one patient; ``scenario`` one of ``SCENARIOS``."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}")
    rng = np.random.default_rng(seed)
    out: dict[tuple[str, Metric], Series] = {}

    def put(metric: Metric, t: np.ndarray, v: np.ndarray) -> None:
        out[(patient_id, metric)] = Series.of(EPOCH + t, v)

    put(
        Metric.HEART_RATE,
        *_heart_rate(rng, days, rising=scenario == "heart_failure", onset=onset_day),
    )
    _spot_devices(rng, scenario, days, onset_day, put)
    return History(out)


def _heart_rate(
    rng: np.random.Generator, days: int, *, rising: bool, onset: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every minute: circadian swing, short activity bursts, sensor noise; in heart failure
    the resting rate rises 2 /min per day from the onset."""
    t = np.arange(0.0, days * DAY, 60.0)
    d = t / DAY
    hr = 68 + 6 * np.sin(2 * np.pi * (d - 0.4)) + rng.normal(0, 2, t.size)
    burst = np.convolve(rng.random(t.size) < 0.004, np.ones(20), mode="same") > 0
    hr = hr + burst * 25
    if rising:
        hr = hr + 2.0 * _after(d, onset)
    return t, hr.round()


def _spot_devices(
    rng: np.random.Generator,
    scenario: str,
    days: int,
    onset_day: float,
    put: Callable[[Metric, np.ndarray, np.ndarray], None],
) -> None:
    """Scale, cuff, oximeter, thermometer and glucose meter readings."""
    tw = _spot(rng, days, (7.0,), 20)
    weight = 80 + rng.normal(0, 0.25, tw.size)
    if scenario == "heart_failure":
        weight = weight + (2.0 / 3.0) * _after(tw / DAY, onset_day)  # +2 kg over 3 days
    put(Metric.BODY_WEIGHT, tw, weight.round(1))

    tb = _spot(rng, days, (8.0,), 15)
    tb = np.sort(np.concatenate((tb, tb + 120)))
    sbp, dbp = 128 + rng.normal(0, 5, tb.size), 80 + rng.normal(0, 4, tb.size)
    if scenario == "hypertensive_urgency":
        sbp = np.where(tb / DAY >= onset_day, 188 + rng.normal(0, 4, tb.size), sbp)
        dbp = np.where(tb / DAY >= onset_day, 116 + rng.normal(0, 3, tb.size), dbp)
    put(Metric.SYSTOLIC_BP, tb, sbp.round())
    put(Metric.DIASTOLIC_BP, tb, dbp.round())

    to = _spot(rng, days, (8.5, 14.0, 20.0), 20)
    spo2 = 96 + rng.normal(0, 0.8, to.size)
    if scenario == "copd":
        spo2 = spo2 - np.minimum(1.6 * _after(to / DAY, onset_day), 6.5)  # to 88-91 % in 4 days
    put(Metric.SPO2, to, np.minimum(spo2.round(), 100))
    put(Metric.PULSE_RATE, to, (72 + rng.normal(0, 5, to.size)).round())

    tt = _spot(rng, days, (7.5,), 20)
    temp = 36.7 + rng.normal(0, 0.2, tt.size)
    if scenario == "fever":
        temp = np.where(tt / DAY >= onset_day, 38.6 + rng.normal(0, 0.2, tt.size), temp)
    put(Metric.BODY_TEMPERATURE, tt, temp.round(1))

    tg = _spot(rng, days, (7.0, 12.0, 18.0, 22.0), 30)
    glucose = 120 + rng.normal(0, 12, tg.size)
    if scenario == "hypoglycaemia":
        first = int(np.searchsorted(tg, onset_day * DAY))
        glucose[first] = 58.0
    put(Metric.BLOOD_GLUCOSE, tg, glucose.round())
