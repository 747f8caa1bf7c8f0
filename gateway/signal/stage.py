"""The signal stage of the running gateway: edge findings and per-minute rollups.

It sits between the device manager and the outbox (the pipeline in docs/architecture.md). Each batch of wire
readings feeds a ``Monitor`` that holds the rules of the cloud config (``edge_rules``: the
patients' whole rule sets, or an older cloud's plain thresholds), confirmation included;
its findings become events for ``…/events``, with their evidence. Continuous streams (a
strap's heart rate, an oximeter's continuous SpO2 and pulse) are aggregated per minute into
rollups for ``…/rollups`` once the minute is over, with the HRV of the strap's RR
intervals. One batch at a time (the gateway's outbox writer calls it from a worker thread,
as the numpy work blocks); a new rule set (from the event loop) waits for the batch under
way, since the new monitor takes over the old one's windows and state.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from gateway import wire
from gateway.signal.clean import clean, device_usable
from gateway.signal.monitor import Monitor
from gateway.signal.rollup import rollup, rollup_hrv, to_wire
from gateway.signal.rules import Rule
from gateway.signal.series import MINUTE, Series

STREAM_SOURCES: Final = frozenset({"2a37", "2a5f"})
"""Characteristics that stream (Heart Rate Measurement, PLX Continuous Measurement): their
readings are rolled up per minute; spot measurements are not."""
ROLLUP_GRACE_S: Final = 5.0
"""A minute's rollup waits this long after the minute for late samples."""

Key = tuple[str, str, wire.Metric]
"""(device, patient, metric) of one stream."""


@dataclass(slots=True)
class _Minute:
    start: float
    t: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)
    usable: list[bool] = field(default_factory=list)
    rr_t: list[float] = field(default_factory=list)
    rr: list[float] = field(default_factory=list)
    """RR intervals (s) of the minute's heart-rate readings, each stamped with its reading."""


def _epoch(r: wire.Reading) -> float:
    return r.ts.timestamp()


class EdgeStage:
    """Findings and rollups of the readings passing through one gateway."""

    def __init__(
        self, rules: Sequence[Rule | wire.ThresholdRule] = (), *, rollups: bool = True
    ) -> None:
        self.rollups = rollups
        """Make rollups (else only findings)."""
        self.rules: tuple[Rule | wire.ThresholdRule, ...] = ()
        self._lock = threading.Lock()
        self.monitor = Monitor(())
        self.watched: frozenset[tuple[str, wire.Metric]] = frozenset()
        self.set_rules(rules)
        self._open: dict[Key, _Minute] = {}
        self._closed: dict[Key, float] = {}
        """The start of each stream's last rolled-up minute: a rollup is made once."""
        self.late = 0
        """Stream samples that arrived after their minute's rollup was made (still sent as
        readings, not in any rollup)."""

    def set_rules(self, rules: Sequence[Rule | wire.ThresholdRule]) -> None:
        """Take the config's rules (thread-safe). A new set keeps the windows (baselines need
        no new warm-up) and each unchanged rule's state; nothing is reported twice
        (``Monitor.following``)."""
        rules = tuple(rules)
        with self._lock:
            self._set_rules(rules)

    def _set_rules(self, rules: tuple[Rule | wire.ThresholdRule, ...]) -> None:
        if rules == self.rules:
            return
        self.rules = rules
        self.monitor = Monitor.following(self.monitor, rules)
        self.watched = frozenset((r.patient_id, r.metric) for r in rules)

    def observe(
        self,
        readings: Sequence[wire.Reading],
        *,
        now: float,
        rr: Mapping[str, Sequence[float]] | None = None,
    ) -> tuple[list[wire.Event], list[wire.Rollup]]:
        """New findings as events (with the alerts of held findings whose confirmation window
        is over), and the rollups of every minute now over (``now``: UTC epoch seconds).
        ``rr``: the RR intervals (s) a heart-rate reading carried, by reading id."""
        with self._lock:
            return self._observe(readings, now=now, rr=rr or {})

    def _observe(
        self, readings: Sequence[wire.Reading], *, now: float, rr: Mapping[str, Sequence[float]]
    ) -> tuple[list[wire.Event], list[wire.Rollup]]:
        monitor, watched = self.monitor, self.watched
        groups: dict[tuple[str, wire.Metric], list[wire.Reading]] = defaultdict(list)
        rollups: list[wire.Rollup] = []
        for r in readings:
            if (r.patient_id, r.metric) in watched:
                groups[(r.patient_id, r.metric)].append(r)
            if self.rollups and r.quality.source in STREAM_SOURCES:
                rollups += self._add(r, rr.get(r.id, ()))
        events: list[wire.Event] = []
        for (patient, metric), rs in groups.items():
            _, found = monitor.ingest(
                patient,
                metric,
                [_epoch(r) for r in rs],
                [r.value for r in rs],
                [device_usable(r.quality.flags, r.quality.usable) for r in rs],
                now=now,
            )
            events += [f.to_event() for f in found]
        events += [f.to_event() for f in monitor.expire(now=now)]
        rollups += self.flush(now=now)
        return events, rollups

    def flush(self, *, now: float) -> list[wire.Rollup]:
        """Rollups of the minutes over by ``now`` (with the grace for late samples)."""
        done = [k for k, m in self._open.items() if m.start + MINUTE + ROLLUP_GRACE_S <= now]
        return [r for k in done for r in self._close(k)]

    def _add(self, r: wire.Reading, rr: Sequence[float]) -> list[wire.Rollup]:
        key = (r.device_id, r.patient_id, r.metric)
        t = _epoch(r)
        start = math.floor(t / MINUTE) * MINUTE
        out: list[wire.Rollup] = []
        minute = self._open.get(key)
        if minute is not None and start > minute.start:
            out = self._close(key)
            minute = None
        elif (minute is not None and start < minute.start) or start <= self._closed.get(
            key, -math.inf
        ):
            self.late += 1
            return out
        if minute is None:
            minute = self._open[key] = _Minute(start)
        minute.t.append(t)
        minute.v.append(r.value)
        usable = device_usable(r.quality.flags, r.quality.usable)
        minute.usable.append(usable)
        if usable and rr and r.metric is wire.Metric.HEART_RATE:
            minute.rr_t += [t] * len(rr)
            minute.rr += rr
        return out

    def _close(self, key: Key) -> list[wire.Rollup]:
        minute = self._open.pop(key)
        self._closed[key] = minute.start
        device_id, patient_id, metric = key
        series = clean(Series.of(minute.t, minute.v, minute.usable), metric).series
        hrv = None
        if minute.rr:
            rr_t, rr = np.asarray(minute.rr_t), np.asarray(minute.rr, dtype=np.float64)
            hrv = rollup_hrv(rr_t, rr, period=MINUTE)
        return to_wire(
            rollup(series, period=MINUTE),
            patient_id=patient_id,
            device_id=device_id,
            metric=metric,
            hrv=hrv,
        )
