"""Replay: every finding a set of rules would have produced over a history.

The basis of the cloud's shadow mode and of alert burden ("how many alerts would this rule
have caused last month"). Each (patient, metric) series is cleaned once, exactly as the
gateway cleans it, then every rule is evaluated on it with the same ``rules.evaluate`` the
gateway and live ingest use.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gateway import wire
from gateway.signal.clean import clean, device_usable
from gateway.signal.confirm import Decision, settle_series
from gateway.signal.findings import Finding, FindingKind
from gateway.signal.rules import Rule, evaluate, sort_findings
from gateway.signal.series import Series, SignalError, to_epoch

Key = tuple[str, wire.Metric]


@dataclass(frozen=True, slots=True)
class History:
    """Raw series per (patient_id, metric): values in canonical units, ``usable`` from devices."""

    series: Mapping[Key, Series]

    @property
    def end(self) -> float | None:
        """The time of the latest sample, UTC epoch seconds."""
        ends = [float(s.t[-1]) for s in self.series.values() if len(s)]
        return max(ends) if ends else None

    def patients(self) -> list[str]:
        return sorted({p for p, _ in self.series})


def history_from_readings(readings: Iterable[wire.Reading]) -> History:
    """Group wire readings into series; duplicates (same time) keep the first reading."""
    cols: dict[Key, tuple[list[float], list[float], list[bool]]] = defaultdict(lambda: ([], [], []))
    for r in readings:
        if r.unit != wire.CANONICAL_UNITS[r.metric]:
            raise SignalError(
                f"reading {r.id}: {r.metric.value} in {r.unit!r}, expected canonical unit"
            )
        t, v, u = cols[(r.patient_id, r.metric)]
        t.append(to_epoch(r.ts))
        v.append(r.value)
        u.append(device_usable(r.quality.flags, r.quality.usable))
    return History({k: Series.of(*c) for k, c in cols.items()})


def cleaned(history: History, *, now: float) -> History:
    """Every series through ``clean.clean`` (plausibility, device flags, spikes, future)."""
    return History({k: clean(s, k[1], now=now).series for k, s in history.series.items()})


def replay(
    rules: Sequence[Rule | wire.ThresholdRule],
    history: History,
    *,
    now: float | None = None,
    clean_first: bool = True,
) -> tuple[Finding, ...]:
    """Every finding ``rules`` produce over ``history`` as known at ``now`` (default: its end)."""
    end = history.end if now is None else now
    if end is None:
        return ()
    if not np.isfinite(end):
        raise SignalError("now must be finite UTC epoch seconds")
    data = cleaned(history, now=end) if clean_first else history
    found: list[Finding] = []
    for rule in rules:
        series = data.series.get((rule.patient_id, rule.metric))
        if series is not None:
            found += evaluate(rule, series, now=end).findings
    return sort_findings(found)


def replay_decisions(
    rules: Sequence[Rule],
    history: History,
    *,
    now: float | None = None,
) -> tuple[Decision, ...]:
    """Every fire ``rules`` make over ``history`` and what confirmation made of it at ``now``
    (default: the history's end): alerted, pending or cancelled (``gateway.signal.confirm``)."""
    end = history.end if now is None else now
    if end is None:
        return ()
    if not np.isfinite(end):
        raise SignalError("now must be finite UTC epoch seconds")
    data = cleaned(history, now=end)
    grouped: dict[Key, list[Rule]] = defaultdict(list)
    for rule in rules:
        grouped[(rule.patient_id, rule.metric)].append(rule)
    out: list[Decision] = []
    for key, group in grouped.items():
        series = data.series.get(key)
        if series is not None:
            out += settle_series(group, series, now=end)
    out.sort(key=lambda d: (d.finding.ts if d.decided_at is None else d.decided_at, d.finding.rule))
    return tuple(out)


def alert_burden(findings: Iterable[Finding]) -> dict[str, int]:
    """Fires per rule id (all-clears are not alerts)."""
    return dict(Counter(f.rule for f in findings if f.kind is FindingKind.FIRE))
