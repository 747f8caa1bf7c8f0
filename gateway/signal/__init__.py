"""Understanding the patient's signal: the same numpy code on the gateway and in the cloud.

Stages, each a module: ``window`` (bounded sample rings) → ``clean`` (plausibility, device
flags, spikes) → ``rollup`` (+ ``hrv``) → ``rules`` (thresholds, rates; ``trends``,
``baseline``, ``missing``, ``artefacts``, ``cgm`` add their rule kinds) → findings with evidence →
``confirm`` (a non-urgent fire waits for a re-measurement). ``scores`` computes NEWS2,
``glucose`` the CGM time-in-range metrics and the AGP, ``replay`` runs rules over history,
``monitor`` runs them live, ``programs`` holds the default rule sets. Times are UTC epoch
seconds, values canonical units (``gateway.wire``).
"""

from gateway.signal.findings import (
    Evaluation,
    Evidence,
    Finding,
    FindingKind,
    Persistence,
    RuleState,
)
from gateway.signal.rules import RateRule, Rule, ThresholdRule, evaluate
from gateway.signal.series import Series, SignalError

__all__ = [
    "Evaluation",
    "Evidence",
    "Finding",
    "FindingKind",
    "Persistence",
    "RateRule",
    "Rule",
    "RuleState",
    "Series",
    "SignalError",
    "ThresholdRule",
    "evaluate",
]
