"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, 2017).

The chart is a table: for each parameter, the upper bound (inclusive) of each band and its
points, read top to bottom. RCP 2017, "National Early Warning Score (NEWS) 2:
Standardising the assessment of acute-illness severity in the NHS", chart 1. The chart is
printed for whole numbers (temperature to one decimal), so values are rounded half up to
that resolution before banding: SpO2 93.6 % scores as 94 %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from gateway.signal.series import SignalError
from gateway.wire import Metric

Band = tuple[float, int]
"""(inclusive upper bound, points); the last band of a parameter has bound +inf."""

INF: Final = math.inf

CHART: Final[Mapping[str, Sequence[Band]]] = {
    # ≤8: 3 | 9-11: 1 | 12-20: 0 | 21-24: 2 | ≥25: 3
    "respiratory_rate": ((8, 3), (11, 1), (20, 0), (24, 2), (INF, 3)),
    # SpO2 scale 1: ≤91: 3 | 92-93: 2 | 94-95: 1 | ≥96: 0
    "spo2_scale1": ((91, 3), (93, 2), (95, 1), (INF, 0)),
    # SpO2 scale 2 (hypercapnic respiratory failure), on air: ≤83: 3 | 84-85: 2 | 86-87: 1 | ≥88: 0
    "spo2_scale2_air": ((83, 3), (85, 2), (87, 1), (INF, 0)),
    # ... on oxygen: as on air up to 88-92: 0, then 93-94: 1 | 95-96: 2 | ≥97: 3
    "spo2_scale2_oxygen": ((83, 3), (85, 2), (87, 1), (92, 0), (94, 1), (96, 2), (INF, 3)),
    # ≤90: 3 | 91-100: 2 | 101-110: 1 | 111-219: 0 | ≥220: 3
    "systolic_bp": ((90, 3), (100, 2), (110, 1), (219, 0), (INF, 3)),
    # ≤40: 3 | 41-50: 1 | 51-90: 0 | 91-110: 1 | 111-130: 2 | ≥131: 3
    "pulse": ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (INF, 3)),
    # ≤35.0: 3 | 35.1-36.0: 1 | 36.1-38.0: 0 | 38.1-39.0: 1 | ≥39.1: 2
    "temperature": ((35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1), (INF, 2)),
}
"""NEWS2 chart 1 (RCP 2017), one row per parameter."""

OXYGEN_POINTS: Final = 2
"""Air or oxygen: any supplemental oxygen scores 2, air 0."""
CONSCIOUSNESS: Final[Mapping[str, int]] = {"A": 0, "C": 3, "V": 3, "P": 3, "U": 3}
"""ACVPU: Alert 0; new Confusion, responds to Voice or Pain, Unresponsive 3."""

Risk = Literal["low", "low-medium", "medium", "high"]


@dataclass(frozen=True, slots=True)
class News2:
    """Aggregate score, points per parameter scored, clinical risk band, parameters missing."""

    total: int
    parts: dict[str, int]
    risk: Risk
    missing: tuple[str, ...]


def _round_half_up(value: float, decimals: int) -> float:
    scale = 10.0**decimals
    return math.floor(value * scale + 0.5) / scale


def band_points(parameter: str, value: float) -> int:
    """Points for ``value`` in the chart row ``parameter`` (rounded to the chart's resolution)."""
    if not math.isfinite(value):
        raise SignalError(f"NEWS2 {parameter} must be a finite number, got {value}")
    rounded = _round_half_up(value, 1 if parameter == "temperature" else 0)
    for upper, points in CHART[parameter]:
        if rounded <= upper:
            return points
    raise AssertionError("the last band is unbounded")  # pragma: no cover


def risk_band(total: int, parts: Mapping[str, int]) -> Risk:
    """RCP 2017 thresholds: ≥7 high, 5-6 medium, a single parameter at 3 low-medium, else low."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if 3 in parts.values():
        return "low-medium"
    return "low"


def news2(
    *,
    respiratory_rate: float | None = None,
    spo2: float | None = None,
    spo2_scale: int = 1,
    on_oxygen: bool | None = False,
    systolic_bp: float | None = None,
    pulse: float | None = None,
    consciousness: str | None = "A",
    temperature: float | None = None,
) -> News2:
    """NEWS2 of one set of observations; a parameter given as None is left out and named in
    ``missing``. Units: breaths /min, SpO2 %, mmHg, beats /min, °C; ``spo2_scale`` 1 or 2
    (scale 2 only for confirmed hypercapnic respiratory failure, on clinical instruction)."""
    if spo2_scale not in (1, 2):
        raise SignalError("spo2_scale must be 1 or 2 (RCP 2017)")
    parts: dict[str, int] = {}
    missing: list[str] = []
    oxygen_known = on_oxygen is not None
    spo2_row = (
        "spo2_scale1"
        if spo2_scale == 1
        else ("spo2_scale2_oxygen" if on_oxygen else "spo2_scale2_air")
    )
    if spo2 is not None and spo2_scale == 2 and not oxygen_known:
        raise SignalError("SpO2 scale 2 needs to know whether the patient is on oxygen")
    for name, row, value in (
        ("respiratory_rate", "respiratory_rate", respiratory_rate),
        ("spo2", spo2_row, spo2),
        ("systolic_bp", "systolic_bp", systolic_bp),
        ("pulse", "pulse", pulse),
        ("temperature", "temperature", temperature),
    ):
        if value is None:
            missing.append(name)
        else:
            parts[name] = band_points(row, value)
    if oxygen_known:
        parts["air_or_oxygen"] = OXYGEN_POINTS if on_oxygen else 0
    else:
        missing.append("air_or_oxygen")
    if consciousness is None:
        missing.append("consciousness")
    else:
        key = consciousness.strip().upper()[:1]
        if key not in CONSCIOUSNESS:
            raise SignalError(f"consciousness must be one of A, C, V, P, U; got {consciousness!r}")
        parts["consciousness"] = CONSCIOUSNESS[key]
    total = sum(parts.values())
    return News2(total=total, parts=parts, risk=risk_band(total, parts), missing=tuple(missing))


NEWS2_METRICS: Final[Mapping[str, tuple[Metric, ...]]] = {
    "respiratory_rate": (Metric.RESPIRATORY_RATE,),
    "spo2": (Metric.SPO2,),
    "systolic_bp": (Metric.SYSTOLIC_BP,),
    "pulse": (Metric.PULSE_RATE, Metric.HEART_RATE),
    "temperature": (Metric.BODY_TEMPERATURE,),
}
"""Which metric feeds each device-measured NEWS2 parameter (first fresh one wins)."""

DEFAULT_FRESHNESS_S: Final[Mapping[str, float]] = {
    "respiratory_rate": 4 * 3600.0,
    "spo2": 4 * 3600.0,
    "systolic_bp": 12 * 3600.0,
    "pulse": 4 * 3600.0,
    "temperature": 12 * 3600.0,
}
"""How old a value may be and still count in a score (s); older values count as missing."""


def news2_latest(
    latest: Mapping[Metric, tuple[float, float]],
    *,
    now: float,
    freshness_s: Mapping[str, float] = DEFAULT_FRESHNESS_S,
    spo2_scale: int = 1,
    on_oxygen: bool | None = False,
    consciousness: str | None = "A",
) -> News2:
    """NEWS2 from the latest (UTC epoch s, value) per metric (``Series.latest`` of each cleaned
    series), each used only if no older than
    its freshness window and not in the future; the others are named in ``missing``.
    Oxygen and consciousness come from patient prompts, not devices (docs/architecture.md, "Clinical references")."""
    values: dict[str, float | None] = {}
    for parameter, metrics in NEWS2_METRICS.items():
        values[parameter] = None
        for metric in metrics:
            got = latest.get(metric)
            if (
                got is not None
                and 0 <= now - got[0] <= freshness_s[parameter]
                and math.isfinite(got[1])
            ):
                values[parameter] = got[1]
                break
    return news2(
        respiratory_rate=values["respiratory_rate"],
        spo2=values["spo2"],
        spo2_scale=spo2_scale,
        on_oxygen=on_oxygen,
        systolic_bp=values["systolic_bp"],
        pulse=values["pulse"],
        consciousness=consciousness,
        temperature=values["temperature"],
    )
