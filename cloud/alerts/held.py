"""The findings held for confirmation, as the evaluation reads them: which series have one
still pending, and which readings a normal re-measurement cancelled (left out of every later
evaluation). Queries only; ``cloud.alerts.confirmation`` holds and settles them."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.store.pending import PendingFinding
from gateway.signal import confirm
from gateway.signal.series import Series

PENDING: Final = confirm.Outcome.PENDING.value
CANCELLED: Final = confirm.Outcome.CANCELLED.value


def cancelled_by_series(
    session: Session, patient_ids: set[str]
) -> dict[tuple[str, str], list[float]]:
    """``cancelled_times`` of every (patient, metric) of these patients, in one query."""
    out: dict[tuple[str, str], list[float]] = {}
    if not patient_ids:
        return out
    rows = session.execute(
        select(PendingFinding.patient_id, PendingFinding.metric, PendingFinding.finding).where(
            PendingFinding.patient_id.in_(sorted(patient_ids)),
            PendingFinding.status == CANCELLED,
        )
    ).all()
    for patient_id, metric, finding in rows:
        out.setdefault((patient_id, metric), []).append(float(finding["ts"]))
    return {k: sorted(v) for k, v in out.items()}


def pending_series(session: Session, patient_ids: set[str]) -> set[tuple[str, str]]:
    """The (patient, metric) pairs of these patients with a finding still held."""
    if not patient_ids:
        return set()
    rows = session.execute(
        select(PendingFinding.patient_id, PendingFinding.metric)
        .where(
            PendingFinding.patient_id.in_(sorted(patient_ids)),
            PendingFinding.status == PENDING,
        )
        .distinct()
    ).all()
    return {(p, m) for p, m in rows}


def cancelled_times(session: Session, patient_id: str, metric: str) -> list[float]:
    """Times (epoch s) of readings whose findings a normal re-measurement cancelled."""
    rows = session.scalars(
        select(PendingFinding.finding).where(
            PendingFinding.patient_id == patient_id,
            PendingFinding.metric == metric,
            PendingFinding.status == CANCELLED,
        )
    ).all()
    return sorted(float(f["ts"]) for f in rows)


def without_cancelled(session: Session, patient_id: str, metric: str, series: Series) -> Series:
    """The series with cancelled readings unusable, as ``confirm.settle_series`` leaves them."""
    return confirm.exclude(series, cancelled_times(session, patient_id, metric))
