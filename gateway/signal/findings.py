"""What rule evaluation returns, and the vectorized episode engine every rule shares.

A rule turns a series into per-sample booleans: ``beyond`` (the condition holds),
``clear`` (the condition is over). The engine adds persistence (N consecutive usable
samples, T seconds, or k of the last n) and hysteresis (an active episode ends only on a
``clear`` sample, and ``beyond`` and ``clear`` come from distinct levels), then finds the
samples where an episode starts (``fire``) and ends (``all_clear``). IEC 60601-1-8 gives
the vocabulary; the engine is a handful of cumulative array operations, so one new sample
and a month of history cost the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

import numpy as np

from gateway import wire
from gateway.signal.series import F64, Bool, SignalError, from_epoch, iso

EVIDENCE_SAMPLES: Final = 32
"""At most this many samples are kept as evidence for one finding (the latest ones)."""


class FindingKind(StrEnum):
    FIRE = "fire"
    ALL_CLEAR = "all_clear"


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a finding was made: the samples (UTC epoch s, value), computed features, the rule."""

    samples: tuple[tuple[float, float], ...]
    features: tuple[tuple[str, float | str], ...]
    rule_version: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_version": self.rule_version,
            "samples": [{"ts": iso(t), "value": v} for t, v in self.samples],
            "features": dict(self.features),
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """One fire or all-clear of one rule for one patient, with its evidence."""

    patient_id: str
    rule: str
    rule_version: int
    kind: FindingKind
    category: wire.Category
    priority: wire.Priority
    ts: float
    """UTC epoch seconds of the sample (or the moment, for missing data) that decided it."""
    metric: wire.Metric
    value: float
    evidence: Evidence

    def to_row(self) -> dict[str, Any]:
        """The row ``vitalgate-cloud replay`` prints (DESIGN.md)."""
        return {
            "patient_id": self.patient_id,
            "rule": self.rule,
            "category": self.category.value,
            "priority": self.priority.value,
            "ts": iso(self.ts),
            "metric": self.metric.value,
            "value": self.value,
        }

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready."""
        return {
            **self.to_row(),
            "kind": self.kind.value,
            "rule_version": self.rule_version,
            "evidence": self.evidence.to_dict(),
        }

    def to_event(self, event_id: str) -> wire.Event:
        """The wire event for ``…/events``; ``value`` is left out when it is not finite."""
        return wire.Event(
            id=event_id,
            kind=wire.EventKind.ALERT
            if self.kind is FindingKind.FIRE
            else wire.EventKind.ALL_CLEAR,
            category=self.category,
            ts=from_epoch(self.ts),
            patient_id=self.patient_id,
            rule=self.rule,
            rule_version=self.rule_version,
            priority=self.priority,
            metric=self.metric,
            value=self.value if np.isfinite(self.value) else None,
            evidence=self.evidence.to_dict(),
        )


@dataclass(frozen=True, slots=True)
class Persistence:
    """How long a condition must hold before a rule fires (IEC 60601-1-8 alarm delay).

    Consecutive mode: ``count`` consecutive usable samples beyond the level, the first and
    the current at least ``seconds`` apart. k-of-n mode (``k_of_n=(k, n)``): the current
    sample and at least k of the last n usable samples beyond the level.
    """

    count: int = 1
    seconds: float = 0.0
    k_of_n: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.count < 1 or not self.seconds >= 0:
            raise SignalError("persistence needs count ≥ 1 and seconds ≥ 0")
        if self.k_of_n is not None and not 1 <= self.k_of_n[0] <= self.k_of_n[1]:
            raise SignalError("k_of_n must satisfy 1 ≤ k ≤ n")

    @property
    def span(self) -> int:
        """Samples that decide one firing (the evidence to keep)."""
        return self.k_of_n[1] if self.k_of_n else self.count


@dataclass(frozen=True, slots=True)
class RuleState:
    """Which levels of a rule were active after the last evaluated sample."""

    active: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The findings of one evaluation, oldest first, and the state to pass to the next one."""

    findings: tuple[Finding, ...]
    state: RuleState


def triggered(t: F64, beyond: Bool, p: Persistence) -> Bool:
    """True where ``beyond`` has persisted long enough for the rule to fire."""
    n = beyond.size
    if p.k_of_n is not None:
        k, width = p.k_of_n
        c = np.concatenate(([0], np.cumsum(beyond)))
        hits = c[1:] - c[np.maximum(np.arange(1, n + 1) - width, 0)]
        return beyond & (hits >= k)
    idx = np.arange(n)
    last_not = np.maximum.accumulate(np.where(beyond, -1, idx))
    run = idx - last_not
    started = t[np.minimum(last_not + 1, n - 1)]
    out: Bool = beyond & (run >= p.count) & (t - started >= p.seconds)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Episodes:
    """Sample indices where episodes start and end, and whether one is open at the end."""

    fire: np.ndarray
    clear: np.ndarray
    active_at_end: bool


def episodes(
    t: F64, beyond: Bool, clear: Bool, p: Persistence, *, active: bool = False
) -> Episodes:
    """Fire where a persistent ``beyond`` starts an episode, clear where ``clear`` ends it.

    ``beyond`` and ``clear`` must not both hold on a sample (distinct levels); samples with
    neither (the dead band between clear and fire levels, or no feature) change nothing.
    ``active`` is the state before the first sample.
    """
    n = t.size
    if n == 0:
        empty = np.empty(0, dtype=np.intp)
        return Episodes(empty, empty, active)
    trig = triggered(t, beyond, p)
    idx = np.arange(n)
    last = np.maximum.accumulate(np.where(trig | clear, idx, -1))
    state = np.where(last >= 0, trig[np.maximum(last, 0)], active)
    prev = np.concatenate(([active], state[:-1]))
    return Episodes(np.flatnonzero(state & ~prev), np.flatnonzero(~state & prev), bool(state[-1]))


class RuleIdentity(Protocol):
    """What a finding needs to know about the rule that made it."""

    @property
    def rule_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def patient_id(self) -> str: ...
    @property
    def metric(self) -> wire.Metric: ...
    @property
    def category(self) -> wire.Category: ...


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a rule: its name, priority, and the features to record with a finding."""

    name: str
    priority: wire.Priority
    features: tuple[tuple[str, float | str], ...] = ()


def level_findings(
    rule: RuleIdentity,
    level: Level,
    t: F64,
    v: F64,
    ep: Episodes,
    *,
    span: int,
    extra: Mapping[str, F64] | None = None,
    since: float | None = None,
) -> list[Finding]:
    """Turn one level's episodes into findings (a loop over findings, never over samples).

    ``extra`` holds per-sample features (e.g. the slope) recorded at the deciding sample.
    """
    out: list[Finding] = []
    for kind, idx in ((FindingKind.FIRE, ep.fire), (FindingKind.ALL_CLEAR, ep.clear)):
        for i in idx:
            if since is not None and t[i] <= since:
                continue
            lo = max(0, i - min(span, EVIDENCE_SAMPLES) + 1) if kind is FindingKind.FIRE else i
            feats = [("level", level.name), *level.features]
            feats += [(k, float(a[i])) for k, a in (extra or {}).items()]
            out.append(
                Finding(
                    patient_id=rule.patient_id,
                    rule=rule.rule_id,
                    rule_version=rule.version,
                    kind=kind,
                    category=rule.category,
                    priority=level.priority,
                    ts=float(t[i]),
                    metric=rule.metric,
                    value=float(v[i]),
                    evidence=Evidence(
                        samples=tuple(
                            zip(t[lo : i + 1].tolist(), v[lo : i + 1].tolist(), strict=True)
                        ),
                        features=tuple(feats),
                        rule_version=rule.version,
                    ),
                )
            )
    return out


def moment_finding(
    rule: RuleIdentity,
    level: Level,
    ts: float,
    last: tuple[float, float],
    features: tuple[tuple[str, float | str], ...] = (),
) -> Finding:
    """A fire decided by the clock rather than a sample (missing data); ``value`` and the
    evidence are the last sample received before ``ts``."""
    return Finding(
        patient_id=rule.patient_id,
        rule=rule.rule_id,
        rule_version=rule.version,
        kind=FindingKind.FIRE,
        category=rule.category,
        priority=level.priority,
        ts=float(ts),
        metric=rule.metric,
        value=float(last[1]),
        evidence=Evidence(
            samples=((float(last[0]), float(last[1])),),
            features=(("level", level.name), *level.features, *features),
            rule_version=rule.version,
        ),
    )
