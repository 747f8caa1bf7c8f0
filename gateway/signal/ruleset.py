"""Rules as data: every rule kind to and from plain JSON-ready dicts.

A rule set file (``vitalgate-cloud replay --rules FILE``) and the cloud's stored rule rows use
this form: ``{"kind": "threshold", "rule_id": …, "patient_id": …, "metric": "spo2", …}``
with the fields of the rule's dataclass; ``persistence`` is a nested dict and ``stages`` a
list of ``[period_s, stat]`` pairs. Unknown kinds and fields are refused with their name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

from gateway import wire
from gateway.signal.artefacts import StepRule
from gateway.signal.baseline import BaselineRule, CusumRule
from gateway.signal.cgm import GlucoseRule, PredictedLowRule, SignalLossRule
from gateway.signal.findings import Persistence
from gateway.signal.missing import MissedMeasurementRule, StaleRule
from gateway.signal.rules import RateRule, Rule, ThresholdRule
from gateway.signal.series import SignalError
from gateway.signal.trends import TrendRule

KINDS: Final[Mapping[str, type]] = {
    "threshold": ThresholdRule,
    "rate": RateRule,
    "trend": TrendRule,
    "baseline": BaselineRule,
    "cusum": CusumRule,
    "stale": StaleRule,
    "missed": MissedMeasurementRule,
    "step": StepRule,
    "glucose": GlucoseRule,
    "predicted_low": PredictedLowRule,
    "signal_loss": SignalLossRule,
}
_KIND_OF: Final = {cls: name for name, cls in KINDS.items()}
_ENUMS: Final[Mapping[str, type[Enum]]] = {
    "metric": wire.Metric,
    "priority": wire.Priority,
    "urgent_priority": wire.Priority,
    "category": wire.Category,
}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Persistence):
        return {"count": value.count, "seconds": value.seconds,
                "k_of_n": list(value.k_of_n) if value.k_of_n else None}  # fmt: skip
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """A rule as a JSON-ready dict with its ``kind``."""
    out: dict[str, Any] = {"kind": _KIND_OF[type(rule)]}
    for f in dataclasses.fields(rule):
        out[f.name] = _plain(getattr(rule, f.name))
    return out


def rule_from_dict(data: Mapping[str, Any]) -> Rule:
    """The rule a dict describes; SignalError names an unknown kind or field or a bad value."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = KINDS.get(str(kind))
    if cls is None:
        raise SignalError(f"unknown rule kind {kind!r}; one of {', '.join(KINDS)}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise SignalError(f"{kind} rule: unknown field(s) {', '.join(unknown)}")
    try:
        for name, enum in _ENUMS.items():
            if name in fields:
                fields[name] = enum(fields[name])
        if "persistence" in fields:
            p = dict(fields["persistence"])
            k_of_n = p.get("k_of_n")
            p["k_of_n"] = tuple(k_of_n) if k_of_n else None
            fields["persistence"] = Persistence(**p)
        if "stages" in fields:
            fields["stages"] = tuple(
                (float(period), str(stat)) for period, stat in fields["stages"]
            )
        rule: Rule = cls(**fields)
    except (TypeError, ValueError) as exc:
        raise SignalError(f"{kind} rule {fields.get('rule_id')!r}: {exc}") from exc
    return rule
