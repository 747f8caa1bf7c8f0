"""Confirm before alarming: a non-urgent fire is a pending finding until a re-measurement.

A rule with a confirmation window (``confirm_s`` > 0, part of its JSON form and versioned
with it) does not alert on the reading that crossed its level. The finding waits; the
patient is prompted to re-measure, and:

- the re-measured value is judged by the same rule at the same moment (the first reading's
  value replaced by it, or for ``confirm_by="mean"`` by the mean of both, as home blood
  pressure is judged on the mean of a series of readings a minute apart — AHA/ACC 2017
  guideline, section 4.2 and table 11). If the rule still fires, the finding is
  CONFIRMED and alerts at the re-measurement with both readings as evidence;
  otherwise it is CANCELLED: recorded, never notified, and its reading left out of later
  evaluations (baselines included);
- no usable re-measurement (a device-flagged one does not count) within the window: the
  finding alerts at the window's end, UNCONFIRMED, with a note saying so;
- urgent levels (``urgent_*``) never wait: IMMEDIATE.

``decide`` is pure (series, rule, finding, now); ``settle_series`` runs it to a fixed point
over one series, as ``vitalgate-cloud replay`` and the alert burden benchmark do, and live
ingest reaches the same decisions one reading at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

import numpy as np

from gateway import wire
from gateway.signal.findings import Evidence, Finding, FindingKind
from gateway.signal.rules import Rule, evaluate
from gateway.signal.series import Series, SignalError

MODES: Final = ("next", "mean")
MAX_PASSES: Final = 8
"""Fixed-point passes of ``settle_series`` (each cancellation can uncover one more fire)."""


class Outcome(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    UNCONFIRMED = "unconfirmed"
    IMMEDIATE = "immediate"


ALERTING: Final = frozenset({Outcome.CONFIRMED, Outcome.UNCONFIRMED, Outcome.IMMEDIATE})


@dataclass(frozen=True, slots=True)
class Decision:
    """What became of one fire: ``alert`` is the finding to open an alert with (if any)."""

    outcome: Outcome
    finding: Finding
    """The fire as the rule made it (the pending finding)."""
    decided_at: float | None
    """UTC epoch seconds of the deciding reading or the window's end; None while pending."""
    alert: Finding | None = None

    def to_row(self) -> dict[str, Any]:
        """The ``vitalgate-cloud replay`` line: an alert's row, or the pending finding's row
        with its ``status`` (``pending`` or ``cancelled``)."""
        if self.alert is not None:
            return self.alert.to_row()
        return {**self.finding.to_row(), "status": self.outcome.value}


def window_s(rule: Rule) -> float:
    """The rule's confirmation window in seconds (0: none)."""
    return float(getattr(rule, "confirm_s", 0.0) or 0.0)


def needs_confirmation(rule: Rule, finding: Finding) -> bool:
    """A clinical, non-urgent fire of a rule with a confirmation window."""
    if window_s(rule) <= 0 or getattr(rule, "stages", None):
        return False
    return (
        finding.kind is FindingKind.FIRE
        and finding.category is wire.Category.CLINICAL
        and not finding.level.startswith("urgent")
    )


def deadline(rule: Rule, finding: Finding) -> float:
    """When the finding alerts unconfirmed if nothing was re-measured (UTC epoch s)."""
    return finding.ts + window_s(rule)


def expired(deadline_s: float, *, now: float) -> bool:
    """Pure expiry test for the scheduler tick: the window is over at ``now``."""
    return now >= deadline_s


def _with(finding: Finding, *, ts: float, value: float, samples: Sequence[tuple[float, float]],
          features: Sequence[tuple[str, float | str]]) -> Finding:  # fmt: skip
    ev = finding.evidence
    return replace(
        finding,
        ts=float(ts),
        value=float(value),
        evidence=Evidence(tuple(samples), (*ev.features, *features), ev.rule_version),
    )


def still_fires(rule: Rule, finding: Finding, series: Series, value: float) -> bool:
    """Would ``rule`` have made the same fire had the first reading been ``value``?"""
    i = int(np.searchsorted(series.t, finding.ts))
    if i >= len(series) or series.t[i] != finding.ts:
        raise SignalError(f"rule {finding.rule}: no sample at the pending finding's time")
    v = series.v.copy()
    v[i] = value
    probe = Series(series.t[: i + 1], v[: i + 1], series.usable[: i + 1])
    again = evaluate(rule, probe, now=finding.ts, since=finding.ts - 1e-6).findings
    return any(f.kind is FindingKind.FIRE and f.level == finding.level for f in again)


def decide(rule: Rule, finding: Finding, series: Series, *, now: float) -> Decision:
    """The fate of one fire of ``rule`` given the (cleaned) series known at ``now``."""
    if not needs_confirmation(rule, finding):
        return Decision(Outcome.IMMEDIATE, finding, finding.ts, finding)
    mode = str(getattr(rule, "confirm_by", "next"))
    if mode not in MODES:
        raise SignalError(f"rule {finding.rule}: confirm_by must be one of {', '.join(MODES)}")
    end = deadline(rule, finding)
    s = series.until(min(now, end))
    later = np.flatnonzero(s.usable & (s.t > finding.ts))
    if later.size == 0:
        if not expired(end, now=now):
            return Decision(Outcome.PENDING, finding, None)
        minutes = round(window_s(rule) / 60)
        note = f"not confirmed: no re-measurement within {minutes} min"
        alert = _with(finding, ts=end, value=finding.value, samples=finding.evidence.samples,
                      features=(("confirmation", "unconfirmed"), ("note", note)))  # fmt: skip
        return Decision(Outcome.UNCONFIRMED, finding, end, alert)
    t1, v1 = float(s.t[later[0]]), float(s.v[later[0]])
    value = (finding.value + v1) / 2 if mode == "mean" else v1
    if not still_fires(rule, finding, series, value):
        return Decision(Outcome.CANCELLED, finding, t1)
    samples = (*finding.evidence.samples, (t1, v1))
    feats = (("confirmation", "confirmed"), ("pending_ts", finding.ts),
             ("pending_value", finding.value), ("confirmed_value", value))  # fmt: skip
    alert = _with(finding, ts=t1, value=value, samples=samples, features=feats)
    return Decision(Outcome.CONFIRMED, finding, t1, alert)


def exclude(series: Series, times: Sequence[float] | np.ndarray) -> Series:
    """The series with the samples at ``times`` unusable (cancelled readings)."""
    if len(times) == 0:
        return series
    gone = np.isin(series.t, np.asarray(times, dtype=np.float64))
    return Series(series.t, series.v, series.usable & ~gone)


def settle_series(rules: Sequence[Rule], series: Series, *, now: float) -> list[Decision]:
    """Every fire of ``rules`` (one patient and metric, cleaned series) and its fate at ``now``.

    A cancelled reading is left out and the rules evaluated again until nothing new is
    cancelled, as live ingest leaves out readings whose findings it has cancelled.
    """
    cancelled: dict[tuple[str, float], Decision] = {}
    for _ in range(MAX_PASSES):
        s = exclude(series, sorted({ts for _, ts in cancelled}))
        decisions = [
            decide(rule, f, s, now=now)
            for rule in rules
            for f in evaluate(rule, s, now=now).findings
            if f.kind is FindingKind.FIRE
        ]
        new = {
            (d.finding.rule, d.finding.ts): d
            for d in decisions
            if d.outcome is Outcome.CANCELLED and (d.finding.rule, d.finding.ts) not in cancelled
        }
        if not new:
            break
        cancelled.update(new)
    kept = [d for d in decisions if d.outcome is not Outcome.CANCELLED]
    out = kept + list(cancelled.values())
    out.sort(key=lambda d: (d.finding.ts if d.decided_at is None else d.decided_at, d.finding.rule))
    return out
