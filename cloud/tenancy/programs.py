"""Care programs and a summary of the default thresholds each gives its patients.

The rules themselves, with the clinical source of every level, live in one place:
``gateway.signal.programs`` (the gateway, live ingest and replays evaluate them). This
summary (metric → the high and low fire levels of its threshold rules) is derived from
them for the ``programs`` table and people reading the API.
"""

from __future__ import annotations

from typing import Any, Final

from gateway.signal import programs as signal_programs
from gateway.signal.rules import ThresholdRule

NAMES: Final[dict[str, str]] = {
    "heart_failure": "Heart failure",
    "copd": "COPD",
    "hypertension": "Hypertension",
    "diabetes": "Diabetes",
    "general": "General monitoring",
}


def threshold_summary(program: str) -> dict[str, dict[str, Any]]:
    """Metric → ``{"high": …, "low": …}`` of the program's threshold rules (the first rule
    naming a level wins: a disease program's own rules come before the general ones)."""
    out: dict[str, dict[str, Any]] = {}
    for rule in signal_programs.PROGRAMS[program]:
        if not isinstance(rule, ThresholdRule):
            continue
        levels = out.setdefault(rule.metric.value, {})
        for name, value in (("high", rule.fire_high), ("low", rule.fire_low)):
            if value is not None and name not in levels:
                levels[name] = float(value)
    return out


PROGRAMS: Final[dict[str, tuple[str, dict[str, dict[str, Any]]]]] = {
    program: (NAMES[program], threshold_summary(program)) for program in signal_programs.PROGRAMS
}
"""Program id → (name, metric → levels in the metric's canonical unit)."""
