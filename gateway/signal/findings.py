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

import hashlib
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
        """The row ``vitalgate-cloud replay`` prints (docs/architecture.md, "Alert burden")."""
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

    @property
    def level(self) -> str:
        """The rule level that made it (``high``, ``urgent_low``, ``stale``, …)."""
        return str(dict(self.evidence.features).get("level", ""))

    @property
    def id(self) -> str:
        """Stable id: the same finding from the gateway, live ingest or a replay gets the same
        id, so the cloud stores it once (a wire ``Identifier``, at most 128 characters)."""
        key = "|".join(
            (
                self.patient_id,
                self.rule,
                str(self.rule_version),
                self.level,
                self.kind,
                repr(self.ts),
            )
        )
        digest = hashlib.blake2s(key.encode(), digest_size=10).hexdigest()
        return f"f-{digest}-{int(self.ts)}"

    def to_event(self, event_id: str | None = None) -> wire.Event:
        """The wire event for ``…/events`` (id: ``self.id`` unless given); a non-finite
        ``value`` is left out."""
        return wire.Event(
            id=event_id or self.id,
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


def triggered(t: F64, beyond: Bool, p: Persistence) -> np.ndarray:
    """Indices (ascending) of the samples where ``beyond`` has persisted long enough to fire.

    Works on the (usually few) beyond samples only: runs of consecutive indices, or the
    number of beyond samples among the last n found by binary search.
    """
    hits = np.flatnonzero(beyond)
    if hits.size == 0:
        return hits
    if p.k_of_n is not None:
        k, width = p.k_of_n
        in_window = np.arange(1, hits.size + 1) - np.searchsorted(hits, hits - width, side="right")
        return hits[in_window >= k]
    new_run = np.concatenate(([True], np.diff(hits) != 1))
    pos = np.arange(hits.size)
    run_first = np.maximum.accumulate(np.where(new_run, pos, 0))
    long_enough = (pos - run_first + 1 >= p.count) & (t[hits] - t[hits[run_first]] >= p.seconds)
    return hits[long_enough]


@dataclass(frozen=True, slots=True, eq=False)
class Episodes:
    """Sample indices where episodes start and end, and whether one is open at the end."""

    fire: np.ndarray
    clear: np.ndarray
    active_at_end: bool


def _next_clear(blocked: np.ndarray, after: np.ndarray, n: int) -> np.ndarray:
    """First index > each of ``after`` that is not in ``blocked`` (sorted); n if none.

    Within a run of consecutive blocked indices ``blocked − position`` is constant, so the
    end of the run holding ``after + 1`` is one binary search away.
    """
    cand = after + 1
    j = np.searchsorted(blocked, cand)
    inside = j < blocked.size
    inside[inside] = blocked[j[inside]] == cand[inside]
    shift = blocked - np.arange(blocked.size)
    run_end = np.searchsorted(shift, shift[j[inside]], side="right") - 1
    out = cand.copy()
    out[inside] = blocked[run_end] + 1
    capped: np.ndarray = np.minimum(out, n)
    return capped


def episodes(
    t: F64, beyond: Bool, clear: Bool, p: Persistence, *, active: bool = False
) -> Episodes:
    """Fire where a persistent ``beyond`` starts an episode, clear where ``clear`` ends it.

    ``beyond`` and ``clear`` must not both hold on a sample (distinct levels); samples with
    neither (the dead band between clear and fire levels, or no feature) change nothing.
    ``active`` is the state before the first sample. An episode starts at a trigger with a
    clear sample (or the inactive start) since the previous trigger, and ends at the first
    clear sample after its last trigger. Only the triggers and the non-clear samples (both
    few in practice) are indexed; the rest is binary search.
    """
    n = t.size
    trig = triggered(t, beyond, p)
    empty = np.empty(0, dtype=np.intp)
    blocked = np.flatnonzero(~clear)
    first_clear = _next_clear(blocked, np.array([-1]), n)
    if trig.size == 0:
        if active and first_clear[0] < n:
            return Episodes(empty, first_clear, False)
        return Episodes(empty, empty, active)
    clears_before = trig - np.searchsorted(blocked, trig)
    gap_cleared = np.concatenate(([clears_before[0] > 0 or not active], np.diff(clears_before) > 0))
    after_last = _next_clear(blocked, trig[-1:], n)
    ends = np.concatenate((gap_cleared[1:], after_last < n))
    ending = _next_clear(blocked, trig[ends], n)
    if active and clears_before[0] > 0:
        ending = np.concatenate((first_clear, ending))
    return Episodes(trig[gap_cleared], ending, bool(after_last[0] >= n))


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
    span: int | np.ndarray,
    extra: Mapping[str, F64] | None = None,
    since: float | None = None,
) -> list[Finding]:
    """Turn one level's episodes into findings (a loop over findings, never over samples).

    ``span``: the samples that decided a fire (the evidence kept), one number for the rule
    or one per sample (a trend's window), so that the evidence of a finding never depends on
    samples after it. ``extra`` holds per-sample features (e.g. the slope) recorded at the
    deciding sample.
    """
    out: list[Finding] = []
    for kind, idx in ((FindingKind.FIRE, ep.fire), (FindingKind.ALL_CLEAR, ep.clear)):
        for i in idx:
            if since is not None and t[i] <= since:
                continue
            n = span if isinstance(span, int) else int(span[i])
            lo = max(0, i - min(n, EVIDENCE_SAMPLES) + 1) if kind is FindingKind.FIRE else i
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
