"""Default rule sets of the monitoring programs, as data.

Each level cites its clinical source. Clinicians override them per patient (the cloud
stores versioned copies); these are the starting point and what ``vitalgate-cloud replay
--program NAME`` evaluates. Programs: heart_failure, copd, hypertension, diabetes, general.

Sources:
  [NEWS2] Royal College of Physicians, National Early Warning Score (NEWS) 2, 2017, chart 1.
  [ESC-HF] McDonagh et al., 2021 ESC Guidelines for heart failure, Eur Heart J 2021;42:3599,
           and the HFA self-care statement (Jaarsma et al., Eur J Heart Fail 2021;23:157):
           daily weighing; contact the team on a gain of > 2 kg in 3 days.
  [AHA-HF] AHA/HFSA patient guidance: call for a gain of 2-3 lb (≈ 1 kg) in a day.
  [HR-HF]  Rising resting heart rate precedes decompensation: Adamson et al., Circulation
           2004;110:2389; Böhm et al., Lancet 2010;376:875 (SHIFT, HR as a risk factor).
  [BTS]    O'Driscoll et al., BTS guideline for oxygen use in adults, Thorax 2017;72:i1:
           target 88-92 % for patients at risk of hypercapnic respiratory failure.
  [ESH]    Williams et al., 2018 ESC/ESH Guidelines for arterial hypertension: grade 2
           160-179 / 100-109, grade 3 ≥ 180 / ≥ 110 mmHg (hypertensive urgency when acute).
  [ADA]    American Diabetes Association, Standards of Care in Diabetes 2024, section 6:
           hypoglycaemia level 1 < 70 mg/dL, level 2 < 54 mg/dL; ketone testing > 250 mg/dL.
  [IEC]    IEC 60601-1-8: alarm condition delay (persistence) for continuous monitoring.
  [ACC-AHA] Whelton et al., 2017 ACC/AHA high blood pressure guideline, Hypertension
           2018;71:e13: severe hypertension (urgency or emergency) > 180 and/or > 120 mmHg
           (section 11.2); home BP judged on the mean of ≥ 2 readings 1 min apart (section 4.2,
           table 11).
  [BTS-COPD] [BTS] target 88-92 % in COPD: below 88 % urgent outside a COPD target range.
  [TIR]    Battelino et al., Clinical targets for CGM data interpretation: recommendations
           from the international consensus on time in range, Diabetes Care 2019;42:1593:
           level 1 hypoglycaemia 54-69 mg/dL, level 2 < 54; level 2 hyperglycaemia > 250; a
           CGM event is at least 15 consecutive minutes beyond the level.
  [CGM-PRED] Predicted low as CGM apps alert on it (xDrip+ predictive low, Nightscout AR2
           forecast 30 min, Dexcom "urgent low soon" 20 min): the recent trend projected
           20 min ahead crosses 70 mg/dL.

Confirmation (``gateway.signal.confirm``): the non-urgent levels that a single spurious
reading crosses (a cuff put on badly, a coat on the scale, a poor probe contact) wait for a
re-measurement within the rule's window; urgent levels never wait. Windows: blood pressure
1 h on the mean of the pair [ACC-AHA]; weight until the next morning's weighing (26 h);
SpO2 1 h for a second reading without a poor-quality flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from gateway.signal.artefacts import StepRule
from gateway.signal.baseline import BaselineRule, CusumRule
from gateway.signal.cgm import CGM_INTERVAL_S, GlucoseRule, PredictedLowRule, SignalLossRule
from gateway.signal.findings import Persistence
from gateway.signal.missing import MissedMeasurementRule, StaleRule
from gateway.signal.rules import Rule, ThresholdRule
from gateway.signal.series import DAY, HOUR, MINUTE, SignalError
from gateway.signal.trends import TrendRule
from gateway.wire import Metric, Priority

_P: Final = "template"
"""Placeholder patient id of the templates; ``default_rules`` puts the real one in."""

_CONTINUOUS_DELAY: Final = Persistence(count=2, seconds=300.0)
"""5 minutes beyond the level on a continuous stream before an alarm [IEC]: ignores bursts."""
_BP_WINDOW: Final = HOUR
"""[ACC-AHA] re-measure within the hour; the pair's mean is judged (``confirm_by="mean"``)."""
_WEIGHT_WINDOW: Final = DAY + 2 * HOUR
"""The next weighing, at the latest the next morning's."""
_SPO2_WINDOW: Final = HOUR
"""A second reading within the hour, without a poor-quality (contact, perfusion) flag."""
_RESTING_HR: Final = ((300.0, "median"), (DAY, "min"))
"""Resting HR: the lowest 5-minute median heart rate of each day."""

_GENERAL: Final[tuple[Rule, ...]] = (
    # [NEWS2] pulse ≤ 40 and ≥ 131 score 3.
    ThresholdRule("general.hr", _P, Metric.HEART_RATE, fire_low=40, clear_low=45,
                  fire_high=131, clear_high=120, priority=Priority.HIGH,
                  persistence=_CONTINUOUS_DELAY),
    ThresholdRule("general.pulse", _P, Metric.PULSE_RATE, fire_low=40, clear_low=45,
                  fire_high=131, clear_high=120, priority=Priority.HIGH),
    # [NEWS2] SpO2 scale 1 ≤ 91 % scores 3: confirmed by a second reading, so one poor probe
    # reading won't page; [BTS-COPD] < 88 % (whole per cent: ≤ 87) is urgent outside COPD.
    ThresholdRule("general.spo2", _P, Metric.SPO2, fire_low=91, clear_low=93, urgent_low=87,
                  priority=Priority.HIGH, confirm_s=_SPO2_WINDOW),
    # [NEWS2] systolic ≤ 90 and ≥ 220 mmHg score 3.
    ThresholdRule("general.sbp", _P, Metric.SYSTOLIC_BP, fire_low=90, clear_low=95,
                  fire_high=220, clear_high=200, priority=Priority.HIGH),
    # [NEWS2] temperature 38.1-39.0 scores 1 (fever), ≥ 39.1 scores 2, ≤ 35.0 scores 3.
    ThresholdRule("general.temp", _P, Metric.BODY_TEMPERATURE, fire_high=38.1, clear_high=37.8,
                  urgent_high=39.1, fire_low=35.0, clear_low=35.5),
    # [NEWS2] respiratory rate ≤ 8 and ≥ 25 score 3.
    ThresholdRule("general.rr", _P, Metric.RESPIRATORY_RATE, fire_low=8, clear_low=10,
                  fire_high=25, clear_high=22, priority=Priority.HIGH),
    # Alarm practice (docs/architecture.md): stale 15 min (warn) / 30 min (urgent) past the usual interval.
    StaleRule("general.hr_stale", _P, Metric.HEART_RATE),
)  # fmt: skip

_HEART_FAILURE: Final[tuple[Rule, ...]] = (
    # [AHA-HF] ≥ 1 kg in a day; 26 h window so that yesterday's reading is in it.
    TrendRule("hf.weight_1d", _P, Metric.BODY_WEIGHT, window_s=DAY + 2 * HOUR, rise=1.0,
              confirm_s=_WEIGHT_WINDOW),
    # [ESC-HF] ≥ 2 kg in 3 days.
    TrendRule("hf.weight_3d", _P, Metric.BODY_WEIGHT, window_s=3 * DAY + 2 * HOUR, rise=2.0,
              min_samples=3, priority=Priority.HIGH, confirm_s=_WEIGHT_WINDOW),
    # A weighing ≥ 5 kg from the week's median is another person: ask "was this you?".
    StepRule("hf.weight_step", _P, Metric.BODY_WEIGHT),
    # [HR-HF] resting HR drifting up: CUSUM of (daily resting HR − 14-day median − 3) ≥ 15 /min·day.
    CusumRule("hf.resting_hr_drift", _P, Metric.HEART_RATE, direction="up", slack=3.0, h=15.0,
              stages=_RESTING_HR),
    # [ESC-HF] symptomatic hypotension below 90 mmHg systolic.
    ThresholdRule("hf.sbp_low", _P, Metric.SYSTOLIC_BP, fire_low=90, clear_low=95,
                  confirm_s=_BP_WINDOW, confirm_by="mean"),
    # [ESC-HF] daily weighing.
    MissedMeasurementRule("hf.weight_missed", _P, Metric.BODY_WEIGHT),
)  # fmt: skip

_COPD: Final[tuple[Rule, ...]] = (
    # [BTS] below the 88-92 % target range; [NEWS2] scale 2 ≤ 85 % scores 2-3.
    ThresholdRule("copd.spo2_low", _P, Metric.SPO2, fire_low=87, clear_low=88, urgent_low=85,
                  priority=Priority.MEDIUM, confirm_s=_SPO2_WINDOW),
    # [BTS] a fall of the daily median SpO2 by more than 1 % accumulating to 5 %·day: exacerbation.
    CusumRule("copd.spo2_drift", _P, Metric.SPO2, direction="down", slack=1.0, h=5.0,
              stages=((DAY, "median"),)),
    # [NEWS2] pulse 111-130 scores 2; respiratory rate ≥ 25 scores 3; temperature ≥ 38.1 scores 1.
    ThresholdRule("copd.pulse_high", _P, Metric.PULSE_RATE, fire_high=111, clear_high=105,
                  persistence=Persistence(count=2)),
    ThresholdRule("copd.rr_high", _P, Metric.RESPIRATORY_RATE, fire_high=25, clear_high=22,
                  priority=Priority.HIGH),
    ThresholdRule("copd.temp_high", _P, Metric.BODY_TEMPERATURE, fire_high=38.1, clear_high=37.8),
    MissedMeasurementRule("copd.spo2_missed", _P, Metric.SPO2),
)  # fmt: skip

_HYPERTENSION: Final[tuple[Rule, ...]] = (
    # [ESH] grade 2 from 160 / 100 (medium), confirmed on the mean of a re-measured pair;
    # [ACC-AHA] severe hypertension ≥ 180 / ≥ 120 mmHg alerts at once (high).
    ThresholdRule("htn.sbp", _P, Metric.SYSTOLIC_BP, fire_high=160, clear_high=150,
                  urgent_high=180, persistence=Persistence(k_of_n=(2, 3)), confirm_s=_BP_WINDOW, confirm_by="mean"),
    ThresholdRule("htn.dbp", _P, Metric.DIASTOLIC_BP, fire_high=100, clear_high=95,
                  urgent_high=120, persistence=Persistence(k_of_n=(2, 3)), confirm_s=_BP_WINDOW, confirm_by="mean"),
    # [ESC-HF]/[ESH] hypotension on treatment below 90 mmHg.
    ThresholdRule("htn.sbp_low", _P, Metric.SYSTOLIC_BP, fire_low=90, clear_low=95,
                  confirm_s=_BP_WINDOW, confirm_by="mean"),
    # A home reading far above the patient's own baseline (median/MAD of 14 days, after a
    # week's warm-up), confirmed like the thresholds.
    BaselineRule("htn.sbp_baseline", _P, Metric.SYSTOLIC_BP, z=3.0, min_delta=20.0, low=False,
                 confirm_s=_BP_WINDOW, confirm_by="mean"),
    MissedMeasurementRule("htn.bp_missed", _P, Metric.SYSTOLIC_BP),
)  # fmt: skip

_CGM_EVENT: Final = Persistence(count=3, seconds=2 * CGM_INTERVAL_S)
"""[TIR] an event lasts ≥ 15 min: three consecutive 5-minute CGM readings beyond the level.
A meter's fingerstick has no stream around it and is judged alone, at once."""

_DIABETES: Final[tuple[Rule, ...]] = (
    # [ADA]/[TIR] level 1 < 70 mg/dL (whole mg/dL: ≤ 69) for 15 min on a CGM; level 2 < 54
    # (≤ 53) is urgent and alerts at once.
    GlucoseRule("dm.glucose_low", _P, fire_low=69, clear_low=80, urgent_low=53,
                persistence=_CGM_EVENT),
    # [CGM-PRED] below 70 mg/dL within 20 minutes on the last 20 minutes' trend; not over a
    # gap or a compression-low step.
    PredictedLowRule("dm.glucose_predicted_low", _P, level=70.0, horizon_s=20 * MINUTE,
                     window_s=20 * MINUTE),
    # [ADA] > 250 mg/dL: test ketones; [TIR] level 2 hyperglycaemia, for 15 min on a CGM.
    GlucoseRule("dm.glucose_high", _P, fire_high=251, clear_high=230, persistence=_CGM_EVENT),
    # docs/architecture.md alarm practice: a CGM silent 15 min (warn) / 30 min (urgent) past
    # its 5-minute interval is a device problem (sensor off, out of range), not a clinical one.
    SignalLossRule("dm.cgm_signal_loss", _P, Metric.BLOOD_GLUCOSE),
    MissedMeasurementRule("dm.glucose_missed", _P, Metric.BLOOD_GLUCOSE),
)  # fmt: skip

PROGRAMS: Final[Mapping[str, tuple[Rule, ...]]] = {
    "general": _GENERAL,
    "heart_failure": _HEART_FAILURE + _GENERAL,
    "copd": _COPD + _GENERAL,
    "hypertension": _HYPERTENSION + _GENERAL,
    "diabetes": _DIABETES + _GENERAL,
}
"""Rule templates per program; each disease program includes the general rules."""


_LOCKED_GENERAL: Final = frozenset({"general.sbp", "general.rr"})
"""[NEWS2] score-3 extremes (systolic ≤ 90 / ≥ 220 mmHg, respiratory rate ≤ 8 / ≥ 25): the
safety net under every program, which a per-patient override may not loosen or silence."""

LOCKED: Final[Mapping[str, frozenset[str]]] = {
    "general": _LOCKED_GENERAL,
    "heart_failure": _LOCKED_GENERAL,
    "copd": _LOCKED_GENERAL,
    "hypertension": _LOCKED_GENERAL,
    # [ADA] level 2 hypoglycaemia (< 54 mg/dL) always needs action.
    "diabetes": _LOCKED_GENERAL | {"dm.glucose_low"},
}
"""Rules of each program that clinicians cannot override per patient."""


def default_rules(program: str, patient_id: str) -> tuple[Rule, ...]:
    """The program's rules for one patient; SignalError names the programs for an unknown one."""
    try:
        templates = PROGRAMS[program]
    except KeyError:
        raise SignalError(f"unknown program {program!r}; one of {', '.join(PROGRAMS)}") from None
    return tuple(replace(rule, patient_id=patient_id) for rule in templates)
