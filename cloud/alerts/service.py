"""Open, merge and clear alerts from newly stored readings, inside the ingest transaction.

Each patient's rules (``RuleBook``) are evaluated with ``gateway.signal`` — the same
cleaning and the same ``evaluate`` as the gateway and ``vitalgate-cloud replay`` — over the
stored series, reporting only findings at or after the earliest new reading. A fire opens
an alert or merges into the open one (count, last and worst value); an all-clear resolves
it. Deliveries are queued in the same transaction, so an alert committed is an alert that
will be sent. A rule in shadow mode only records its findings (``shadow_findings``); a
non-urgent fire of a rule with a confirmation window is held until a re-measurement
(``confirmation``). Missing-data rules need a clock, not a reading: they run on a schedule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
from sqlalchemy import String, Text, cast, select, text, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from cloud import metrics
from cloud.alerts import confirmation, held, history
from cloud.alerts.rulebook import RuleBook
from cloud.store.models import (
    Alert,
    AlertStatus,
    Delivery,
    DeliveryStatus,
    Reading,
    ShadowFinding,
)
from gateway import wire
from gateway.signal import confirm
from gateway.signal import rules as signal_rules
from gateway.signal.baseline import BaselineRule, CusumRule
from gateway.signal.cgm import SignalLossRule
from gateway.signal.clean import clean, device_usable
from gateway.signal.findings import Finding, FindingKind
from gateway.signal.missing import MissedMeasurementRule, StaleRule
from gateway.signal.rules import Rule
from gateway.signal.series import Series, SignalError, from_epoch, to_epoch

OPEN_STATES: Final = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
MIN_LOOKBACK_S: Final = 3600.0
BASELINE_LOOKBACK_S: Final = 15 * 86400.0
MAX_HISTORY_ROWS: Final = 20_000
"""Most recent readings loaded per (patient, metric); enough for spot devices' 14-day
baselines, about 5 h of a 1 Hz stream (whose long baselines belong to rollups)."""
SCHEDULED_KINDS: Final = (StaleRule, MissedMeasurementRule, SignalLossRule)
PRIORITY_RANK: Final = {wire.Priority.LOW: 0, wire.Priority.MEDIUM: 1, wire.Priority.HIGH: 2}

DEFAULT_RULEBOOK: Final = RuleBook()


@dataclass(frozen=True, slots=True)
class AlertChange:
    alert_id: int
    change: str  # "opened" | "merged" | "resolved"


def lookback_s(rule: Rule) -> float:
    """How much history before the new readings a rule needs to judge them."""
    window = float(getattr(rule, "window_s", 0.0) or 0.0)
    persistence = getattr(rule, "persistence", None)
    held = float(persistence.seconds) if persistence is not None else 0.0
    if isinstance(rule, BaselineRule | CusumRule):
        return BASELINE_LOOKBACK_S
    return max(MIN_LOOKBACK_S, window + MIN_LOOKBACK_S, 2 * held)


def load_series(session: Session, patient_id: str, metric: str, *, since: float) -> Series:
    # Raw column values (time stamps as the driver gives them, quality as JSON text): the
    # ORM's per-value result processing was most of the ingest's alert time. Quality is
    # parsed only where it carries flags.
    rows = session.execute(
        select(
            type_coerce(Reading.ts, _RawValue()),
            Reading.value,
            Reading.usable,
            cast(Reading.quality, Text),
        )
        .where(
            Reading.patient_id == patient_id,
            Reading.metric == metric,
            Reading.ts >= datetime.fromtimestamp(since, tz=UTC),
        )
        .order_by(Reading.ts.desc())
        .limit(MAX_HISTORY_ROWS)
    ).all()
    t = np.fromiter((_epoch(r[0]) for r in rows), dtype=np.float64, count=len(rows))
    v = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    usable = np.fromiter(
        (_usable(r[2], r[3]) for r in rows),
        dtype=np.bool_,
        count=len(rows),
    )
    return Series.of(t, v, usable)


# Every (patient, metric) a batch touched in one statement: each series' most recent rows
# (the same query as ``load_series``, through a lateral join) folded into packed binary
# columns: times (epoch seconds) and values as big-endian float8, usable as one byte a row,
# which numpy reads as they are, with no Python object per row (a steady stream's history
# is many rows a new reading: as arrays of floats, parsed into Python lists, it was the
# largest part of the ingest's CPU time). ``date_part`` gives the epoch as float8 directly
# (the same double as ``extract``'s numeric cast to float8, both correctly rounded).
# Aggregating the ordered subquery (no GROUP BY, no ORDER BY in the aggregate) keeps its
# row order. Quality text comes only where ``_usable`` would parse it.
_PG_LOAD_MANY: Final = text(
    "SELECT s.t, s.v, s.u, s.q FROM unnest(CAST(:patients AS varchar[]), "
    "CAST(:metrics AS varchar[]), CAST(:sinces AS timestamptz[])) WITH ORDINALITY "
    "AS k(patient_id, metric, since, ord) CROSS JOIN LATERAL ("
    "SELECT string_agg(float8send(date_part('epoch', x.ts)), ''::bytea) AS t, "
    "string_agg(float8send(x.value), ''::bytea) AS v, "
    "string_agg(boolsend(x.usable), ''::bytea) AS u, "
    "array_agg(CASE WHEN x.usable AND x.quality LIKE '%\"flags\"%' "
    "AND x.quality NOT LIKE '%\"flags\": []%' THEN x.quality END) AS q "
    "FROM (SELECT r.ts, r.value, r.usable, CAST(r.quality AS text) AS quality "
    "FROM readings AS r WHERE r.patient_id = k.patient_id AND r.metric = k.metric "
    "AND r.ts >= k.since ORDER BY r.ts DESC LIMIT :limit) AS x) AS s ORDER BY k.ord"
)
_FLOAT8: Final = np.dtype(">f8")


def load_many(session: Session, wanted: Sequence[tuple[str, str, float]]) -> list[Series]:
    """``load_series`` of each (patient, metric, since), in one round trip on PostgreSQL."""
    if session.get_bind().dialect.name != "postgresql" or not wanted:
        return [load_series(session, p, m, since=since) for p, m, since in wanted]
    rows = session.execute(
        _PG_LOAD_MANY,
        {
            "patients": [p for p, _, _ in wanted],
            "metrics": [m for _, m, _ in wanted],
            "sinces": [datetime.fromtimestamp(since, tz=UTC) for _, _, since in wanted],
            "limit": MAX_HISTORY_ROWS,
        },
    ).all()
    out: list[Series] = []
    for t, v, u, q in rows:
        usable = np.frombuffer(u or b"", dtype=np.bool_).copy()
        if q and q.count(None) < len(q):  # some quality to parse (a C-speed check)
            for i, quality in enumerate(q):
                if quality is not None:
                    usable[i] = _usable(True, quality)
        out.append(
            Series.of(
                np.frombuffer(t or b"", dtype=_FLOAT8).astype(np.float64),
                np.frombuffer(v or b"", dtype=_FLOAT8).astype(np.float64),
                usable,
            )
        )
    return out


class _RawValue(TypeDecorator[Any]):
    """A column read as the driver returns it (no result processing)."""

    impl = String
    cache_ok = True


def _epoch(ts: datetime | str) -> float:
    """Epoch seconds of a stored time stamp: an aware datetime (PostgreSQL) or SQLite's
    naive-UTC text; the same float as ``to_epoch`` of the datetime the ORM would give."""
    if isinstance(ts, str):
        return datetime.fromisoformat(ts).replace(tzinfo=UTC).timestamp()
    return to_epoch(ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC))


def _usable(usable: bool, quality: str | None) -> bool:
    if not usable:
        return False
    if not quality or '"flags"' not in quality or '"flags": []' in quality:
        return True  # as stored by json.dumps: no flags, nothing to parse
    return device_usable(tuple(json.loads(quality).get("flags", ())), usable)


@dataclass(frozen=True, slots=True)
class Judged:
    """One (patient, metric) after new readings: its findings and the new usable samples."""

    patient_id: str
    metric: str
    findings: list[Finding]
    new_t: np.ndarray
    """UTC epoch seconds and values of the new usable samples (cleaned), in time order."""
    new_v: np.ndarray


def judge(
    session: Session,
    touched: Mapping[tuple[str, str], datetime],
    *,
    now: datetime,
    rulebook: RuleBook = DEFAULT_RULEBOOK,
) -> list[Judged]:
    """Each patient's rules at or after the earliest new reading of each touched metric."""
    now_s = to_epoch(now)
    rulebook.refresh(session, {patient_id for patient_id, _ in touched})
    todo: list[tuple[str, str, list[Rule], float]] = []
    for (patient_id, metric), earliest in sorted(touched.items()):
        rules: list[Rule] = [
            r
            for r in rulebook.for_patient(patient_id)
            if r.metric.value == metric and not isinstance(r, SCHEDULED_KINDS)
        ]
        if rules:
            todo.append((patient_id, metric, rules, to_epoch(earliest)))
    loaded = load_many(
        session,
        [(p, m, first_new - max(lookback_s(r) for r in rules)) for p, m, rules, first_new in todo],
    )
    out: list[Judged] = []
    cancelled = held.cancelled_by_series(session, {p for p, _, _, _ in todo})
    for (patient_id, metric, rules, first_new), series in zip(todo, loaded, strict=True):
        cleaned = clean(series, wire.Metric(metric), now=now_s).series
        cleaned = confirm.exclude(cleaned, cancelled.get((patient_id, metric), ()))
        findings = [
            f
            for rule in rules
            for f in signal_rules.evaluate(
                rule, cleaned, now=now_s, since=first_new - 1e-6
            ).findings
        ]
        fresh = (cleaned.t >= first_new) & cleaned.usable
        ordered = sorted(findings, key=lambda f: f.ts)
        out.append(Judged(patient_id, metric, ordered, cleaned.t[fresh], cleaned.v[fresh]))
    return out


def evaluate(
    session: Session,
    touched: Mapping[tuple[str, str], datetime],
    *,
    now: datetime,
    channels: Sequence[str],
    rulebook: RuleBook = DEFAULT_RULEBOOK,
) -> list[AlertChange]:
    """Apply each patient's rules to new readings and carry the findings into alerts."""
    changes: list[AlertChange] = []
    one_judge_per_patient(session, {patient_id for patient_id, _ in touched})
    judgements = judge(session, touched, now=now, rulebook=rulebook)
    # The open alerts of every judged (patient, metric) in one query. Only a finding of the
    # same (patient, metric) changes them, so those with findings are asked again after.
    already_open = _open_alerts_by_series(session, {j.patient_id for j in judgements})
    held_before = held.pending_series(session, {j.patient_id for j in judgements})
    for judged in judgements:
        held_now = False
        for finding in judged.findings:
            if rulebook.is_shadow(finding.patient_id, finding.rule):
                record_shadow(session, finding, now=now)
                continue
            if confirmation.hold_if_waiting(session, rulebook, finding, now=now):
                held_now = True
                continue
            if finding.kind is FindingKind.ALL_CLEAR:
                ending = open_alert_of(session, finding.patient_id, finding.rule)
                if ending is not None:
                    _follow(ending, judged, until=finding.ts, now=now)
            change = apply_finding(session, finding, now=now, channels=channels)
            if change is not None:
                changes.append(change)
        settled: list[AlertChange] = []
        if held_now or (judged.patient_id, judged.metric) in held_before:
            settled = confirmation.settle(
                session, patient_id=judged.patient_id, metric=judged.metric, rulebook=rulebook,
                now=now, channels=channels, path=ALERT_PATH,
            )  # fmt: skip
        changes += settled
        following = (
            _open_alerts_of(session, judged.patient_id, judged.metric)
            if judged.findings or settled
            else already_open.get((judged.patient_id, judged.metric), ())
        )
        for alert in following:
            _follow(alert, judged, until=None, now=now)
    return changes


def one_judge_per_patient(session: Session, patient_ids: set[str]) -> None:
    """Judge a patient's readings in one transaction at a time (PostgreSQL).

    The shared subscription deals one gateway's messages to several ingest workers, so two
    transactions can hold new readings of one patient at once. Judged side by side, each
    would miss the other's uncommitted readings (a persistence rule that neither sees
    fire) and both could open the same alert. A transaction-scoped advisory lock per
    patient, taken in key order (no deadlock between two batches of the same patients),
    makes the second wait for the first to commit; read committed then shows it everything.
    SQLite has one writer at a time already.
    """
    if not patient_ids or session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted(_patient_lock_key(p) for p in patient_ids)
    session.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS t(k)"),
        {"keys": keys},
    )


def _patient_lock_key(patient_id: str) -> int:
    digest = hashlib.blake2b(f"vitalgate.judge:{patient_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _open_alerts_by_series(
    session: Session, patient_ids: set[str]
) -> dict[tuple[str, str], list[Alert]]:
    out: dict[tuple[str, str], list[Alert]] = {}
    if not patient_ids:
        return out
    for alert in session.scalars(
        select(Alert)
        .where(Alert.patient_id.in_(sorted(patient_ids)), Alert.status.in_(OPEN_STATES))
        .order_by(Alert.id)
    ):
        out.setdefault((alert.patient_id, alert.metric), []).append(alert)
    return out


def _open_alerts_of(session: Session, patient_id: str, metric: str) -> Sequence[Alert]:
    return session.scalars(
        select(Alert).where(
            Alert.patient_id == patient_id,
            Alert.metric == metric,
            Alert.status.in_(OPEN_STATES),
        )
    ).all()


def _fired_at(alert: Alert) -> float:
    """When the alert's episode began: its finding's time, or its opening when the evidence
    has none (an alert a gateway's event or last will opened)."""
    raw = alert.evidence.get("ts")
    if isinstance(raw, str):
        try:
            return to_epoch(datetime.fromisoformat(raw))
        except (ValueError, SignalError):
            pass
    return to_epoch(alert.opened_at)


def _follow(alert: Alert, judged: Judged, *, until: float | None, now: datetime) -> None:
    """While an alert is open its worst (and last) value follow the new readings of its episode."""
    fired = _fired_at(alert)
    mask = judged.new_t >= fired
    if until is not None:
        mask &= judged.new_t < until
    values = judged.new_v[mask]
    if not len(values):
        return
    level = str(alert.evidence.get("evidence", {}).get("features", {}).get("level", "high"))
    low = level.endswith("low") or "fall" in level
    extreme = float(values.min() if low else values.max())
    alert.worst_value = min(alert.worst_value, extreme) if low else max(alert.worst_value, extreme)
    alert.last_value = float(values[-1])
    alert.updated_at = now


def open_alert_of(session: Session, patient_id: str, rule_id: str) -> Alert | None:
    return session.scalars(
        select(Alert).where(
            Alert.patient_id == patient_id,
            Alert.rule_id == rule_id,
            Alert.status.in_(OPEN_STATES),
        )
    ).first()


def apply_finding(
    session: Session, finding: Finding, *, now: datetime, channels: Sequence[str]
) -> AlertChange | None:
    """Open, merge or resolve the alert a finding concerns."""
    alert = open_alert_of(session, finding.patient_id, finding.rule)
    if finding.kind is FindingKind.ALL_CLEAR:
        if alert is None:
            return None
        return resolve_all_clear(
            session, alert, now=now, value=finding.value, evidence=finding.to_dict(),
            channel="ingest",
        )  # fmt: skip
    if alert is not None:
        if finding.id in alert.evidence.get("edge_event_ids", ()):
            # The gateway reported this very episode first (it was offline): one alert.
            alert.evidence = {**alert.evidence, "finding_id": finding.id, "cloud_fired": True}
            alert.updated_at = now
            return AlertChange(alert.id, "merged")
        alert.count += 1
        alert.last_value = finding.value
        alert.worst_value = _worse(finding, alert.worst_value, finding.value)
        alert.updated_at = now
        if PRIORITY_RANK[finding.priority] > PRIORITY_RANK[wire.Priority(alert.priority)]:
            alert.priority = finding.priority.value
        return AlertChange(alert.id, "merged")
    if _alert_of_episode(session, finding) is not None:
        # A reading of an episode already alerted and cleared came late (a gateway's resend
        # after an outage): the same episode judged again, not a new one to notify.
        return None
    alert = _open(session, finding, now=now, channels=channels)
    return AlertChange(alert.id, "opened")


def _alert_of_episode(session: Session, finding: Finding) -> Alert | None:
    """The resolved alert of ``finding``'s patient and rule whose episode (its first sample
    to its all-clear, or its resolution) holds the finding's time, if any."""
    for alert in session.scalars(
        select(Alert).where(
            Alert.patient_id == finding.patient_id,
            Alert.rule_id == finding.rule,
            Alert.status == AlertStatus.RESOLVED,
            Alert.resolved_at >= from_epoch(finding.ts),
        )
    ):
        samples = alert.evidence.get("evidence", {}).get("samples") or []
        start = min((_epoch(str(x["ts"])) for x in samples), default=_fired_at(alert))
        clear = alert.evidence.get("all_clear", {}).get("ts")
        assert alert.resolved_at is not None
        end = _epoch(clear) if isinstance(clear, str) else _epoch(alert.resolved_at)
        if start <= finding.ts <= end:
            return alert
    return None


def record_shadow(session: Session, finding: Finding, *, now: datetime) -> None:
    """Keep a shadow-mode finding (once per finding id); it opens and notifies nothing."""
    if session.scalar(select(ShadowFinding.id).where(ShadowFinding.finding_id == finding.id)):
        return
    session.add(
        ShadowFinding(
            finding_id=finding.id,
            patient_id=finding.patient_id,
            rule_id=finding.rule,
            rule_version=finding.rule_version,
            kind=finding.kind.value,
            category=finding.category.value,
            priority=finding.priority.value,
            metric=finding.metric.value,
            value=finding.value,
            ts=from_epoch(finding.ts),
            recorded_at=now,
            evidence=finding.to_dict(),
        )
    )


def _worse(finding: Finding, a: float, b: float) -> float:
    """The more abnormal value: the one further beyond the level the finding crossed."""
    level = finding.level
    return min(a, b) if level.endswith("low") or "fall" in level else max(a, b)


def _open(session: Session, finding: Finding, *, now: datetime, channels: Sequence[str]) -> Alert:
    values = [v for _, v in finding.evidence.samples] or [finding.value]
    worst = values[0]
    for v in values[1:]:
        worst = _worse(finding, worst, v)
    return open_alert(
        session,
        patient_id=finding.patient_id,
        rule_id=finding.rule,
        rule_version=finding.rule_version,
        category=finding.category.value,
        priority=finding.priority.value,
        metric=finding.metric.value,
        value=finding.value,
        worst_value=worst,
        evidence={**finding.to_dict(), "finding_id": finding.id},
        now=now,
        channels=channels,
        channel="ingest",
    )


def open_alert(
    session: Session,
    *,
    patient_id: str,
    rule_id: str,
    rule_version: int,
    category: str,
    priority: str,
    metric: str,
    value: float,
    evidence: dict[str, Any],
    now: datetime,
    channels: Sequence[str],
    channel: str,
    worst_value: float | None = None,
) -> Alert:
    """Open an alert (the only place one is built): store it, its ``opened`` history entry
    and its deliveries; start its escalation. ``worst_value`` defaults to ``value``."""
    alert = Alert(
        patient_id=patient_id,
        rule_id=rule_id,
        rule_version=rule_version,
        category=category,
        priority=priority,
        metric=metric,
        status=AlertStatus.OPEN,
        opened_at=now,
        updated_at=now,
        resolved_at=None,
        first_value=value,
        last_value=value,
        worst_value=value if worst_value is None else worst_value,
        count=1,
        evidence=evidence,
        escalation_step=0,
        escalation_started_at=now,
    )
    session.add(alert)
    session.flush()
    history.record(
        session,
        alert.id,
        "opened",
        at=now,
        actor=None,
        channel=channel,
        detail={"value": alert.first_value},
    )
    queue_deliveries(session, alert, channels=channels, now=now)
    metrics.count_alert_opened(session, priority)
    return alert


def resolve_all_clear(
    session: Session, alert: Alert, *, now: datetime, value: float | None,
    evidence: dict[str, Any], channel: str,
) -> AlertChange:  # fmt: skip
    """The condition has ended: resolve the alert and record the all-clear in its history."""
    if value is not None:
        alert.last_value = value
    alert.evidence = {**alert.evidence, "all_clear": evidence}
    history.resolve(
        session,
        alert,
        now=now,
        action="all_clear",
        actor=None,
        channel=channel,
        detail={"value": value},
    )
    return AlertChange(alert.id, "resolved")


def queue_deliveries(
    session: Session, alert: Alert, *, channels: Sequence[str], now: datetime
) -> None:
    """One pending delivery per channel for a newly opened alert (sent by the notifier)."""
    for index, label in enumerate(channels):
        session.add(
            Delivery(
                alert_id=alert.id,
                channel=label,
                target_index=index,
                status=DeliveryStatus.PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )


class _AlertPath:
    """This module's loader and opener, for ``cloud.alerts.confirmation`` (which this module
    calls, so it cannot import them)."""

    def load(self, session: Session, patient_id: str, metric: str, *, since: float) -> Series:
        return load_series(session, patient_id, metric, since=since)

    def apply(
        self, session: Session, finding: Finding, *, now: datetime, channels: Sequence[str]
    ) -> AlertChange | None:
        return apply_finding(session, finding, now=now, channels=channels)


ALERT_PATH: Final = _AlertPath()
