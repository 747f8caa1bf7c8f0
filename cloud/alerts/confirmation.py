"""Confirm before alarming, live: hold a non-urgent fire, then alert, cancel or note it.

At ingest (``service.evaluate``) a fire that ``gateway.signal.confirm`` says must wait is
held in ``pending_findings`` instead of opening an alert (the patient is prompted to
re-measure). Each later batch of the same (patient, metric) settles the held findings with
the same pure ``confirm.decide`` that ``vitalgate-cloud replay`` uses: a confirming
re-measurement opens one alert with both readings as evidence, a normal one cancels the
finding (kept, never notified) and its reading is left out of later evaluations, baselines
included. A scheduler tick (``expire``) alerts the findings whose window has passed
unconfirmed; whether it has is a pure function of now (``confirm.expired``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.rulebook import RuleBook
from cloud.store.pending import PendingFinding
from gateway import wire
from gateway.signal import confirm
from gateway.signal.clean import clean
from gateway.signal.findings import Evidence, Finding, FindingKind
from gateway.signal.rules import Rule
from gateway.signal.series import Series, from_epoch, to_epoch

if TYPE_CHECKING:
    from cloud.alerts.service import AlertChange


class AlertPath(Protocol):
    """What confirmation needs of ``cloud.alerts.service`` (which calls into this module):
    its series loader and its one way to open or merge an alert."""

    def load(self, session: Session, patient_id: str, metric: str, *, since: float) -> Series: ...

    def apply(
        self, session: Session, finding: Finding, *, now: datetime, channels: Sequence[str]
    ) -> AlertChange | None: ...


from cloud.alerts.held import (  # noqa: E402 - re-exported: the held findings' queries
    CANCELLED,
    PENDING,
    cancelled_by_series,
    cancelled_times,
    pending_series,
    without_cancelled,
)

__all__ = [
    "CANCELLED",
    "PENDING",
    "cancelled_by_series",
    "cancelled_times",
    "pending_series",
    "without_cancelled",
]
LOOKBACK_S: Final = 15 * 86400.0
"""History loaded to re-judge a held finding (a baseline rule's 14 days and a margin)."""


def rule_of(rulebook: RuleBook, patient_id: str, rule_id: str) -> Rule | None:
    return next((r for r in rulebook.for_patient(patient_id) if r.rule_id == rule_id), None)


def hold_if_waiting(
    session: Session, rulebook: RuleBook, finding: Finding, *, now: datetime
) -> bool:
    """Hold ``finding`` if its rule confirms before alarming; True when held."""
    rule = rule_of(rulebook, finding.patient_id, finding.rule)
    if rule is None or not confirm.needs_confirmation(rule, finding):
        return False
    hold(session, rule, finding, now=now)
    return True


def _finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "patient_id": f.patient_id, "rule": f.rule, "rule_version": f.rule_version,
        "kind": f.kind.value, "category": f.category.value, "priority": f.priority.value,
        "ts": f.ts, "metric": f.metric.value, "value": f.value,
        "samples": [list(s) for s in f.evidence.samples],
        "features": [list(x) for x in f.evidence.features],
    }  # fmt: skip


def _finding_of(d: dict[str, Any]) -> Finding:
    return Finding(
        patient_id=d["patient_id"],
        rule=d["rule"],
        rule_version=int(d["rule_version"]),
        kind=FindingKind(d["kind"]),
        category=wire.Category(d["category"]),
        priority=wire.Priority(d["priority"]),
        ts=float(d["ts"]),
        metric=wire.Metric(d["metric"]),
        value=float(d["value"]),
        evidence=Evidence(
            samples=tuple((float(t), float(v)) for t, v in d["samples"]),
            features=tuple((str(k), v) for k, v in d["features"]),
            rule_version=int(d["rule_version"]),
        ),
    )


def hold(session: Session, rule: Rule, finding: Finding, *, now: datetime) -> None:
    """Keep a fire as pending (once per finding id); nothing is notified."""
    if session.scalar(select(PendingFinding.id).where(PendingFinding.finding_id == finding.id)):
        return
    session.add(
        PendingFinding(
            finding_id=finding.id,
            patient_id=finding.patient_id,
            rule_id=finding.rule,
            rule_version=finding.rule_version,
            metric=finding.metric.value,
            priority=finding.priority.value,
            value=finding.value,
            ts=from_epoch(finding.ts),
            deadline=from_epoch(confirm.deadline(rule, finding)),
            status=PENDING,
            held_at=now,
            decided_at=None,
            alert_id=None,
            finding=_finding_dict(finding),
        )
    )
    session.flush()


def settle(
    session: Session,
    *,
    patient_id: str,
    metric: str,
    rulebook: RuleBook,
    now: datetime,
    channels: Sequence[str],
    path: AlertPath,
    series: Series | None = None,
) -> list[AlertChange]:
    """Decide the held findings of one (patient, metric) on the series known at ``now``.

    ``series``: the cleaned series (loaded and cleaned here when not given).
    """
    held = session.scalars(
        select(PendingFinding)
        .where(
            PendingFinding.patient_id == patient_id,
            PendingFinding.metric == metric,
            PendingFinding.status == PENDING,
        )
        .order_by(PendingFinding.ts)
    ).all()
    if not held:
        return []
    now_s = to_epoch(now)
    if series is None:
        first = min(to_epoch(row.ts) for row in held)
        raw = path.load(session, patient_id, metric, since=first - LOOKBACK_S)
        series = without_cancelled(
            session, patient_id, metric, clean(raw, wire.Metric(metric), now=now_s).series
        )
    changes: list[AlertChange] = []
    for row in held:
        rule = rule_of(rulebook, patient_id, row.rule_id)
        finding = _finding_of(row.finding)
        if rule is None:  # the rule was removed meanwhile: nothing left to confirm against
            decision = confirm.Decision(confirm.Outcome.CANCELLED, finding, now_s)
        else:
            decision = confirm.decide(rule, finding, series, now=now_s)
        if decision.outcome is confirm.Outcome.PENDING:
            continue
        row.status = decision.outcome.value
        row.decided_at = now
        if decision.alert is not None:
            change = path.apply(session, decision.alert, now=now, channels=channels)
            if change is not None:
                row.alert_id = change.alert_id
                changes.append(change)
        else:
            series = confirm.exclude(series, [finding.ts])
    return changes


def expire(
    session: Session,
    *,
    now: datetime,
    rulebook: RuleBook,
    channels: Sequence[str],
    path: AlertPath,
) -> list[AlertChange]:
    """The scheduler's tick: settle every (patient, metric) with a window over at ``now``."""
    due = session.execute(
        select(PendingFinding.patient_id, PendingFinding.metric)
        .where(PendingFinding.status == PENDING, PendingFinding.deadline <= now)
        .distinct()
    ).all()
    rulebook.refresh(session, {patient_id for patient_id, _ in due})
    changes: list[AlertChange] = []
    for patient_id, metric in sorted(due):
        changes += settle(
            session,
            patient_id=patient_id,
            metric=metric,
            rulebook=rulebook,
            now=now,
            channels=channels,
            path=path,
        )
    return changes
