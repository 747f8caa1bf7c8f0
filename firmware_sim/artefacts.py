"""Everyday measurement artefacts of home monitoring, seeded: what real homes add to a cohort.

A cuff put on badly reads one high pair and the patient re-measures minutes or hours later;
a coat on the scale adds a kilogram or two until the next weighing; another person steps on
the scale; the cuff reports a fit error with a wild value; a loose oximeter probe reads a few
per cent low without a flag. ``draw`` places them on a patient's routine measurements
(a pure function of the seed); ``Artefact.apply`` changes one reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np

from gateway.wire import Metric


class ArtefactKind(StrEnum):
    BAD_CUFF = "bad_cuff"
    """One reading 24-34 / 12-17 mmHg high (cuff too small or loose); re-measured normal."""
    COAT = "coat"
    """Weighed in a coat and shoes: 1.2-2.0 kg heavier; sometimes re-weighed at once."""
    OTHER_PERSON = "other_person"
    """Someone else on the scale: 15-40 kg lighter or heavier."""
    CUFF_ERROR = "cuff_error"
    """The cuff flags a fit error (``cuff_fit``) on a wild value; re-measured minutes later."""
    LOOSE_PROBE = "loose_probe"
    """An oximeter reading of 88.5-91 % with no flag; often re-measured minutes later."""


DEVICE_METRICS: Final[Mapping[ArtefactKind, tuple[Metric, ...]]] = {
    ArtefactKind.BAD_CUFF: (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP),
    ArtefactKind.COAT: (Metric.BODY_WEIGHT,),
    ArtefactKind.OTHER_PERSON: (Metric.BODY_WEIGHT,),
    ArtefactKind.CUFF_ERROR: (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.PULSE_RATE),
    ArtefactKind.LOOSE_PROBE: (Metric.SPO2,),
}
"""The metrics of the measurement an artefact spoils."""

RATES_PER_WEEK: Final[Mapping[ArtefactKind, float]] = {
    ArtefactKind.BAD_CUFF: 0.5,
    ArtefactKind.COAT: 0.3,
    ArtefactKind.OTHER_PERSON: 0.2,
    ArtefactKind.CUFF_ERROR: 0.3,
    ArtefactKind.LOOSE_PROBE: 0.3,
}
"""Default frequency of each artefact per patient-week (several a month, as in home use)."""

REMEASURE: Final[Mapping[ArtefactKind, tuple[float, float, float]]] = {
    # kind: (probability the patient re-measures on their own, shortest, longest delay in s)
    ArtefactKind.BAD_CUFF: (1.0, 120.0, 4 * 3600.0),
    ArtefactKind.COAT: (0.5, 120.0, 1800.0),
    ArtefactKind.OTHER_PERSON: (0.0, 0.0, 0.0),
    ArtefactKind.CUFF_ERROR: (1.0, 60.0, 600.0),
    ArtefactKind.LOOSE_PROBE: (0.7, 60.0, 1200.0),
}


@dataclass(frozen=True)
class Artefact:
    kind: ArtefactKind
    day: int
    slot: int
    """Index of the routine measurement of that day it spoils."""
    size: float
    """Where in its range the artefact falls, 0-1."""
    sign: float
    remeasure_after_s: float | None
    """When the patient re-measures on their own (a normal reading), or None."""

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return DEVICE_METRICS[self.kind]

    def apply(self, metric: Metric, value: float) -> tuple[float, tuple[str, ...]]:
        """The reading the device reports instead of ``value``, and its quality flags."""
        k, x = self.kind, self.size
        if k is ArtefactKind.BAD_CUFF:
            return value + (24 + 10 * x if metric is Metric.SYSTOLIC_BP else 12 + 5 * x), ()
        if k is ArtefactKind.COAT:
            return value + 1.2 + 0.8 * x, ()
        if k is ArtefactKind.OTHER_PERSON:
            return value + self.sign * (15 + 25 * x), ()
        if k is ArtefactKind.CUFF_ERROR:
            return value * (0.7 + 0.7 * x), ("cuff_fit",)
        return min(value, 88.5 + 2.5 * x), ()


def draw(
    seed: int,
    days: int,
    slots: int,
    *,
    rates: Mapping[ArtefactKind, float] = RATES_PER_WEEK,
    until_day: int | None = None,
) -> tuple[Artefact, ...]:
    """The artefacts of one patient over ``days`` (``slots`` routine measurements a day),
    seeded; none on or after ``until_day`` when given. At most one per measurement."""
    rng = np.random.default_rng([seed, 1729])
    last = days if until_day is None else min(days, until_day)
    out: dict[tuple[int, int, ArtefactKind], Artefact] = {}
    for kind in ArtefactKind:
        for _ in range(int(rng.poisson(rates.get(kind, 0.0) * days / 7))):
            day, slot = int(rng.integers(0, days)), int(rng.integers(0, slots))
            p, lo, hi = REMEASURE[kind]
            size, sign = float(rng.random()), float(rng.choice((-1.0, 1.0)))
            again = float(rng.uniform(lo, hi)) if rng.random() < p else None
            if day < last:
                out[(day, slot, kind)] = Artefact(kind, day, slot, size, sign, again)
    return tuple(sorted(out.values(), key=lambda a: (a.day, a.slot, a.kind.value)))
