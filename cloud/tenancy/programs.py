"""Care programs and the default thresholds each gives its patients.

Levels are starting points a clinician adjusts per patient: heart failure follows the
ESC 2021 HF guideline's monitoring advice (weight gain, hypotension, tachycardia); COPD
keeps SpO₂ at 88–92 % (BTS 2017 oxygen guideline, NEWS2 scale 2); hypertension follows
the ACC/AHA 2017 stages (stage 2 ≥ 140/90, crisis ≥ 180/120); diabetes follows the ADA
2024 glucose levels (level 1 hypoglycaemia < 70 mg/dL, level 2 < 54 mg/dL).
"""

from __future__ import annotations

from typing import Any, Final

PROGRAMS: Final[dict[str, tuple[str, dict[str, dict[str, Any]]]]] = {
    "heart_failure": (
        "Heart failure",
        {
            "heart_rate": {"high": 120.0, "low": 40.0},
            "systolic_bp": {"high": 160.0, "low": 90.0},
            "spo2": {"low": 90.0},
            "body_weight": {"gain_kg_2d": 2.0},
        },
    ),
    "copd": (
        "COPD",
        {
            "spo2": {"low": 88.0},
            "respiratory_rate": {"high": 24.0, "low": 9.0},
            "heart_rate": {"high": 120.0, "low": 40.0},
        },
    ),
    "hypertension": (
        "Hypertension",
        {
            "systolic_bp": {"high": 180.0, "low": 90.0},
            "diastolic_bp": {"high": 120.0, "low": 50.0},
        },
    ),
    "diabetes": (
        "Diabetes",
        {"blood_glucose": {"high": 250.0, "low": 70.0}},
    ),
    "general": (
        "General monitoring",
        {"heart_rate": {"high": 120.0, "low": 40.0}, "spo2": {"low": 92.0}},
    ),
}
"""Program id → (name, metric → levels in the metric's canonical unit)."""
