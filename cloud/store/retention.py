"""Forgetting on purpose: each organisation's retention, and erasing a patient on request.

Both remove data from every store that holds it: the SQL record (readings, rollups,
quarantined readings, alerts with their deliveries and history, message threads, tasks,
edge events and rollups, shadow findings; for an erasure also contacts, preferences, rule
overrides, time logs, pairings, care team, dead letters that name the patient, the
patient's own login and the patient) and the time-series store.

**The audit log is kept, unchanged.** ``audit_events`` is the legal record of who read
whose data (HIPAA §164.316 keeps such documentation six years; GDPR Art. 17(3)(b) and (e)
exempt records kept for a legal obligation or legal claims). Its rows hold ids, paths and
counts, never readings or names, so an erased patient's id remains there as a bare
pseudonymous key with nothing left to resolve it to. An erasure appends one more row
(action ``erase``) saying who erased whom and how much. Retention does not purge the log.

Time series: InfluxDB deletes a time range by predicate. VictoriaMetrics deletes whole
series only, so for retention the series holding older points are deleted and rebuilt from
the record's newer readings (which are the truth the sink copied them from). An erasure
leaves a ``pending_series_deletions`` row until the store confirms, so an erasure during a
time-series outage is finished by the sink or the next purge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.errors import NotFoundError
from cloud.store.edge_records import EdgeEvent, EdgeRollup
from cloud.store.influx import SeriesPoint, TimeSeriesStore
from cloud.store.latest import forget_before, forget_patient
from cloud.store.lifecycle import (
    AlertEvent,
    Contact,
    Message,
    PatientPreferences,
    Task,
    TaskStatus,
)
from cloud.store.marks import PendingSeriesDeletion
from cloud.store.models import (
    Alert,
    AlertStatus,
    DeadLetter,
    Delivery,
    QuarantinedReading,
    Reading,
)
from cloud.store.pending import PendingFinding
from cloud.store.rollups import Period, Rollup, bucket_start
from cloud.store.rules import PatientRuleSet, ShadowFinding
from cloud.store.sink import points_select
from cloud.store.tenancy import (
    AuditEvent,
    CareTeamMember,
    Organisation,
    Pairing,
    Patient,
    PatientTag,
    RefreshToken,
    User,
)
from cloud.store.timelog import TimeEntry

Counts = dict[str, int]


def _delete(session: Session, stmt: Any) -> int:
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def _alerts_and_deliveries(session: Session, where: ColumnElement[bool]) -> Counts:
    """Alerts, their deliveries and history; tasks and messages that named them keep no link."""
    ids = select(Alert.id).where(where).scalar_subquery()
    for table in (Task, Message):
        session.execute(update(table).where(table.alert_id.in_(ids)).values(alert_id=None))
    return {
        "deliveries": _delete(session, delete(Delivery).where(Delivery.alert_id.in_(ids))),
        "alert_events": _delete(session, delete(AlertEvent).where(AlertEvent.alert_id.in_(ids))),
        "alerts": _delete(session, delete(Alert).where(where)),
    }


def _messages(session: Session, where: ColumnElement[bool]) -> Counts:
    """Messages (bodies included), the deliveries that carried them and tasks made of them."""
    ids = select(Message.id).where(where).scalar_subquery()
    session.execute(update(Task).where(Task.message_id.in_(ids)).values(message_id=None))
    return {
        "message_deliveries": _delete(
            session, delete(Delivery).where(Delivery.message_id.in_(ids))
        ),
        "messages": _delete(session, delete(Message).where(where)),
    }


# ---------------------------------------------------------------------- retention
def cutoff_for(retention_days: int, *, now: datetime) -> datetime:
    """Start of the oldest UTC day kept: whole days, so no hourly or daily rollup straddles it."""
    return bucket_start(now - timedelta(days=retention_days), Period.DAY)


def purge_organisation(session: Session, *, organisation_id: str, cutoff: datetime) -> Counts:
    """Delete the organisation's data older than ``cutoff`` from the SQL record.

    Open and acknowledged alerts stay whatever their age (they are still being worked).
    """
    patients = select(Patient.id).where(Patient.organisation_id == organisation_id)
    counts = _alerts_and_deliveries(
        session,
        (Alert.patient_id.in_(patients))
        & (Alert.status == AlertStatus.RESOLVED)
        & (Alert.resolved_at < cutoff),
    )
    counts["readings"] = _delete(
        session, delete(Reading).where(Reading.patient_id.in_(patients), Reading.ts < cutoff)
    )
    counts["rollups"] = _delete(
        session, delete(Rollup).where(Rollup.patient_id.in_(patients), Rollup.start < cutoff)
    )
    counts |= forget_before(session, patients, cutoff)
    counts["quarantined_readings"] = _delete(
        session,
        delete(QuarantinedReading).where(
            QuarantinedReading.organisation_id == organisation_id,
            QuarantinedReading.received_at < cutoff,
        ),
    )
    counts |= _messages(
        session, (Message.organisation_id == organisation_id) & (Message.at < cutoff)
    )
    counts["tasks"] = _delete(
        session,
        delete(Task).where(
            Task.organisation_id == organisation_id,
            Task.status == TaskStatus.DONE,
            Task.done_at < cutoff,
        ),
    )
    counts["edge_events"] = _delete(
        session, delete(EdgeEvent).where(EdgeEvent.patient_id.in_(patients), EdgeEvent.ts < cutoff)
    )
    counts["edge_rollups"] = _delete(
        session,
        delete(EdgeRollup).where(EdgeRollup.patient_id.in_(patients), EdgeRollup.start < cutoff),
    )
    counts["shadow_findings"] = _delete(
        session,
        delete(ShadowFinding).where(
            ShadowFinding.patient_id.in_(patients), ShadowFinding.ts < cutoff
        ),
    )
    counts["pending_findings"] = _delete(
        session,
        delete(PendingFinding).where(
            PendingFinding.patient_id.in_(patients), PendingFinding.ts < cutoff
        ),
    )
    return counts


def purge_timeseries(
    sessions: sessionmaker[Session],
    store: TimeSeriesStore,
    *,
    organisation_id: str,
    cutoff: datetime,
) -> int:
    """Remove the organisation's points older than ``cutoff``; return the series rebuilt.

    VictoriaMetrics may list more series than hold old points (its series search over a
    long range can ignore time); rebuilding one of those from the record changes nothing.
    """
    if store.settings.flavour != "victoriametrics":
        store.delete({"organisation": organisation_id}, before=cutoff)
        return 1
    series = store.series_with_points_before({"organisation": organisation_id}, cutoff)
    for labels in series:
        store.delete(labels)
        # Rebuilt after the delete: anything the sink wrote before it is in the record by
        # now (it writes only committed readings), and anything it writes later stays.
        for chunk in _record_points(sessions, labels, since=cutoff, size=store.settings.batch_size):
            store.write(chunk)
    return len(series)


def _record_points(
    sessions: sessionmaker[Session], labels: dict[str, str], *, since: datetime, size: int
) -> Iterator[list[SeriesPoint]]:
    stmt = points_select().where(
        Reading.patient_id == labels.get("patient", ""),
        Reading.device_id == labels.get("device", ""),
        Reading.metric == labels.get("metric", ""),
        Reading.ts >= since,
    )
    with sessions() as session:
        rows = session.execute(
            stmt.order_by(Reading.ts, Reading.id).execution_options(yield_per=size)
        )
        for part in rows.partitions(size):
            yield [SeriesPoint(*row[2:8]) for row in part]


def organisations_with_retention(session: Session) -> list[tuple[str, int]]:
    rows = session.execute(
        select(Organisation.id, Organisation.retention_days)
        .where(Organisation.retention_days.is_not(None))
        .order_by(Organisation.id)
    ).all()
    return [(str(org), int(days)) for org, days in rows if days is not None]


# ---------------------------------------------------------------------- erasure
def _dead_letters_naming(session: Session, patient_id: str) -> int:
    """Delete refused messages whose raw payload names the patient (as a JSON string).

    Dead letters have no patient column (they failed validation), so their bytes are
    searched; a scan in Python is dialect-neutral and exact (no LIKE wildcards in ids).
    """
    needle = json.dumps(patient_id).encode()
    rows = session.execute(
        select(DeadLetter.id, DeadLetter.payload).execution_options(yield_per=1000)
    )
    ids = [row_id for row_id, payload in rows if needle in payload]
    for start in range(0, len(ids), 1000):
        session.execute(delete(DeadLetter).where(DeadLetter.id.in_(ids[start : start + 1000])))
    return len(ids)


def erase_patient(
    session: Session,
    *,
    organisation_id: str,
    patient_id: str,
    actor_user_id: int | None,
    actor_role: str,
    client: str | None,
    now: datetime,
) -> Counts:
    """Remove a patient and all their data from the SQL record; owe the time-series delete.

    Refuses a patient of another organisation as "not found". Appends the erasure to the
    audit log (see the module's docstring for why earlier audit rows stay).
    """
    patient = session.get(Patient, patient_id)
    if patient is None or patient.organisation_id != organisation_id:
        raise NotFoundError(f"no patient {patient_id!r}", patient_id=patient_id)
    counts = _alerts_and_deliveries(session, Alert.patient_id == patient_id)
    counts["readings"] = _delete(session, delete(Reading).where(Reading.patient_id == patient_id))
    counts["rollups"] = _delete(session, delete(Rollup).where(Rollup.patient_id == patient_id))
    counts |= forget_patient(session, patient_id)
    counts["quarantined_readings"] = _delete(
        session,
        delete(QuarantinedReading).where(
            QuarantinedReading.patient_id == patient_id,
            QuarantinedReading.organisation_id == organisation_id,
        ),
    )
    counts |= _messages(session, Message.patient_id == patient_id)
    for name, table in (
        ("tasks", Task),
        ("contacts", Contact),
        ("preferences", PatientPreferences),
        ("edge_events", EdgeEvent),
        ("edge_rollups", EdgeRollup),
        ("shadow_findings", ShadowFinding),
        ("pending_findings", PendingFinding),
        ("rule_sets", PatientRuleSet),
        ("time_entries", TimeEntry),
    ):
        counts[name] = _delete(session, delete(table).where(table.patient_id == patient_id))
    counts["pairings"] = _delete(session, delete(Pairing).where(Pairing.patient_id == patient_id))
    counts["dead_letters"] = _dead_letters_naming(session, patient_id)
    counts["care_team_members"] = _delete(
        session, delete(CareTeamMember).where(CareTeamMember.patient_id == patient_id)
    )
    counts["patient_tags"] = _delete(
        session, delete(PatientTag).where(PatientTag.patient_id == patient_id)
    )
    accounts = select(User.id).where(User.patient_id == patient_id).scalar_subquery()
    _delete(session, delete(RefreshToken).where(RefreshToken.user_id.in_(accounts)))
    counts["users"] = _delete(session, delete(User).where(User.patient_id == patient_id))
    counts["patients"] = _delete(session, delete(Patient).where(Patient.id == patient_id))
    session.merge(PendingSeriesDeletion(patient_id=patient_id, requested_at=now))
    session.add(
        AuditEvent(
            at=now,
            user_id=actor_user_id,
            organisation_id=organisation_id,
            role=actor_role,
            action="erase",
            resource=f"patient {patient_id}"[:200],
            patient_id=patient_id,
            query=json.dumps(counts, sort_keys=True),
            client=client,
            outcome=sum(counts.values()),
        )
    )
    return {table: n for table, n in counts.items() if n}
