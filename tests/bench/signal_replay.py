"""Benchmark ``signal_replay``: 7 days of 1 Hz heart rate through clean + rollup + rules + trend.

Figures (JSON lines, see tests/bench/__main__.py):
- ``signal_replay.seconds``: best-of-5 wall time of the vectorized pipeline on 604,800
  samples; baseline = the pure-Python reference (tests/signal/reference.py) measured once in
  the same run; ratio = baseline / figure (target ≥ 50, figure < 0.2 s).
- ``signal_replay.stream_kib``: tracemalloc memory held after streaming 48 simulated hours
  through the live monitor one minute at a time; baseline = after the first 24 hours,
  ratio = baseline / figure (≈ 1: memory is steady). RSS checkpoints and peak in extra.
"""

from __future__ import annotations

import resource
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any, Final

import numpy as np

from gateway.signal import Persistence, Series, ThresholdRule, evaluate
from gateway.signal.clean import clean
from gateway.signal.monitor import Monitor
from gateway.signal.rollup import rollup
from gateway.signal.series import HOUR
from gateway.signal.trends import TrendRule
from gateway.wire import Metric
from tests.bench._common import Figure, best_of
from tests.signal import reference

NAME: Final = "signal_replay"
SAMPLES: Final = 7 * 86400
T0: Final = 1_767_225_600.0

RULES: Final = (
    ThresholdRule("hr.high", "p1", Metric.HEART_RATE, fire_high=131, clear_high=120,
                  urgent_high=160, persistence=Persistence(count=5, seconds=10.0)),
    ThresholdRule("hr.low", "p1", Metric.HEART_RATE, fire_low=40, clear_low=45,
                  persistence=Persistence(k_of_n=(20, 30))),
)  # fmt: skip
TREND: Final = TrendRule(
    "hr.trend", "p1", Metric.HEART_RATE, window_s=HOUR, rise=20.0, min_samples=30
)
"""Per-minute mean HR rising by 20 /min over an hour (fitted)."""


def heart_rate(n: int = SAMPLES, seed: int = 42) -> Series:
    """A week of 1 Hz HR: circadian swing, exercise bouts, tachycardia and bradycardia
    episodes, spikes, NaN, and samples flagged for lost contact."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    hr = 70 + 8 * np.sin(2 * np.pi * i / 86400) + np.cumsum(rng.normal(0, 0.05, n)) % 6
    hr += 70 * (np.sin(i / 5000.0) > 0.995) - 35 * (np.sin(i / 7100.0 + 1) > 0.997)
    hr += rng.normal(0, 1.5, n)
    spikes = rng.random(n) < 0.002
    hr[spikes] += rng.choice([-50.0, 60.0, 250.0], int(spikes.sum()))
    hr[rng.random(n) < 0.0005] = np.nan
    usable = rng.random(n) > 0.003
    return Series(T0 + i.astype(np.float64), hr.round(), usable)


def vectorized(raw: Series) -> dict[str, Any]:
    """The pipeline the gateway and the cloud run."""
    cleaned = clean(raw, Metric.HEART_RATE).series
    minutes = rollup(cleaned, period=60.0)
    fires = sum(len(evaluate(rule, cleaned, now=1e12).findings) for rule in RULES)
    trend = evaluate(TREND, minutes.as_series("mean"), now=1e12).findings
    return {"usable": int(cleaned.usable.sum()), "rollups": int((minutes.count > 0).sum()),
            "findings": fires, "trend_findings": len(trend)}  # fmt: skip


def pure_python(raw: Series) -> dict[str, Any]:
    """The same pipeline, one sample at a time (tests/signal/reference.py)."""
    t, v, u = raw.t.tolist(), raw.v.tolist(), raw.usable.tolist()
    usable = reference.clean(Metric.HEART_RATE, t, v, u)
    minutes = reference.rollup(t, v, usable, 60.0)
    fires = sum(len(reference.threshold(rule, t, v, usable)) for rule in RULES)
    starts = sorted(minutes)
    trend = reference.trend_rise(
        TREND, [s + 60.0 for s in starts], [minutes[s]["mean"] for s in starts]
    )
    return {"usable": sum(usable), "rollups": len(minutes), "findings": fires,
            "trend_findings": len(trend)}  # fmt: skip


def _rss_mib() -> float:
    """Resident set size now (Linux /proc), MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def streaming(hours: int = 48) -> dict[str, float]:
    """Live monitor fed one minute of 1 Hz HR at a time (4 h windows fill after 4 h);
    tracemalloc KiB held and RSS at checkpoints. The first day also fills numpy's own
    bounded small-object caches (about 160 KiB), so the second day shows the steady state."""
    raw = heart_rate(hours * 3600, seed=7)
    monitor = Monitor(RULES)
    held: dict[str, float] = {}
    tracemalloc.start()
    for start in range(0, len(raw), 60):
        s = slice(start, start + 60)
        monitor.ingest(
            "p1", Metric.HEART_RATE, raw.t[s], raw.v[s], raw.usable[s], now=float(raw.t[s][-1])
        )
        hour, whole = divmod(start + 60, 3600)
        if whole == 0 and hour in (1, 4, 24, hours):
            held[f"kib_after_{hour}h"] = tracemalloc.get_traced_memory()[0] / 1024
            held[f"rss_mib_after_{hour}h"] = _rss_mib()
    held["peak_kib"] = tracemalloc.get_traced_memory()[1] / 1024
    tracemalloc.stop()
    return held


def run() -> Iterator[Figure]:
    raw = heart_rate()
    fast = vectorized(raw)
    seconds = best_of(lambda: vectorized(raw), repeat=5)
    t0 = time.perf_counter()
    slow = pure_python(raw)
    baseline = time.perf_counter() - t0
    if fast != slow:
        raise AssertionError(f"vectorized and reference pipelines disagree: {fast} != {slow}")
    extra = {"samples": len(raw), "target_s": 0.2, "target_ratio": 50, "agree": True, **fast}
    ratio = round(baseline / seconds, 1)
    yield Figure(f"{NAME}.seconds", round(seconds, 4), "s", round(baseline, 3), ratio, extra)
    t0 = time.perf_counter()
    mem = streaming()
    extra = {k: round(x, 1) for k, x in mem.items()}
    extra["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    extra["stream_wall_s"] = round(time.perf_counter() - t0, 1)
    extra["simulated_hours"] = 48
    steady, warm = mem["kib_after_48h"], mem["kib_after_24h"]
    yield Figure(
        f"{NAME}.stream_kib",
        round(steady, 1),
        "KiB",
        round(warm, 1),
        round(warm / steady, 3),
        extra,
    )
