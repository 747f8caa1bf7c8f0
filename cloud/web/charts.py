"""What a patient page draws: one panel per metric (blood pressure as systolic over
diastolic in one), as plain data for uPlot, with alert markers and a weight's 7-day change.

Each panel becomes a ``<figure data-metric=… data-points=…>`` whose data travels in an
inert ``application/json`` script element, so the page needs no inline JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from cloud.alerts.rulebook import Mode, PatientRules
from cloud.store.models import Alert
from cloud.trends.service import Trend
from gateway.wire import CANONICAL_UNITS, Category, Metric

TOGETHER: Final = {"systolic_bp": "blood_pressure", "diastolic_bp": "blood_pressure"}
"""Metrics drawn in one panel, and the panel's name."""
TITLES: Final = {
    "blood_pressure": "Blood pressure",
    "heart_rate": "Heart rate",
    "pulse_rate": "Pulse",
    "spo2": "Oxygen saturation (SpO2)",
    "body_temperature": "Temperature",
    "body_weight": "Weight",
    "blood_glucose": "Blood glucose",
    "respiratory_rate": "Respiratory rate",
    "battery_level": "Device battery",
    "hrv_rmssd": "Heart rate variability (RMSSD)",
}
HIDDEN: Final = frozenset({"mean_arterial_pressure"})
"""Drawn inside another panel's story (MAP follows from systolic and diastolic)."""
WEEK: Final = timedelta(days=7)
GAP_S: Final = 6 * 3600.0
"""Readings further apart than this are not joined by a line: a silence is shown as one."""


@dataclass(slots=True)
class Panel:
    key: str
    """``data-metric``: the metric, or ``blood_pressure`` for the systolic/diastolic pair."""
    title: str
    unit: str
    series: list[dict[str, Any]] = field(default_factory=list)
    markers: list[float] = field(default_factory=list)
    levels: list[dict[str, Any]] = field(default_factory=list)
    """The patient's alert levels for this panel's metrics (rules in force, active)."""
    note: str | None = None

    @property
    def points(self) -> int:
        """Points drawn (gap markers are not points)."""
        return sum(sum(v is not None for v in s["y"]) for s in self.series)

    def data(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "unit": self.unit,
            "series": self.series,
            "markers": self.markers,
            "levels": self.levels,
        }


LEVEL_FIELDS: Final = (
    ("urgent_low", "urgent", "≤"),
    ("fire_low", "alert", "≤"),
    ("fire_high", "alert", "≥"),
    ("urgent_high", "urgent", "≥"),
)
"""A rule's levels drawn as lines: urgent ones darker, each with its side."""
UNITS: Final = {"hrv_rmssd": "ms"}


def levels_by_panel(rules: PatientRules) -> dict[str, list[dict[str, Any]]]:
    """The levels of the patient's active clinical level rules (thresholds, glucose), by
    the panel that draws them: what the chart's bands show is what alerts."""
    out: dict[str, list[dict[str, Any]]] = {}
    for effective in rules.rules:
        rule = effective.rule
        metric = getattr(rule, "metric", None)
        if effective.mode is not Mode.ACTIVE or not isinstance(metric, Metric):
            continue
        if getattr(rule, "category", Category.CLINICAL) is not Category.CLINICAL:
            continue
        key = TOGETHER.get(metric.value, metric.value)
        shown = out.setdefault(key, [])
        for name, kind, side in LEVEL_FIELDS:
            value = getattr(rule, name, None)
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            label = f"{metric.value.replace('_bp', '').replace('_', ' ')} {side} {value:g}"
            level = {"value": float(value), "kind": kind, "label": label}
            if level not in shown:
                shown.append(level)
    return {k: v for k, v in out.items() if v}


def _unit(metric: str) -> str:
    if metric in UNITS:
        return UNITS[metric]
    try:
        return CANONICAL_UNITS[Metric(metric)]
    except ValueError:
        return ""


def _weekly_change(trend: Trend) -> str | None:
    """The change between the latest weight and the one nearest a week before it."""
    if len(trend.points) < 2:
        return None
    last = trend.points[-1]
    week_ago = min(trend.points, key=lambda p: abs((last.ts - p.ts) - WEEK))
    if abs((last.ts - week_ago.ts) - WEEK) > timedelta(days=2):
        return None
    return f"7-day change: {last.value - week_ago.value:+.1f} kg"


def _with_gaps(trend: Trend) -> tuple[list[float], list[float | None]]:
    """Epoch seconds and values, with a null between readings more than ``GAP_S`` apart."""
    x: list[float] = []
    y: list[float | None] = []
    for point in trend.points:
        t = round(point.ts.timestamp(), 3)
        if x and t - x[-1] > GAP_S:
            x.append((t + x[-1]) / 2)
            y.append(None)
        x.append(t)
        y.append(round(point.value, 2))
    return x, y


def chart_panels(
    series: Mapping[str, Trend],
    alerts: Sequence[Alert],
    levels: Mapping[str, list[dict[str, Any]]] | None = None,
) -> list[Panel]:
    """Panels in a stable order: blood pressure first, then the rest by name; each with the
    patient's alert levels for its metrics (``levels_by_panel``)."""
    panels: dict[str, Panel] = {}
    for metric, trend in sorted(series.items()):
        if metric in HIDDEN or not trend.points:
            continue
        key = TOGETHER.get(metric, metric)
        panel = panels.setdefault(
            key, Panel(key, TITLES.get(key, metric.replace("_", " ").capitalize()), _unit(metric))
        )
        x, y = _with_gaps(trend)
        panel.series.append({"label": metric.replace("_bp", "").replace("_", " "), "x": x, "y": y})
        if metric == "body_weight":
            panel.note = _weekly_change(trend)
    for key, panel in panels.items():
        panel.levels = list((levels or {}).get(key, ()))
    for alert in alerts:
        marked = panels.get(TOGETHER.get(alert.metric, alert.metric))
        if marked is not None:
            marked.markers.append(round(alert.opened_at.timestamp(), 3))
    return sorted(panels.values(), key=lambda p: (p.key != "blood_pressure", p.key))
