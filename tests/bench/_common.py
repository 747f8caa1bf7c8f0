"""Shared benchmark helpers: the Figure record, JSON-line output and a best-of timer."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure; ``ratio`` says how many times better than ``baseline`` it is."""

    bench: str
    figure: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    extra: dict[str, Any] | None = None


def emit(fig: Figure) -> None:
    row = {k: v for k, v in asdict(fig).items() if k != "extra" and v is not None}
    if fig.extra:
        row.update(fig.extra)
    print(json.dumps(row), flush=True)
    sys.stdout.flush()


def best_of(fn: Callable[[], object], *, repeat: int = 5) -> float:
    """Fastest wall time of ``repeat`` calls, in seconds (least disturbed by other work)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
